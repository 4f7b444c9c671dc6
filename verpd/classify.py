"""From a recipient's facts to a verdict: a reason name and whether it is hard.

This first version decides by the codes alone, in the order of authority RFC 3463
gives them: the enhanced status class, then the SMTP reply code, then the DSN
action. A hard failure is a permanent one (class 5, a 5xx reply, or Exim's
X-Failed-Recipients, which Exim writes for permanent failures only); temporary
failures are soft; successes are not failures at all.
"""

from __future__ import annotations

from verpd.model import RecipientFacts, Severity, Verdict

# The few reasons the status code alone settles (RFC 3463 §3.2-3.3), named as Sisimai does.
_STATUS_REASONS = {
    "5.1.1": "userunknown",
    "5.1.10": "userunknown",
    "5.1.2": "hostunknown",
    "5.1.6": "hasmoved",
    "4.2.2": "mailboxfull",
    "5.2.2": "mailboxfull",
    "5.3.4": "mesgtoobig",
    "4.4.7": "expired",
}
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})

DELIVERED = Verdict("delivered", Severity.NONE)


def classify(facts: RecipientFacts) -> Verdict:
    """The verdict for one recipient of a bounce."""
    severity = _severity(facts)
    if severity is Severity.NONE:
        return DELIVERED
    reason = _STATUS_REASONS.get(facts.status or "", "expired" if facts.action == "delayed" else "undefined")
    return Verdict(reason, severity)


def _severity(facts: RecipientFacts) -> Severity:
    if facts.status:
        return {"5": Severity.HARD, "4": Severity.SOFT}.get(facts.status[0], Severity.NONE)
    if facts.reply_code:
        return {5: Severity.HARD, 4: Severity.SOFT}.get(facts.reply_code // 100, Severity.NONE)
    if facts.action in _SUCCESS_ACTIONS:
        return Severity.NONE
    if facts.action == "failed":
        return Severity.HARD
    return Severity.SOFT

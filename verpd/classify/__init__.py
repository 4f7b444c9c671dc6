"""From a recipient's facts to a verdict: a reason name and whether it is hard.

Reasons are Sisimai's names (https://libsisimai.org/en/reason/); hard/soft has
Sisimai 5's meaning: only ``userunknown``, ``hostunknown`` and ``hasmoved`` are hard,
and ``notaccept`` with a 5xx code. A 5.7.x policy refusal, a full mailbox or a
spam block is soft: the address is alive. The steps, in order:

1. what the report is (feedback, auto-reply) and whether this recipient succeeded;
2. the status code, reconciled between the DSN field and the remote server's words
   (``status.reconcile``);
3. provider rules, when the receiving host is a known provider whose wording is
   its own (``providers``);
4. first-pass phrase rules, where a status code's standard meaning also counts
   unless a veto phrase contradicts it (``phrases.FIRST``);
5. the status code's standard meaning alone (``status.MEANING``);
6. second-pass phrase rules (``phrases.SECOND``), then what the SMTP command says
   (refused at connection or greeting → blocked; at MAIL FROM → rejected), then
   ``delayed`` → expired;
7. otherwise ``onhold`` if the server said anything, ``undefined`` if not.
"""

from __future__ import annotations

from verpd.classify import phrases, providers, status as status_codes
from verpd.model import RecipientFacts, ReportKind, Severity, Verdict
from verpd.parse.text import find_status

HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved"})
NOT_FAILURES = frozenset({"delivered", "feedback", "vacation"})
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_KIND_REASONS = {ReportKind.FEEDBACK: "feedback", ReportKind.AUTOREPLY: "vacation", ReportKind.CHALLENGE: "vacation"}


def classify(facts: RecipientFacts, kind: ReportKind = ReportKind.BOUNCE) -> Verdict:
    """The verdict for one recipient of a report of the given kind."""
    if kind in _KIND_REASONS:
        return Verdict(_KIND_REASONS[kind], Severity.NONE)
    text = (facts.diagnostic or "").lower()
    status = status_codes.reconcile(facts.status, find_status(text), facts.reply_code)
    reply_code = facts.reply_code
    if reply_code and status and str(reply_code)[0] != status[0]:
        reply_code = None  # a reply code whose class contradicts the status is a quote, not the answer
    if facts.action in _SUCCESS_ACTIONS or (status or "").startswith("2"):
        return Verdict("delivered", Severity.NONE, status, reply_code)
    reason = reason_for(text, status, facts)
    return Verdict(reason, severity(reason, status, reply_code), status, reply_code)


def reason_for(text: str, status: str | None, facts: RecipientFacts) -> str:
    """The reason a failure's diagnostic text, status code and context give."""
    if found := providers.reason(facts.remote_mta, facts.address, text, status, facts.reply_code):
        return found
    standard = status_codes.meaning(status)
    command = facts.command
    for rule in phrases.FIRST:
        if standard == rule.reason and not (rule.vetoes and rule.vetoes.search(text)):
            return rule.reason
        if text and rule.phrases.search(text) and (rule.commands is None or command is None or command in rule.commands):
            return rule.reason
    if standard:
        return standard
    for rule in phrases.SECOND:
        if text and rule.phrases.search(text):
            return rule.reason
    if command in ("CONN", "EHLO", "HELO"):
        return "blocked"
    if command == "MAIL":
        return "rejected"
    if facts.action == "delayed" or (status or "").startswith("4.4"):
        return "expired"
    return "onhold" if text.strip() else "undefined"


def severity(reason: str, status: str | None, reply_code: int | None) -> Severity:
    """Hard only where the address itself is dead (Sisimai 5's hardbounce)."""
    if reason in NOT_FAILURES:
        return Severity.NONE
    if reason in HARD_REASONS:
        return Severity.HARD
    if reason == "notaccept" and ((status or "").startswith("5") or str(reply_code or "").startswith("5")):
        return Severity.HARD
    return Severity.SOFT

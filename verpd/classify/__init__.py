"""From a recipient's facts to a verdict: a reason, hard or soft, and the evidence.

Reasons are Sisimai's names (:class:`~verpd.model.Reason`); hard means the address
itself is dead (``userunknown``, ``hostunknown``, ``hasmoved``, and ``notaccept`` with a
5xx), everything else is soft: a full mailbox, a block list or a policy refusal says
nothing against the address. A false "hard" unsubscribes a live person, so hard needs
strong evidence. The precedence, first match wins:

1. **Report kind**: a complaint is ``feedback``, an auto-reply or challenge ``vacation``.
2. **Success**: a delivered/relayed/expanded recipient or a 2.x.x status is ``delivered``.
3. **Local mailer**: a ``Diagnostic-Code: X-Unix`` is a delivery program's exit status:
   ``mailererror`` unless soft wording (a full mailbox, a full disk) says more.
4. **Provider rules** (``providers``): where the receiving provider (by remote or
   reporting host, or the recipient's domain) documents what its own reply means,
   that meaning has the last word over the generic rules below.
5. **Decisive status codes** (``codes.DECISIVE``: x.1.1, x.1.2, x.1.6, x.2.2, x.2.3, x.3.4,
   x.7.25, x.7.26, ...) decide on their own; only a code that would make the verdict
   hard yields to specific soft wording (a full mailbox, a blocked client, a rate limit
   under 5.1.1 is a misused code, not a dead address).
6. **Wording** (``tables``, one table per reason with each row's provenance), in
   ``WORDING_ORDER``; the SMTP command refines it: user-unknown words count only in
   reply to RCPT TO or in a mail store's own wording; after DATA, or at a stage the
   report does not name, they are the recipient's filter (soft); any refusal of MAIL
   FROM is about the sender unless the words name the host, a rate or authentication.
7. **A deferring code's confident meaning** (x.2.1 filtered, x.4.4 notaccept, x.5.x
   syntaxerror, x.6.x contenterror, ...): the default where no specific wording was
   known. Weak.
8. **Broad wordings** (``BROAD_ORDER``: virus, policy, system and network errors,
   expiry, security): the circumstance rather than the cause, so they speak only where
   the code says nothing (x.0.0, none) or something vague (x.7.1, x.4.7, x.3.0); then
   ``Action: delayed`` → ``expired`` (the MTA is still retrying); then the vague code's
   meaning. Weak.
9. **Stage**: a 50x reply → ``syntaxerror``, refused at connect/EHLO → ``blocked``, at
   MAIL FROM → ``rejected``. Weak.
10. ``onhold`` if the server said anything, ``undefined`` if not.

**Safe default**: hard needs strong evidence (rules 4-6 and 8's words) from a detector
that knows the format (never the fallback's guess), in a report whose MTA has given up
(never ``Action: delayed``). A verdict from a default, a generic code or unknown wording
is soft. A 4xx that the MTA gave up on can be hard: Postfix's reject_unverified_recipient
refuses an address its probe found undeliverable with 450 4.1.1 by default
(postconf(5), ``unverified_recipient_reject_code``).
"""

from __future__ import annotations

import re

from verpd.classify import codes, providers
from verpd.classify.phrase import Table
from verpd.classify.tables import TABLES
from verpd.model import Command, Evidence, Reason as R, RecipientFacts, ReportKind, Rule, Severity, Verdict

__all__ = ["classify", "severity", "WORDING_ORDER"]

HARD_REASONS = frozenset({R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED})
NOT_FAILURES = frozenset({R.DELIVERED, R.FEEDBACK, R.VACATION})
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
LOCAL_MAILER_TYPES = frozenset({"x-unix"})  # "Diagnostic-Code: X-Unix; 255": a local delivery program failed
CONNECTION_PHASE = frozenset({Command.CONN, Command.EHLO})
BEFORE_DATA = frozenset({Command.CONN, Command.EHLO, Command.MAIL, Command.RCPT})
_KIND_REASONS = {ReportKind.FEEDBACK: R.FEEDBACK, ReportKind.AUTOREPLY: R.VACATION, ReportKind.CHALLENGE: R.VACATION}

T = TABLES

# Rule 6: the order in which reasons' specific wordings are tried (Sisimai's Reason::get
# order). A text may hold the words of several; the earlier is the more specific
# diagnosis (a full mailbox before a generic refusal, an authentication failure before
# a block).
WORDING_ORDER: tuple[R, ...] = (
    R.MAILBOXFULL,
    R.MESGTOOBIG,
    R.EXCEEDLIMIT,
    R.SUSPEND,
    R.HASMOVED,
    R.NORELAYING,
    R.AUTHFAILURE,
    R.USERUNKNOWN,  # in context: see _user_unknown
    R.FILTERED,  # in context: never before DATA
    R.REQUIREPTR,
    R.NOTCOMPLIANTRFC,
    R.FAILEDSTARTTLS,
    R.BADREPUTATION,
    R.REJECTED,  # any refusal of MAIL FROM lands here unless its words name the host, a rate or authentication
    R.NOTACCEPT,
    R.HOSTUNKNOWN,
    R.SPAMDETECTED,
    R.SPEEDING,
    R.TOOMANYCONN,
    R.BLOCKED,  # any refusal at connect or EHLO lands here
)
# Rule 8: broad families that describe the circumstance rather than the cause (Sisimai's
# Reason::anotherone order). A deferring code's own meaning, when it has a confident one
# (x.2.1 filtered, x.4.4 notaccept, x.5.x syntaxerror, x.6.x contenterror), is as
# informative and comes first (rule 7); these words speak where the code says nothing
# or something vague.
BROAD_ORDER: tuple[R, ...] = (
    R.VIRUSDETECTED,
    R.POLICYVIOLATION,
    R.SYSTEMERROR,
    R.NETWORKERROR,
    R.CONTENTERROR,
    R.SYSTEMFULL,
    R.EXPIRED,
    R.SECURITYERROR,
    R.MAILERERROR,
    R.SYNTAXERROR,
)
# Deferring meanings too vague to stand before broad words (Sisimai's "retry" reasons).
VAGUE_DEFAULTS = frozenset({R.USERUNKNOWN, R.SYSTEMERROR, R.SECURITYERROR, R.NETWORKERROR, R.EXPIRED})

# Rule 5's exception: wordings that overrule a code which would make the verdict hard. Soft
# ones (a full mailbox, a size limit, a block under 5.1.1 is a misused code); and between the
# hard codes the words name the right one (Sendmail's redirect feature says "User has
# moved" under 5.1.1; OpenSMTPD writes 5.1.6 for a failed user lookup).
_VETO_HARD_CODE: dict[R, tuple[R, ...]] = {
    R.USERUNKNOWN: (R.MAILBOXFULL, R.MESGTOOBIG, R.EXCEEDLIMIT, R.SUSPEND, R.HASMOVED, R.NORELAYING, R.REJECTED, R.SPEEDING, R.TOOMANYCONN, R.BLOCKED),
    R.HASMOVED: (R.MAILBOXFULL, R.SUSPEND, R.USERUNKNOWN),
    R.HOSTUNKNOWN: (R.NETWORKERROR,),
}
# Rule 3: what a local delivery program's words can say beyond "it failed".
_LOCAL_MAILER_WORDS = (R.MAILBOXFULL, R.SYSTEMFULL, R.MESGTOOBIG)
# A refusal of MAIL FROM is about the sender, unless its words are about one of these.
_NOT_ABOUT_THE_SENDER = (R.BLOCKED, R.BADREPUTATION, R.REQUIREPTR, R.TOOMANYCONN, R.SPEEDING, R.SECURITYERROR, R.AUTHFAILURE)


def classify(facts: RecipientFacts, kind: ReportKind = ReportKind.BOUNCE, detector: str | None = None) -> Verdict:
    """The verdict for one recipient of a report of the given kind, read by ``detector``."""
    reason, evidence = _decide(facts, kind, detector)
    return Verdict(reason, severity(reason, facts, evidence), evidence)


def severity(reason: R, facts: RecipientFacts, evidence: Evidence) -> Severity:
    """Hard only where the address itself is dead, the sending MTA has given up, and the evidence is strong."""
    if reason in NOT_FAILURES:
        return Severity.NONE
    if not evidence.strong or facts.action == "delayed":
        return Severity.SOFT
    status, reply = facts.status or "", str(facts.reply_code or "")
    if reason in HARD_REASONS:
        return Severity.HARD
    if reason is R.NOTACCEPT and (status.startswith("5") or reply.startswith("5")):
        return Severity.HARD
    return Severity.SOFT


def _decide(facts: RecipientFacts, kind: ReportKind, detector: str | None) -> tuple[R, Evidence]:
    def because(rule: Rule, ref: str = "", source: str = "") -> Evidence:
        return Evidence(rule, detector, ref, source)

    if kind in _KIND_REASONS:
        return _KIND_REASONS[kind], because(Rule.REPORT, kind.value)
    status = facts.status
    if facts.action in SUCCESS_ACTIONS or (status or "").startswith("2"):
        return R.DELIVERED, because(Rule.SUCCESS, facts.action if facts.action in SUCCESS_ACTIONS else status or "")
    text = words_of(facts.diagnostic)

    # 3. a local delivery program's exit status
    if (facts.diagnostic_type or "").lower() in LOCAL_MAILER_TYPES:
        if found := _first(text, _LOCAL_MAILER_WORDS):
            return found[0], because(Rule.PHRASE, *found[1:])
        return R.MAILERERROR, because(Rule.MAILER, facts.diagnostic_type or "")

    # 4. the receiving provider's own meaning
    if rule := providers.match(facts.remote_mta, facts.reporting_mta, facts.address, text, status):
        return rule.reason, because(Rule.PROVIDER, rule.ref, rule.source)

    # 5. a code specific enough to decide alone
    if decided := codes.decisive(status):
        if (veto := _VETO_HARD_CODE.get(decided)) and (found := _first(text, veto, vague=False)):
            return found[0], because(Rule.PHRASE, *found[1:])
        return decided, because(Rule.STATUS, status or "", codes.describe(status or ""))

    # 6. specific words, in context
    if found := _wording(text, facts):
        return found[0], because(*found[1:])

    # 7. a deferring code's confident meaning; 8. broad words; then a vague meaning
    meant = codes.default(status)
    if meant and meant not in VAGUE_DEFAULTS:
        return meant, because(Rule.STATUS if codes.is_specific(status) else Rule.DEFAULT, status or "", codes.describe(status or ""))
    if found := _first(text, BROAD_ORDER):
        return found[0], because(Rule.PHRASE, *found[1:])
    if facts.action == "delayed":
        return R.EXPIRED, because(Rule.DEFAULT, "action: delayed")  # still retrying: the vague code says no more than that
    if meant:
        return meant, because(Rule.DEFAULT, status or "", codes.describe(status or ""))

    # 9. the stage, the action
    if str(facts.reply_code or "")[:2] == "50":
        return R.SYNTAXERROR, because(Rule.DEFAULT, str(facts.reply_code))
    if facts.command in CONNECTION_PHASE:
        return R.BLOCKED, because(Rule.STAGE, facts.command.value)
    if facts.command is Command.MAIL:
        return R.REJECTED, because(Rule.STAGE, facts.command.value)

    # 10. nothing known
    return (R.ONHOLD if text else R.UNDEFINED), because(Rule.DEFAULT, "no rule")


# A multi-line SMTP reply repeats its codes on every line (RFC 5321 §4.2.1: "550-5.7.1 ..."):
# where a report keeps them, they would split a wording in two.
_CONTINUATION = re.compile(r"(?<=\S) [245]\d\d[- ](?:[245]\.\d{1,3}\.\d{1,3} )?")


def words_of(diagnostic: str | None) -> str:
    """A diagnostic as the tables read it: lower-cased, blanks collapsed, continuation codes dropped."""
    text = " ".join((diagnostic or "").lower().split())
    if "-" in text:
        text = _CONTINUATION.sub(" ", text)
    return text


def _first(text: str, reasons: tuple[R, ...], *, vague: bool = True) -> tuple[R, str, str] | None:
    """The first of ``reasons`` whose table has a row in ``text``: (reason, row ref, row provenance)."""
    for reason in reasons:
        if (hit := _row(T[reason], text, vague=vague)) is not None:
            return reason, *hit
    return None


def _row(table: Table, text: str, *, vague: bool = True) -> tuple[str, str] | None:
    index = table.find(text, vague=vague)
    if index is None:
        return None
    row = table.rows[index]
    return table.ref(index), f"{row.emitter}: {row.source}"


def _wording(text: str, facts: RecipientFacts) -> tuple[R, Rule, str, str] | None:
    """Rule 6: the first reason in ``WORDING_ORDER`` whose words occur, where its context allows."""
    command = facts.command
    for reason in WORDING_ORDER:
        if reason is R.USERUNKNOWN:
            if text and (found := _user_unknown(text, facts)):
                return found[0], Rule.PHRASE, *found[1:]
            continue
        if reason is R.FILTERED and command in BEFORE_DATA:
            continue  # a refusal before DATA cannot have looked at the message
        hit = _row(T[reason], text) if text else None
        if hit is None and reason is R.REJECTED and command is Command.MAIL and not _first(text, _NOT_ABOUT_THE_SENDER, vague=False):
            return R.REJECTED, Rule.STAGE, command.value, "refused in reply to MAIL FROM: the sender"
        if hit is None and reason is R.BLOCKED and command in CONNECTION_PHASE:
            return R.BLOCKED, Rule.STAGE, command.value, "refused at connection or greeting: the sending host"  # type: ignore[union-attr]
        if hit is not None:
            return reason, Rule.PHRASE, *hit
    return None


def _user_unknown(text: str, facts: RecipientFacts) -> tuple[R, str, str] | None:
    """User-unknown words, by the stage they were said at.

    In reply to RCPT TO, or in a wording only the recipient's own mail store or directory
    uses (``alone`` rows: qmail's "no mailbox here by that name", Exchange's
    RESOLVER.ADR.RecipNotFound): the mailbox does not exist. After DATA, or at a stage
    the report does not name: the recipient side's filter, soft (a server that has the
    message is judging it; Japanese carriers word their reception filters as unknown
    users; an intermediate's "user unknown" may be either). At MAIL FROM or before: not
    about the recipient at all.
    """
    if facts.command in (Command.MAIL, *CONNECTION_PHASE):
        return None
    if _row(T[R.REJECTED], text, vague=False):
        return None  # "Sender address rejected: unknown user": Postfix refuses the sender at RCPT TO (smtpd_delay_reject)
    table = T[R.USERUNKNOWN]
    index = table.find(text)
    if index is None:
        return None
    row = table.rows[index]  # "alone" rows come first in the table: if one matches, it is this one
    found = table.ref(index), f"{row.emitter}: {row.source}"
    if row.alone or facts.command is Command.RCPT:
        return R.USERUNKNOWN, *found
    return R.FILTERED, *found

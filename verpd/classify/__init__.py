"""From a recipient's facts to a verdict: a reason name and whether it is hard.

Reasons are Sisimai's names (https://libsisimai.org/en/reason/); hard/soft has
Sisimai 5's meaning: only ``userunknown``, ``hostunknown`` and ``hasmoved`` are hard,
and ``notaccept`` with a 5xx code. A 5.7.x policy refusal, a full mailbox or a
spam block is soft: the address is alive. The steps, in order:

1. what the report is (feedback, auto-reply) and whether this recipient succeeded;
2. the status code, reconciled between the DSN field and the remote server's words
   (``status.reconcile``);
3. provider rules, when the receiving host is a known provider whose wording is
   its own (``providers``); a local delivery program's failure (``X-Unix``) skips
   the first pass and is a mailer error unless its words or status say more;
4. the first pass (``FIRST_PASS``, in Sisimai's ``Reason::get`` order): each reason's
   own test over the status code's standard meaning, its phrases
   (``phrases``) and, for a few, the SMTP command;
5. the second pass (``SECOND_PASS``, Sisimai's ``Reason::anotherone``): broader
   wordings, tried when the status code's own meaning is missing or too vague to
   decide (``RETRY``), then that meaning;
6. what is left: x.6 → contenterror, x.7 → securityerror, 50x → syntaxerror, ``delayed`` → expired,
   refused at connection or greeting → blocked, at MAIL FROM → rejected;
7. otherwise ``onhold`` if the server said anything, ``undefined`` if not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from verpd.classify import phrases, providers, status as status_codes
from verpd.model import Reason, RecipientFacts, ReportKind, Severity, Verdict

HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved"})
NOT_FAILURES = frozenset({"delivered", "feedback", "vacation"})
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_KIND_REASONS = {ReportKind.FEEDBACK: "feedback", ReportKind.AUTOREPLY: "vacation", ReportKind.CHALLENGE: "vacation"}


def classify(facts: RecipientFacts, kind: ReportKind = ReportKind.BOUNCE) -> Verdict:
    """The verdict for one recipient of a report of the given kind."""
    if kind in _KIND_REASONS:
        return Verdict(Reason(_KIND_REASONS[kind]), Severity.NONE)
    text = (facts.diagnostic or "").lower()
    status = facts.status
    if facts.action in _SUCCESS_ACTIONS or (status or "").startswith("2"):
        return Verdict(Reason.DELIVERED, Severity.NONE)
    reason = reason_for(text, status, facts)
    return Verdict(Reason(reason), severity(reason, status, facts.reply_code))


def reason_for(text: str, status: str | None, facts: RecipientFacts) -> str:
    """The reason a failure's diagnostic text, status code and context give."""
    if found := providers.reason(facts.remote_mta, facts.reporting_mta, facts.address, text, status, facts.reply_code):
        return found
    standard = status_codes.meaning(status)
    command = facts.command
    local_mailer = facts.diagnostic_type in LOCAL_MAILER_TYPES
    if not local_mailer:
        context = Context(text, standard, command, facts.reply_code, facts.diagnostic_type)
        for reason, test in FIRST_PASS:
            if test(context):
                return reason
    if standard is None or standard in SECOND_CHANCE:
        for reason, pattern in SECOND_PASS:
            if pattern.search(text):
                return reason
    if standard:
        return standard
    if (status or "")[2:4] == "6.":
        return "contenterror"
    if (status or "")[2:4] == "7.":
        return "securityerror"
    if local_mailer:
        return "mailererror"
    if str(facts.reply_code or "")[:2] == "50" or (status or "")[2:4] == "5.":
        return "syntaxerror"
    if facts.action == "delayed":
        return "expired"
    if command in CONNECTION_PHASE:
        return "blocked"
    if command == "MAIL":
        return "rejected"
    return "onhold" if text.strip() else "undefined"


# --- the first pass: each reason's own test, in order --------------------------------------
#
# A reason holds when the status code's standard meaning is that reason or its
# phrases occur; a few reasons need context (Sisimai's Reason::*::true rules):
#   userunknown  the status says so (and no other reason's words contradict it), or
#                its words were said in reply to RCPT TO;
#   filtered     the status says so and the words agree, or its (or userunknown's)
#                words were said after DATA or at an unknown stage: a refusal
#                before DATA cannot have looked at the message;
#   hostunknown  the status says so unless the words name a network failure.

RETRY = frozenset({"undefined", "onhold", "systemerror", "securityerror", "networkerror"})
# Meanings too vague to stand against specific words: "the MTA gave up" (x.4.7) says nothing of why.
SECOND_CHANCE = RETRY | {"userunknown", "expired"}
LOCAL_MAILER_TYPES = frozenset({"x-unix"})  # "Diagnostic-Code: X-Unix; 255": a local delivery program failed
CONNECTION_PHASE = frozenset({"CONN", "EHLO", "HELO"})
BEFORE_DATA = frozenset({"CONN", "EHLO", "HELO", "MAIL", "RCPT"})
_NOT_A_USER = (phrases.NORELAYING, phrases.BLOCKED, phrases.MAILBOXFULL, phrases.HASMOVED, phrases.REJECTED, phrases.NOTACCEPT, phrases.SPEEDING)

@dataclass(frozen=True)
class Context:
    """What the first-pass tests look at."""

    text: str  # the diagnostic, lower-cased, one line
    standard: str | None  # the status code's standard meaning
    command: str | None  # the SMTP command in progress, if known
    reply_code: int | None
    diagnostic_type: str | None

    @property
    def smtp_conversation(self) -> bool:
        """Whether the words are a remote SMTP server's reply (rather than a mail store's own report)."""
        return self.command is not None or self.reply_code is not None or self.diagnostic_type == "smtp"


Test = Callable[[Context], bool]


def _plain(reason: str, pattern: re.Pattern[str]) -> tuple[str, Test]:
    return reason, lambda c: c.standard == reason or bool(pattern.search(c.text))


def _userunknown(c: Context) -> bool:
    if c.command == "MAIL":
        return False  # a refusal of MAIL FROM is never about the recipient
    if c.standard == "userunknown":
        return not any(p.search(c.text) for p in _NOT_A_USER)
    if phrases.USERUNKNOWN_DIRECTORY.search(c.text):
        return True
    # Said in reply to RCPT TO, or by the recipient's own mail store (no SMTP exchange quoted).
    return (c.command == "RCPT" or not c.smtp_conversation) and bool(phrases.USERUNKNOWN.search(c.text))


def _filtered(c: Context) -> bool:
    if c.standard == "filtered":
        return bool(phrases.USERUNKNOWN.search(c.text) or phrases.FILTERED.search(c.text))
    if c.command in BEFORE_DATA:
        return False
    return bool(phrases.FILTERED.search(c.text) or phrases.USERUNKNOWN.search(c.text))


def _hostunknown(c: Context) -> bool:
    if c.standard == "hostunknown":
        return not phrases.NETWORKERROR.search(c.text)
    return bool(phrases.HOSTUNKNOWN.search(c.text))


def _refused_at_connection(c: Context) -> bool:
    return c.command in CONNECTION_PHASE


def _refused_at_mail_from(c: Context) -> bool:
    """A refusal in reply to MAIL FROM is about the sender, unless the words say it is about
    the sending host, the client's connection rate, or its missing authentication."""
    return c.command == "MAIL" and not any(p.search(c.text) for p in _NOT_ABOUT_THE_SENDER)


_NOT_ABOUT_THE_SENDER = (phrases.BLOCKED_HOST, phrases.TOOMANYCONN, phrases.SPEEDING, phrases.SECURITYERROR)


def _mesgtoobig(c: Context) -> bool:
    """Too big for the system, unless the status says it is over the recipient's own limit (x.2.3)."""
    return c.standard != "exceedlimit" and (c.standard == "mesgtoobig" or bool(phrases.MESGTOOBIG.search(c.text)))


FIRST_PASS: tuple[tuple[str, Test], ...] = (
    _plain("mailboxfull", phrases.MAILBOXFULL),
    ("mesgtoobig", _mesgtoobig),
    _plain("exceedlimit", phrases.EXCEEDLIMIT),
    _plain("suspend", phrases.SUSPEND),
    _plain("hasmoved", phrases.HASMOVED),
    _plain("norelaying", phrases.NORELAYING),
    _plain("authfailure", phrases.AUTHFAILURE),
    ("userunknown", _userunknown),
    ("filtered", _filtered),
    _plain("requireptr", phrases.REQUIREPTR),
    _plain("notcompliantrfc", phrases.NOTCOMPLIANTRFC),
    ("rejected", _refused_at_mail_from),
    _plain("badreputation", phrases.BADREPUTATION),
    _plain("rejected", phrases.REJECTED),
    ("notaccept", lambda c: bool(phrases.NULLMX.search(c.text))),  # words only: x.3.2 alone is not a null MX
    ("hostunknown", _hostunknown),
    ("blocked", _refused_at_connection),
    _plain("spamdetected", phrases.SPAMDETECTED),
    _plain("speeding", phrases.SPEEDING),
    _plain("toomanyconn", phrases.TOOMANYCONN),
    _plain("blocked", phrases.BLOCKED),
)

# --- the second pass: broader wordings, when the status code decided nothing -----------------
SECOND_PASS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mailboxfull", phrases.MAILBOXFULL),
    ("authfailure", phrases.AUTHFAILURE),
    ("badreputation", phrases.BADREPUTATION),
    ("speeding", phrases.SPEEDING),
    ("spamdetected", phrases.SPAMDETECTED),
    ("virusdetected", phrases.VIRUSDETECTED),
    ("policyviolation", phrases.POLICYVIOLATION),
    ("norelaying", phrases.NORELAYING),
    ("systemerror", phrases.SYSTEMERROR),
    ("networkerror", phrases.NETWORKERROR),
    ("suspend", phrases.SUSPEND),
    ("contenterror", phrases.CONTENTERROR),
    ("systemfull", phrases.SYSTEMFULL),
    ("notaccept", phrases.NOTACCEPT),
    ("expired", phrases.EXPIRED),
    ("securityerror", phrases.SECURITYERROR),
    ("mailererror", phrases.MAILERERROR),
    ("syntaxerror", phrases.SYNTAXERROR),
)


def severity(reason: str, status: str | None, reply_code: int | None) -> Severity:
    """Hard only where the address itself is dead (Sisimai 5's hardbounce)."""
    if reason in NOT_FAILURES:
        return Severity.NONE
    if reason in HARD_REASONS:
        return Severity.HARD
    if reason == "notaccept" and ((status or "").startswith("5") or str(reply_code or "").startswith("5")):
        return Severity.HARD
    return Severity.SOFT

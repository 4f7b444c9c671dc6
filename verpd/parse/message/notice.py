"""What the generic notice readers share: who sent a notice, where its report ends, whose addresses to ignore.

The detectors that read a failure from prose rather than from an MTA's fixed layout
(one-sentence notices, rewritten-recipient notices, bilingual gateway notices) must
be sure the message is a notice from a mail system at all, must read only the
report (never the returned copy of the original), and must never take the bounce's
own addresses or the original sender's for the failed recipient. Those three tests
live here so that every such reader applies them the same way.
"""

from __future__ import annotations

import re

from verpd.parse.message.mail import FEEDBACK_REPORT_TYPES, Mail
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import LazyPattern, mailboxes

# --- is it from a mail system? -------------------------------------------------------------

_DAEMON_LOCAL = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|post[-_.]master|mail[-_.]?delivery(?:[-_.]?(?:system|subsystem|service))?|mail[-_.]?admin)$",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(r"mail(?:er)?[- ]?daemon|postmaster|mail delivery (?:system|subsystem|service|agent)|mail (?:system|administrator)", re.IGNORECASE)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoresponse", "X-Vacation", "X-MS-Exchange-Inbox-Rules-Loop")
_CHALLENGE_HEADERS = ("X-Boxtrapper", "X-Spamarrest", "X-Delivery-Agent-Challenge")
# Subjects a notice from a mail system never starts with: a person's reply or forward, an
# auto-reply, a challenge, a read receipt.
_NOT_A_NOTICE_SUBJECT = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|tr|sv|vs|antw)\s*:|(?:read|delivered|relayed)\s*:|auto(?:matic)?[ -]?(?:reply|response|antwort|r[ée]ponse)|"
    r"out\s+of\s+(?:the\s+)?office|abwesen|absence|vacation|r[ée]ponse\s+automatique|respuesta\s+autom[áa]tica|"
    r"please\s+confirm|confirm(?:ation)?\s+(?:required|your)|verify\s+your|challenge)",
    re.IGNORECASE,
)
# What a challenge-response system asks of the sender; a failure notice never does.
CHALLENGE_WORDS = LazyPattern(
    r"captcha|whitelist|white-list|approved\s+senders?|prove\s+(?:that\s+)?you|not\s+a\s+(?:robot|spammer)|challenge|"
    r"(?:confirm|verify)\s+(?:that\s+)?you(?:r\s+(?:identity|address|message))?\b|until\s+you|once\s+you\s+(?:confirm|verify|reply)|"
    r"awaiting\s+(?:your\s+)?(?:confirmation|verification)|held\s+(?:for|pending|until)|"
    r"cliquez|confirmez|confirmer\s+(?:votre|que)|valid(?:ez|er)\s+(?:votre|que)|prouver|tant\s+que\s+vous",
    re.IGNORECASE,
)


def daemon_sender(mail: Mail) -> bool:
    """Whether From: names a mail system (MAILER-DAEMON, postmaster, "Mail Delivery System", ...)."""
    for name, address in mailboxes([mail.sender]):
        local = address.rpartition("@")[0] if "@" in address else address
        if _DAEMON_LOCAL.match(local.strip("<> ")) or (name and _DAEMON_NAME.search(name)):
            return True
    return bool(_DAEMON_NAME.search(mail.sender) and "@" not in mail.sender)


def null_sender(mail: Mail) -> bool:
    """Whether the envelope sender was null (``Return-Path: <>``) or a MAILER-DAEMON."""
    path = mail.header("Return-Path").strip().lower()
    return path in ("<>", "<mailer-daemon>") or "mailer-daemon@" in path


def not_a_notice(mail: Mail) -> bool:
    """A reply, forward, auto-reply, challenge or complaint: never a failure notice, whoever sent it."""
    if any(mail.msg.get(name) is not None for name in _AUTO_HEADERS + _CHALLENGE_HEADERS):
        return True
    if _NOT_A_NOTICE_SUBJECT.search(mail.subject):
        return True
    return b"feedback-report" in mail.raw and bool(mail.parts_of(FEEDBACK_REPORT_TYPES))


# --- where the report ends ------------------------------------------------------------------

# Only whether a line matches counts. Blanks are taken whole (``*+``) and a rule of two marker characters
# (``--``) needs no more, so that no line makes the pattern backtrack: "original message" and 2000
# blanks took 9 s, the blanks split between three quantifiers in every possible way.
_COPY = LazyPattern(
    r"^\s*+(?:"
    r"[-=_*#|>~+]{2}.*?\b(?:original|returned|unsent|undelivered\s+message|copy\s+of|headers?\s+(?:of|follow)|message\s+(?:text|headers?|body|follows)|rfc\s?822|attached\s+message|message\s+d'origine|message\s+original)"
    r"|(?:original|unsent|returned|undelivered)\s+message(?:\s*+(?:follows|below|is\s+(?:attached|included|below)))?+\s*+:?+\s*+$"
    r"|(?:original|unsent|returned|undelivered)\s+message\s*+(?:follows|below|is\s+(?:attached|included|below))"
    r"|(?:message\s+(?:original|d'origine)|original\s+message)\s*+(?:/.*)?:\s*$"
    r"|.*below\s+this\s+line\s+is\s+a\s+copy"
    r"|.*(?:copy\s+of\s+(?:the|your)\s+(?:original\s+)?message|message\s+headers?\s+follows?|headers?\s+of\s+the\s+original\s+message|original\s+message\s+headers?)"
    r"|included\s+is\s+a\s+copy"
    r"|content-type:\s*(?:message/rfc822|text/rfc822-headers)"
    r")",
    re.IGNORECASE,
)
_HEADER_START = LazyPattern(
    r"^(?:Received|Return-Path|DKIM-Signature|DomainKey-Signature|Message-I[Dd]|Delivered-To|Authentication-Results|ARC-[\w-]+|X-[\w-]+|MIME-Version|Content-Transfer-Encoding|References|In-Reply-To|Thread-\w+)\s?:",
    re.IGNORECASE,
)


def report_lines(lines: list[str], limit: int = 200) -> list[str]:
    """The first ``limit`` lines of the report, up to the returned copy of the original.

    The copy starts at a marker line ("Original message follows", "--- Message
    original ---", ...) or at the first line that can only be one of its headers.
    """
    kept = []
    for line in lines[:limit]:
        if _COPY.match(line) or _HEADER_START.match(line):
            break
        kept.append(line)
    return kept


def paragraphs_of(lines: list[str]) -> list[str]:
    """The report's paragraphs (runs of non-blank lines), each joined into one line: a sentence may wrap."""
    joined: list[str] = []
    current: list[str] = []
    for line in lines + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            joined.append(" ".join(current))
            current = []
    return joined


# --- whose addresses they are ---------------------------------------------------------------


def own_addresses(mail: Mail) -> set[str]:
    """Lower-cased addresses that are never the failed recipient: the notice's own and the original sender's."""
    values = []
    for name in ("To", "Cc", "From", "Sender", "Reply-To", "Delivered-To", "Return-Path", "Errors-To"):
        values += mail.headers(name)
    original = mail.returned
    if original is not None:
        for name in ("From", "Sender", "Reply-To", "Return-Path", "Errors-To"):
            values += [header_text(v) for v in original.get_all(name) or []]
    return {address.lower() for _, address in mailboxes(values) if "@" in address}


def usable(address: str, own: set[str]) -> bool:
    """Not one of ``own``, not a mailer daemon or postmaster, not a file path or pipe."""
    local = address.rpartition("@")[0]
    return address.lower() not in own and not _DAEMON_LOCAL.match(local) and local[:1] not in ("/", "|")

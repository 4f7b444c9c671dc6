"""SMTP facts that parsing and classifying share: status codes, reply codes, the command.

Pure functions over ``str``. The command patterns are how MTAs say which SMTP
command was in progress when the remote server answered (Postfix "in reply to RCPT
TO command", Exim "after RCPT TO:", Sendmail ">>> RCPT To:", qmail "most progress
was RCPT TO response", DragonFly "did not like our RCPT TO").
"""

from __future__ import annotations

import re

from verpd.model import Command

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")  # never inside an IP such as 4.2.2.1
_REPLY_AT_START = re.compile(r"([245]\d\d)(?:[ -]|$)")
_REPLY_ANYWHERE = re.compile(r"(?<![\d.#-])([45][0-5]\d)[ -]['\"]?(?:[245]\.\d{1,3}\.\d{1,3}|[A-Za-z<])")
TYPE_PREFIX = re.compile(r"^\s*(?:rfc822|x400|smtp|x-[\w-]+|dns|utf-8|unix|unknown)\s*;\s*", re.IGNORECASE)

_COMMANDS: tuple[tuple[re.Pattern[str], Command], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), Command(command))
    for pattern, command in (
        # Postfix: "(in reply to RCPT TO command)", "(in reply to end of DATA command)"
        (r"in reply to (?:the )?end of data", "DATA"),
        (r"in reply to (?:the )?(?:rcpt to|rcpt)\b", "RCPT"),
        (r"in reply to (?:the )?mail from\b", "MAIL"),
        (r"in reply to (?:the )?data\b", "DATA"),
        (r"in reply to (?:the )?(?:ehlo|helo|lhlo)\b", "EHLO"),
        (r"in reply to (?:the )?initial greeting", "CONN"),
        # Exim: "SMTP error from remote mail server after RCPT TO:<...>:"
        (r"\bafter (?:pipelined )?rcpt to\b", "RCPT"),
        (r"\bafter (?:pipelined )?mail from\b", "MAIL"),
        (r"\bafter end of data\b|\bafter (?:pipelined )?data\b", "DATA"),
        (r"\bafter (?:ehlo|helo)\b", "EHLO"),
        (r"\bafter initial connection\b", "CONN"),
        # Postfix: "refused to talk to me" (rejected at the greeting); qmail: "my name was rejected"
        (r"refused to talk to me", "CONN"),
        (r"my name was rejected", "EHLO"),
        # Sendmail transcript: ">>> RCPT To:<...>" then "<<< 550 ..."
        (r">>> rcpt to", "RCPT"),
        (r">>> mail from", "MAIL"),
        (r">>> data\b|>>> \.", "DATA"),
        # qmail: "most progress was RCPT TO response"
        (r"most progress was rcpt to", "RCPT"),
        (r"sender was rejected", "MAIL"),
        (r"greeting failed", "CONN"),
        # DragonFly Mail Agent: "did not like our RCPT TO:"
        (r"did not like our rcpt to", "RCPT"),
        (r"did not like our mail from", "MAIL"),
        (r"did not like our (?:final )?data", "DATA"),
    )
)


_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")


def find_status(text: str) -> str | None:
    """The first enhanced status code (``5.1.1``) in ``text``, normalised (``5.01.01`` → ``5.1.1``)."""
    m = _STATUS.search(text)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def find_reply_code(text: str) -> int | None:
    """The SMTP reply code that starts ``text`` (``550 5.1.1 ...``), else one inside it."""
    stripped = TYPE_PREFIX.sub("", text.strip())
    m = _REPLY_AT_START.match(stripped) or _REPLY_ANYWHERE.search(stripped)
    return int(m.group(1)) if m else None


# Every command wording contains one of these words (single words, so folding cannot split
# them): a substring test rules most texts out before any pattern runs.
_COMMAND_KEYWORDS = ("reply", "after", ">>>", "progress", "rejected", "greeting", "like", "refused")


def find_command(text: str) -> Command | None:
    """The SMTP command the remote answer was given to, if the text says so."""
    lowered = text.lower()
    if not any(keyword in lowered for keyword in _COMMAND_KEYWORDS):
        return None
    text = " ".join(text.split())
    for pattern, command in _COMMANDS:
        if pattern.search(text):
            return command
    return None


def clean_diagnostic(text: str) -> str:
    """A diagnostic on one line: its type prefix (``smtp;``) and repeated blanks removed."""
    return TYPE_PREFIX.sub("", " ".join(text.split()))


def find_status_beside_ips(text: str) -> str | None:
    """Like :func:`find_status`, but never reads a status code out of an IPv4 address (``4.2.2.1``)."""
    return find_status(_IPV4.sub(" ", text)) if "." in text else None




# --- settling a recipient's codes: the one place that decides which status code to believe ---


def settle(field: str | None, diagnostic: str, reply_code: int | None) -> tuple[str | None, int | None]:
    """The status code and reply code to believe for one recipient.

    ``field`` is the status the report states for the recipient (a DSN's ``Status:``, a
    format's own code field); ``diagnostic`` the remote server's words, which may quote
    a code of their own. Reporting MTAs write a generic x.0.0 or a class-level guess
    (Postfix turns a bare ``550`` into 5.0.0; Exchange writes 4.4.7 on expiry whatever
    the last error was), while the remote server's own words carry the specific code.
    A reply code whose class contradicts the settled status is a quotation, not the
    answer, and is dropped.
    """
    status = reconcile(field, find_status_beside_ips(diagnostic) if diagnostic else None, reply_code)
    if reply_code and status and str(reply_code)[0] != status[0]:
        reply_code = None
    return status, reply_code


def is_generic(status: str | None) -> bool:
    """x.0.0, or no code at all."""
    return not status or status[2:] == "0.0"


def reconcile(field: str | None, text: str | None, reply_code: int | None) -> str | None:
    """The status code to believe, from the report's field and one quoted in the diagnostic."""
    if not text or text == field:
        return field
    if not field:
        return text
    agrees = reply_code is not None and str(reply_code)[0] == text[0]
    if field[0] != text[0]:
        # The class differs: believe whichever matches the remote server's reply code.
        return text if agrees else field
    if is_generic(field) or field.endswith(".0") and not text.endswith(".0") or field[2:] == "4.7" or field[2:4] == "3.":
        # A reporting MTA's generic guess (x.0.0, a subject-level x.y.0, "expired", a system
        # class x.3.z) gives way to the remote server's own, more specific code.
        return text
    return field

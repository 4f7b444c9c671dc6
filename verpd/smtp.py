"""SMTP facts that parsing and classifying share: status codes, reply codes, the command.

Pure functions over ``str``. The command patterns are how MTAs say which SMTP
command was in progress when the remote server answered (Postfix "in reply to RCPT
TO command", Exim "after RCPT TO:", Sendmail ">>> RCPT To:", qmail "most progress
was RCPT TO response", DragonFly "did not like our RCPT TO").
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")  # never inside an IP such as 4.2.2.1
_REPLY_AT_START = re.compile(r"([245]\d\d)(?:[ -]|$)")
_REPLY_ANYWHERE = re.compile(r"(?<![\d.#-])([45][0-5]\d)[ -]['\"]?(?:[245]\.\d{1,3}\.\d{1,3}|[A-Za-z<])")
TYPE_PREFIX = re.compile(r"^\s*(?:rfc822|smtp|x-[\w-]+|dns|utf-8|unix|unknown)\s*;\s*", re.IGNORECASE)

_COMMANDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), command)
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


def find_command(text: str) -> str | None:
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



"""Symantec / Broadcom Email Security.cloud (formerly MessageLabs) notices without a DSN part.

Email Security.cloud stamps every message it handles with ``X-Msg-Ref:
server-N.tower-N.messagelabs.com!...`` and sends its non-delivery notices from
``MAILER-DAEMON@messagelabs.com`` (``Subject: Mail Delivery Failure``). Its text, as
Broadcom's knowledge article 162445 "Outbound Mail returned by
MAILER-DAEMON@messagelabs.com" quotes it::

    This is the mail delivery agent at messagelabs.com.

    I was unable to deliver your message to the following addresses:

    bob@example.com

    Reason: 550 bob@example.com... No such user

    The message subject was: ...

Usually a ``message/delivery-status`` part follows (the DSN detector reads it);
this detector reads the text when that part is missing. Older notices are
qmail-shaped (Sisimai's X4 lists the same banner): ``I was not able to deliver your
message to the following addresses.``, then ``<bob@example.com>:`` blocks of
qmail-remote lines (``192.0.2.1 does not like recipient.`` / ``Remote host said:
550 ...``), read as qmail's are.

Its delay notices are Microsoft-style DSN letters (``This is an automatically
generated Delivery Status Notification.`` ... ``THIS IS A WARNING MESSAGE ONLY.`` ...
``Delivery to the following recipients has been delayed.`` then the addresses,
indented): each address is ``delayed``, never a failure. Without ``X-Msg-Ref`` or
the messagelabs.com banner such a letter is left to the other detectors; the
detector runs after Gmail's, whose legacy letters share that banner (and are
stamped too when they pass through Email Security.cloud).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.detectors.qmail import block_facts
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import reply_facts, sole_address
from verpd.smtp import clean_diagnostic

_BANNERS = (b"This is the mail delivery agent at", b"automatically generated Delivery Status Notification")
_INTRO = re.compile(r"^\s*I was (?:unable|not able) to deliver your message to the following addresses", re.IGNORECASE)
_DSN_LIST = re.compile(r"^\s*Delivery to the following recipients? (?:has|have) been (delayed)|^\s*Delivery to the following recipients? failed", re.IGNORECASE)
_END = re.compile(
    r"^\s*(?:the message (?:subject|date|identifier|reference) was|please do not reply|please visit|-{2,} ?below this line)",
    re.IGNORECASE,
)
# The bracketed run is read whole (see verpd.parse.message.text's note on address patterns).
_QMAIL_RECIPIENT = re.compile(r"^<(?=[^<>\s]+@[^<>\s])([^<>\s]++)>:\s*(.*)$")
_REASON = re.compile(r"^\s*Reason:\s*(.*)$", re.IGNORECASE)


class MessageLabsDetector:
    """Email Security.cloud / MessageLabs "Mail Delivery Failure" text and its delay notices."""

    name = "messagelabs"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        stamped = mail.msg.get("X-Msg-Ref") is not None or "messagelabs" in mail.sender
        if not (stamped or b"mail delivery agent at messagelabs.com" in mail.raw):
            return None
        if not any(banner in mail.raw for banner in _BANNERS):
            return None
        lines = mail.lines
        for i, line in enumerate(lines):
            if _INTRO.match(line):
                return _failures(lines[i + 1 :]) or None
            if m := _DSN_LIST.match(line):
                action = "delayed" if m.group(1) else "failed"
                return _listed(lines[i + 1 :], action) or None
        return None


def _failures(lines: list[str]) -> list[RecipientFacts]:
    """The ``address`` / ``Reason:`` pairs, or the qmail-shaped ``<address>:`` blocks."""
    found: list[RecipientFacts] = []
    address: str | None = None
    details: list[str] = []
    qmail = False
    reading = False  # inside a "Reason:" paragraph

    def flush() -> None:
        if address:
            found.append(block_facts(address, details) if qmail else reply_facts(address, clean_diagnostic(" ".join(details)) or None, action="failed"))

    for line in lines:
        if _END.match(line):
            break
        stripped = line.strip()
        if not stripped:
            reading = False
            continue
        if m := _QMAIL_RECIPIENT.match(stripped):
            flush()
            address, details, qmail, reading = m.group(1), [m.group(2)] if m.group(2) else [], True, False
        elif not qmail and (bare := sole_address(stripped)) and not reading:
            flush()
            address, details, reading = bare, [], False
        elif address and not qmail and (m := _REASON.match(stripped)):
            details.append(m.group(1))
            reading = True
        elif address and (qmail or reading):
            details.append(stripped)
    flush()
    return found


def _listed(lines: list[str], action: str) -> list[RecipientFacts]:
    """The addresses listed, one to a line, after a Microsoft-style DSN letter's heading."""
    found: list[RecipientFacts] = []
    for line in lines:
        if not line.strip():
            if found:
                break
            continue
        address = sole_address(line)
        if not address:
            break
        found.append(RecipientFacts(address=address, action=action))
    return found

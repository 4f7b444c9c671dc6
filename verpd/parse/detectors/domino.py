"""Lotus Domino / IBM (HCL) Notes non-delivery reports.

Domino's router writes the subject ``DELIVERY FAILURE: <reason>`` (``DELIVERY_FAILURE``
in some versions) and a body of labels with indented values, in the server's
language::

    Your message

      Subject: Quarterly report

    was not delivered to:

      bob@example.com

    because:

      User bob (bob@example.com) not listed in Domino Directory

The first indented block made only of addresses holds the recipients; the block
after it is the reason, which every recipient of the block shares. When a Domino
DSN part exists the DSN detector reads it; this reads the text, so it works in any
of Domino's languages. The older Lotus Notes SMTP MTA (R4/R5) sends ``Subject:
Undeliverable message`` with::

    ------- Failure Reasons  --------

    User not listed in public Name & Address Book
    bob@example.com

    ------- Returned Message --------

where each reason line precedes the address it is about. Layouts as in Sisimai's
Lhost::Domino and Lhost::Notes and HCL's Domino router documentation.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import decode_iso2022, sole_address

_NOTES_START = re.compile(r"^-+\s*Failure Reasons\s*-+", re.IGNORECASE)
_NOTES_END = re.compile(r"^-+\s*Returned Message\s*-+", re.IGNORECASE)
_NAMED_ADDRESS = re.compile(r"^(\S+@[^\s@]+)\s+\([^()]*\)$")
_DOMINO_END = re.compile(r"^(?:-{5,}|Content-Type:|Received:|Return-Path:|Reporting-MTA:|Final-Recipient:)", re.IGNORECASE)


class DominoDetector:
    """Lotus Domino "DELIVERY FAILURE" reports and Lotus Notes "Failure Reasons" reports."""

    name = "domino"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        subject = mail.subject
        if subject.startswith("DELIVERY FAILURE") or "DELIVERY_FAILURE" in subject:
            return _domino(mail.lines, subject) or None
        if subject.startswith("Undeliverable message"):
            return _notes(mail.lines) or None
        return None


def _domino(lines: list[str], subject: str) -> list[RecipientFacts]:
    blocks: list[list[str]] = []  # consecutive indented lines
    current: list[str] = []
    for line in lines:
        if _DOMINO_END.match(line):
            break
        if line[:1] in " \t" and line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    found: list[RecipientFacts] = []
    for i, block in enumerate(blocks):
        addresses = [_address_line(line) for line in block]
        if not all(addresses):
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else []
        reason = " ".join(following) if following and not all(_address_line(x) for x in following) else ""
        reason = decode_iso2022(reason) or _subject_reason(subject)
        found += [RecipientFacts(address=a, action="failed", diagnostic=reason or None) for a in addresses if a]
    return found


def _address_line(line: str) -> str | None:
    """``bob@example.com``, ``<bob@example.com>`` or ``bob@example.com (Bob Smith)`` → the address."""
    m = _NAMED_ADDRESS.match(line)
    return sole_address(m.group(1)) if m else sole_address(line)


def _subject_reason(subject: str) -> str:
    """``DELIVERY FAILURE: User bob (bob@example.com) not listed in Domino Directory`` → the reason."""
    return subject.partition(":")[2].strip()


def _notes(lines: list[str]) -> list[RecipientFacts]:
    found: list[RecipientFacts] = []
    reading = False
    reason: list[str] = []
    last_reason = ""
    for line in lines:
        if not reading:
            reading = bool(_NOTES_START.match(line))
            continue
        if _NOTES_END.match(line):
            break
        address = sole_address(line)
        if address:
            text = " ".join(reason) or last_reason
            found.append(RecipientFacts(address=address, action="failed", diagnostic=text or None))
            last_reason, reason = text, []
        elif line.strip() and not line.startswith("-"):
            reason.append(" ".join(line.split()))
    return found

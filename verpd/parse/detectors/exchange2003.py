"""Microsoft Exchange 5.5 / 2000 / 2003 non-delivery reports (plain text, no DSN part).

The Internet Mail Service / Internet Mail Connector of old Exchange wrote its own
report: ``X-MS-Embedded-Report:`` or ``X-Mailer: Internet Mail Service (5.5.x)`` /
``Microsoft Exchange Server Internet Mail Connector`` (or a ``Received: ... with
Internet Mail Service`` hop, or ``X-MimeOLE: Produced By Microsoft Exchange``) and a
body like::

    Your message
      To:      alice@example.org
      Subject: ...
    did not reach the following recipient(s):

    bob@example.com on Thu, 29 Apr 2010 00:00:00 -0000
        The recipient name is not recognized
        The MTS-ID of the original message is: c=us;a= ;p=example;l=HOST0104291200
        MSEXCH:IMS:EXAMPLE:SITE:HOST 0 (000C05A6) Unknown Recipient

Exchange 5.5's IMC says "Your message did not reach some or all of the intended
recipients." and "The following recipient(s) could not be reached:". Each recipient
line is ``address on date`` (or ``Name (SMTP=address) on date``); the indented lines
under it are the error: a sentence, the MSEXCH diagnostic with its hexadecimal
code (000C05A6 = unknown recipient, 000B09AA = unable to relay, ...) and its text.
The MTS-ID line is bookkeeping and is left out. Layout as in Sisimai's
Lhost::Exchange2003 (p5-sisimai) and the samples in its set-of-emails.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, lines_between

_MAILERS = ("Internet Mail Service (", "Microsoft Exchange Server Internet Mail Connector")
_START = re.compile(r"^\s*(?:did not reach the following recipient|the following recipient\(s\) could not be reached)", re.IGNORECASE)
# "<who> on <date>": the first " on " with a digit somewhere after it (_DIGIT, searched once:
# a pattern asking for the digit would rescan the rest of the line at every " on ").
_RECIPIENT = re.compile(r"^\s*(?P<who>\S(?:.*?\S)??)\s+on\s+\S", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_SMTP_IN_NAME = re.compile(r"\b(?:SMTP|smtp)[=:]\s*([^\s()\]]+@[^\s()\]@]+)")
_MTS_ID = re.compile(r"^\s*(?:The MTS-ID of the original message is:|;l=)", re.IGNORECASE)
_END = re.compile(r"^(?:-{3,}|Content-Type:|Received:|Return-Path:|Message-ID:)", re.IGNORECASE)


class Exchange2003Detector:
    """Old Exchange (Internet Mail Service / Connector) plain-text NDRs."""

    name = "exchange2003"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _is_exchange(mail):
            return None
        found: list[tuple[str, list[str]]] = []
        for line in lines_between(mail.lines, _START, _END):
            address = _recipient(line)
            if address:
                found.append((address, []))
            elif found and line.strip() and not _MTS_ID.match(line):
                found[-1][1].append(line.strip())
        return [
            RecipientFacts(address=address, action="failed", diagnostic=" ".join(detail) or None) for address, detail in found
        ] or None


def _is_exchange(mail: Mail) -> bool:
    if mail.msg.get("X-MS-Embedded-Report") is not None:
        return True
    if mail.header("X-Mailer").startswith(_MAILERS):
        return True
    if mail.header("X-MimeOLE").startswith("Produced By Microsoft Exchange"):
        return True
    return any(" with Internet Mail Service (" in received for received in mail.headers("Received"))


def _recipient(line: str) -> str | None:
    """``bob@example.com on <date>`` or ``Bob (SMTP=bob@example.com) on <date>`` → the address."""
    m = _RECIPIENT.match(line)
    if not m or "@" not in m.group("who") or not _DIGIT.search(line, m.end()):
        return None
    who = m.group("who")
    if len(who) > 1000:
        return None  # no name is that long (and each "SMTP:" in it would be searched to its end)
    inner = _SMTP_IN_NAME.search(who)
    if inner:
        return inner.group(1)
    found = ADDRESS.search(who)
    return found.group(0) if found and len(who.split()) == 1 else None

"""MailFoundry's (a mail-filtering gateway, later part of Barracuda) bounces.

``Subject: Message delivery has failed``, a Received line ``by host (MAILFOUNDRY) id
...``, and a text part::

    Unable to deliver message to: <bob@example.com>
    Delivery failed for the following reason:
    Server mx.example.com[192.0.2.1] failed with: 550 <bob@example.com> No such user here

    This has been a permanent failure.  No further delivery attempts will be made.

The reply after ``failed with:`` is the diagnostic (else the reason lines as written);
``Server host[address]`` names the remote MTA. A ``temporary failure`` closing line
marks a delay.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import reply_facts, unfold_reply

_RECIPIENT = re.compile(r"^Unable to deliver message to:\s*<?([^<>\s]+@[^<>\s]+)>?", re.IGNORECASE)
_REASON = re.compile(r"^Delivery failed for the following reason:?\s*(.*)$", re.IGNORECASE)
_SERVER = re.compile(r"^Server\s+([^\s\[]+)\[[^\]]*\]\s+failed with:\s*(.*)$", re.IGNORECASE)


class MailFoundryDetector:
    """MailFoundry's ``Unable to deliver message to: <address>`` letter."""

    name = "mailfoundry"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.subject != "Message delivery has failed" or b"(MAILFOUNDRY)" not in mail.raw:
            return None
        blocks: list[tuple[str, list[str]]] = []
        for line in mail.lines:
            text = line.strip()
            if m := _RECIPIENT.match(text):
                blocks.append((m.group(1), []))
            elif blocks and text and not text.startswith("-"):
                blocks[-1][1].append(text)
        return [_facts(address, lines) for address, lines in blocks] or None


def _facts(address: str, lines: list[str]) -> RecipientFacts:
    remote = None
    reason: list[str] = []
    temporary = False
    for text in lines:
        if m := _REASON.match(text):
            if m.group(1):
                reason.append(m.group(1))
        elif m := _SERVER.match(text):
            remote = m.group(1)
            reason.append(m.group(2))
        elif "temporary failure" in text.lower():
            temporary = True
        elif "permanent failure" not in text.lower():
            reason.append(text)
    diagnostic = unfold_reply(reason) or None
    return reply_facts(
        address,
        diagnostic,
        action="delayed" if temporary else "failed",
        remote_mta=remote,
    )

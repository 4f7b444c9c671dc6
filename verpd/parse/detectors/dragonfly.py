"""The DragonFly Mail Agent (dma), DragonFly BSD's and others' small local MTA.

dma writes one bounce per failed recipient (mail.c, ``bounce()``), ``Subject: Mail
delivery failed``, ``From: MAILER-DAEMON <>``, a Received line ``by host (DragonFly
Mail Agent v0.13)``, and a plain-text body::

    This is the DragonFly Mail Agent v0.13 at df.example.org.

    There was an error delivering your mail to <bob@example.com>.

    mx.example.com [192.0.2.1] did not like our RCPT TO:
    550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown

    Original message follows.          (or: Message headers follow.)

The error text is dma's ``errmsg``: for a refusal net.c writes ``%s [%s] did not like
our %s:\\n%s`` (remote host, its address, the command — ``MAIL FROM``, ``RCPT TO``,
``DATA``, ``final DATA`` — and the server's reply, which is the diagnostic); otherwise
dma's own words (``DNS lookup failure: host example.net not found``, ``Could not
deliver for the last 432000 seconds. Giving up.``, ``unable to connect ...``).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import reply_facts, unfold_reply

_RECIPIENT = re.compile(r"^There was an error delivering your mail to <([^<>\s]+)>", re.IGNORECASE)
_END = re.compile(r"^(?:Original message follows|Message headers follow)", re.IGNORECASE)
_REFUSAL = re.compile(r"^(\S+)\s+\[([^\]]*)\]\s+did not like our (.+?):\s*(.*)$", re.IGNORECASE)
_COMMANDS = (("rcpt", "RCPT"), ("mail", "MAIL"), ("final data", "DATA"), ("data", "DATA"), ("ehlo", "EHLO"), ("helo", "EHLO"))


class DragonFlyDetector:
    """dma's ``This is the DragonFly Mail Agent`` bounce."""

    name = "dragonfly"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if b"This is the DragonFly Mail Agent" not in mail.raw:
            return None
        found: list[RecipientFacts] = []
        address = None
        details: list[str] = []
        for line in mail.lines:
            if _END.match(line.strip()):
                break
            if m := _RECIPIENT.match(line.strip()):
                if address:
                    found.append(_facts(address, details))
                address, details = m.group(1), []
            elif address and line.strip():
                details.append(line)
        if address:
            found.append(_facts(address, details))
        return found or None


def _facts(address: str, details: list[str]) -> RecipientFacts:
    remote = command = None
    if details and (m := _REFUSAL.match(details[0].strip())):
        remote = m.group(1)
        verb = m.group(3).lower()
        command = next((c for word, c in _COMMANDS if verb.startswith(word)), None)
        details = ([m.group(4)] if m.group(4) else []) + details[1:]
    diagnostic = unfold_reply(details) or None
    return reply_facts(
        address,
        diagnostic,
        action="failed",
        remote_mta=remote,
        command=command,
    )

"""Courier MTA's delivery status notifications, read from their text.

Courier (courier/module.dsn, https://www.courier-mta.org/courierdsn.html) sends
``Subject: NOTICE: mail delivery status.`` (``WARNING: delayed mail.``), a
``Message-ID: <courier.XXXXXXXX.XXXXXXXX@host>`` and normally a
``message/delivery-status`` part, which the standard DSN detector reads first. This
detector reads the human-readable part when that is all there is::

                               UNDELIVERABLE MAIL

    Your message to the following recipients cannot be delivered:

    <bob@example.com>:
        mx.example.com [192.0.2.1]:
    >>> RCPT TO:<bob@example.com>
    <<< 550 5.1.1 <bob@example.com>... User unknown

``DELAYS IN DELIVERING YOUR MESSAGE`` heads a delay warning. The ``<<<`` lines are the
remote server's reply (or Courier's own words: ``<<< No such domain.``), the indented
``host [address]:`` line names it, ``>>>`` gives the command.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import reply_facts, unfold_reply

_SUBJECT = re.compile(r"^(?:NOTICE: mail delivery status|WARNING: delayed mail)", re.IGNORECASE)
_TITLES = (("UNDELIVERABLE MAIL", "failed"), ("DELAYS IN DELIVERING YOUR MESSAGE", "delayed"), ("DELIVERY STATUS NOTIFICATION", "delivered"))
_RECIPIENT = re.compile(r"^<([^<>\s]+@[^<>\s@]+)>:\s*$")
_HOST = re.compile(r"^(\S+)\s+\[[^\]]*\]:?$")
_RULE = re.compile(r"^-{20,}$")
_COMMANDS = (("rcpt", "RCPT"), ("mail", "MAIL"), ("data", "DATA"), ("ehlo", "EHLO"), ("helo", "EHLO"))


class CourierDetector:
    """Courier's ``UNDELIVERABLE MAIL`` / ``DELAYS IN DELIVERING YOUR MESSAGE`` text."""

    name = "courier"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not (_SUBJECT.match(mail.subject) or mail.header("Message-ID").startswith("<courier.") or "courier mail server" in mail.sender):
            return None
        action = None
        blocks: list[tuple[str, list[str]]] = []
        for line in mail.lines:
            text = line.strip()
            if action is None:
                action = next((a for title, a in _TITLES if text == title), None)
                continue
            if _RULE.match(text) and blocks:
                break
            if m := _RECIPIENT.match(text):
                blocks.append((m.group(1), []))
            elif blocks and text:
                blocks[-1][1].append(text)
        return [_facts(address, details, action or "failed") for address, details in blocks] or None


def _facts(address: str, details: list[str], action: str) -> RecipientFacts:
    remote = command = None
    replies: list[str] = []
    other: list[str] = []
    for text in details:
        if text.startswith(">>>"):
            verb = text[3:].strip().lower()
            command = next((c for word, c in _COMMANDS if verb.startswith(word)), command)
        elif text.startswith("<<<"):
            replies.append(text[3:].strip())
        elif (m := _HOST.match(text)) and remote is None:
            remote = m.group(1)
        else:
            other.append(text)
    diagnostic = unfold_reply(replies or other) or None
    return reply_facts(
        address,
        diagnostic,
        action=action,
        remote_mta=remote,
        command=command,
    )

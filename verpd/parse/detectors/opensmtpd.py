"""OpenSMTPD's delivery status notifications, read from their text.

OpenSMTPD (smtpd/bounce.c) sends ``From: Mailer Daemon <MAILER-DAEMON@host>`` and
``Subject: Delivery status notification: error`` (``: failed``, ``: delayed``). Older
releases send only text; newer ones add a ``message/delivery-status`` part, whose
fields the standard DSN detector reads first. The text (bounce.c's NOTICE_INTRO and
notice strings) is indented by four spaces, the recipients are not::

        Hi!

        This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.

        An error has occurred while attempting to deliver a message for
        the following list of recipients:

    bob@example.com: 550 5.1.1 <bob@example.com>... User unknown

        Below is a copy of the original message:

Each ``address: text`` line gives the diagnostic: the remote server's reply, or
OpenSMTPD's own words (mta.c / queue.c: ``Domain does not exist``, ``Envelope
expired``, ``No MX found for domain``, ...). ``A message is delayed for more than %s
for the following list of recipients`` marks a delay warning, ``Your message was
successfully delivered`` (``relayed``) a success notice.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, reply_facts

_INTRO = "This is the MAILER-DAEMON, please DO NOT REPLY"
_COPY = re.compile(r"^\s*Below is a copy of the original message", re.IGNORECASE)
_RECIPIENT = re.compile(r"^(\S+@[^\s@]+?):\s+(.*)$")
_NOTICES = (("is delayed for more than", "delayed"), ("successfully delivered", "delivered"), ("was relayed", "relayed"), ("error has occurred", "failed"))


class OpenSmtpdDetector:
    """OpenSMTPD's ``This is the MAILER-DAEMON, please DO NOT REPLY`` notification."""

    name = "opensmtpd"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.subject.lower().startswith("delivery status notification") and "mailer daemon <" not in mail.sender:
            return None
        if _INTRO.encode() not in mail.raw:
            return None
        found: list[RecipientFacts] = []
        action = "failed"
        started = False
        for line in mail.lines:
            if _COPY.match(line):
                break
            if not started:
                started = _INTRO in line
                continue
            if line[:1].isspace():  # the letter's own (indented) text: which notice follows
                lowered = line.lower()
                action = next((a for phrase, a in _NOTICES if phrase in lowered), action)
                continue
            if (m := _RECIPIENT.match(line.strip())) and ADDRESS.fullmatch(m.group(1)):
                diagnostic = " ".join(m.group(2).split()) or None
                found.append(
                    reply_facts(
                        m.group(1),
                        diagnostic,
                        action=action,
                    )
                )
        return found or None

"""An unidentified MTA (Sisimai's "X6"): ``We had trouble delivering your message``.

Sent with ``Subject: There was an error sending your mail``; the text part reads::

    We had trouble delivering your message. Full details follow:

    Subject: 'Hello'
    Date: 'Thu, 29 Apr 2012 23:34:45 +0000'

    1 error(s):

    SMTP Server <mx.example.com> rejected recipient <bob@example.com> (Error following
    RCPT command). It responded as follows: [550 5.1.1 User unknown]

and the original's headers follow as an attachment (``The attachment contains the
original mail headers``). The bracketed response is the diagnostic; ``SMTP Server
<host>`` is the remote MTA and ``Error following RCPT command`` the command. A line
``The following recipients returned permanent errors: a@example.com, b@example.com.``
names recipients without detail.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import find_addresses
from verpd.smtp import find_reply_code, find_status_beside_ips

_START = "We had trouble delivering your message"
_END = "The attachment contains the original mail headers"
_REJECTED = re.compile(r"SMTP Server <([^>]*)> rejected recipient <([^>]+)>(.*)", re.IGNORECASE)
_COMMAND = re.compile(r"Error following (\w+) command", re.IGNORECASE)
_RESPONSE = re.compile(r"responded as follows:\s*\[(.*)\]", re.IGNORECASE)
_LISTED = re.compile(r"^The following recipients returned permanent errors:\s*(.*)", re.IGNORECASE)
_COMMANDS = {"RCPT": "RCPT", "MAIL": "MAIL", "DATA": "DATA", "EHLO": "EHLO", "HELO": "EHLO"}


class X6Detector:
    """The ``There was an error sending your mail`` letter."""

    name = "x6"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.subject.startswith("There was an error sending your mail"):
            return None
        text = "\n".join(mail.lines)
        start = text.find(_START)
        if start < 0:
            return None
        end = text.find(_END, start)
        paragraphs = [
            chunk
            for p in text[start : end if end > 0 else None].split("\n\n")
            for chunk in re.split(r"(?=SMTP Server <)", " ".join(p.split()))
            if chunk
        ]
        found: dict[str, RecipientFacts] = {}
        for paragraph in paragraphs:
            if m := _REJECTED.search(paragraph):
                command = _COMMAND.search(m.group(3))
                response = _RESPONSE.search(m.group(3))
                diagnostic = response.group(1).strip() if response else paragraph
                found.setdefault(
                    m.group(2).lower(),
                    RecipientFacts(
                        address=m.group(2),
                        action="failed",
                        status=find_status_beside_ips(diagnostic),
                        reply_code=find_reply_code(diagnostic),
                        diagnostic=diagnostic or None,
                        remote_mta=m.group(1) or None,
                        command=_COMMANDS.get(command.group(1).upper()) if command else None,
                    ),
                )
            elif m := _LISTED.match(paragraph):
                for address in find_addresses(m.group(1)):
                    found.setdefault(address.lower(), RecipientFacts(address=address, action="failed"))
        return list(found.values()) or None

"""Gmail / Google Workspace notices whose delivery-status part carries no recipient.

Gmail's current notices are multipart/report messages from
``mailer-daemon@googlemail.com`` whose text part opens with a starred headline and
ends with the remote server's answer:

    ** Address not found **

    Your message wasn't delivered to bob@example.com because the address couldn't be
    found, or is unable to receive mail.

    The response from the remote server was:
    550 5.1.1 The email account that you tried to reach does not exist. ...

The sender is Google's MAILER-DAEMON (or a MAILER-DAEMON whose notice links to
support.google.com, when a relay rewrote the sender). Usually the
``message/delivery-status`` part has the recipient fields and the DSN
detector reads them. When the failure happened before any recipient was tried, for
example a "Send mail as" alias whose own SMTP server refused it (``** Message not
delivered **`` ... "The response was: ... Smtp server does not advertise AUTH
capability"), the delivery-status part is empty. The message then failed for every
recipient: the address the text names if it names one, else the addresses of the
returned original's To and Cc (Sisimai's Lhost/GoogleWorkspace.pm reads the To:
header too; Gmail's X-Failed-Recipients was seen naming another address than the
original was sent to, so it is only the last resort). The diagnostic is the
explanation followed by the server's response. A "** Delivery incomplete **" notice
(Gmail "will retry") gives the action "delayed".
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import find_addresses, mailboxes
from verpd.smtp import clean_diagnostic

_HEADLINE = re.compile(r"^\s*\*\*\s*(\S.*?)\s*\*\*\s*$")
_RESPONSE = re.compile(r"^\s*The response (?:from the remote server )?was:\s*(.*)$", re.IGNORECASE)
_DELAYED = re.compile(r"\*\*\s*Delivery incomplete|\bwill (?:keep trying|retry)\b", re.IGNORECASE)
_SKIP = re.compile(r"^\s*(?:Learn more|LEARN MORE)\b")


class GoogleWorkspaceDetector:
    """Gmail's "** Message not delivered **" notices without recipient fields in their DSN part."""

    name = "googleworkspace"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "mailer-daemon@" not in mail.sender or b"** " not in mail.raw:
            return None
        if "mailer-daemon@google" not in mail.sender and "support.google.com" not in mail.text:
            return None
        lines = mail.lines
        start = next((i for i, line in enumerate(lines[:100]) if _HEADLINE.match(line)), None)
        if start is None:
            return None
        explanation: list[str] = []
        response: list[str] = []
        for line in lines[start + 1 :]:
            if m := _RESPONSE.match(line):
                response.append(m.group(1))
                continue
            if response:
                if not line.strip() and any(r.strip() for r in response):
                    break
                response.append(line)
            elif line.strip() and not _SKIP.match(line):
                explanation.append(line.strip())
        mentioned = find_addresses(" ".join(explanation))
        own = _own_addresses(mail) if mentioned else set()
        named = [a for a in mentioned if a.lower() not in own]
        addresses = named or _original_recipients(mail) or _failed_header(mail)
        if not addresses:
            return None
        diagnostic = clean_diagnostic(" ".join(explanation + [r.strip() for r in response])) or None
        headline = lines[start] + " " + " ".join(explanation)
        action = "delayed" if _DELAYED.search(headline) else "failed"
        return [RecipientFacts(address=address, action=action, diagnostic=diagnostic) for address in dict.fromkeys(addresses)]


def _own_addresses(mail: Mail) -> set[str]:
    """The sender's own addresses (the notice's To, the original's From), never a failed recipient."""
    values = mail.headers("To")
    if mail.returned is not None:
        values += [header_text(v) for v in mail.returned.get_all("From") or []]
    return {address.lower() for _, address in mailboxes(values) if address}


def _original_recipients(mail: Mail) -> list[str]:
    if mail.returned is None:
        return []
    values = [header_text(v) for name in ("To", "Cc") for v in mail.returned.get_all(name) or []]
    return [address for _, address in mailboxes(values) if "@" in address]


def _failed_header(mail: Mail) -> list[str]:
    return [a.strip().strip("<>") for value in mail.headers("X-Failed-Recipients") for a in value.split(",") if "@" in a]

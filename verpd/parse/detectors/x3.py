"""An unidentified MTA (Sisimai's "X3"): a boxed ``Delivery Status Notification`` letter.

Sent as ``From: Mail Delivery System <...>``, ``Subject: Delivery status
notification``, a multipart whose text part draws rules of ``=`` signs::

    ============================================================================
          This is an automatically generated Delivery Status Notification.

    Delivery to the following recipients failed permanently:

       * bob@example.com

    ============================================================================
                                 Technical details:

    SMTP:RCPT host 192.0.2.8: 553 5.3.0 <bob@example.com>... No such user here

Recipients are the ``* address`` lines; each ``SMTP:<command> host <host>: <reply>``
line (or ``Routing: ...``) is a diagnostic, tied to the recipient it names, else to
the recipient it follows in order.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, address_words
from verpd.smtp import find_reply_code, find_status_beside_ips

_MARKER = "This is an automatically generated Delivery Status Notification"
_RECIPIENT = re.compile(r"^\*\s+<?(\S+@[^\s>@]+)>?\s*$")
_SMTP = re.compile(r"^SMTP:(\w+)\s+host\s+(\S+?):\s*(.*)$", re.IGNORECASE)
_ROUTING = re.compile(r"^Routing:\s*(.*)$", re.IGNORECASE)
_COMMANDS = {"RCPT": "RCPT", "MAIL": "MAIL", "DATA": "DATA", "EHLO": "EHLO", "HELO": "EHLO", "CONN": "CONN"}


class X3Detector:
    """The ``This is an automatically generated Delivery Status Notification`` box letter."""

    name = "x3"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.subject.lower().startswith("delivery status notification") or _MARKER.encode() not in mail.raw:
            return None
        addresses: list[str] = []
        details: list[tuple[str | None, str | None, str]] = []  # (command, host, text)
        delayed = False
        for line in mail.lines:
            text = line.strip()
            if (m := _RECIPIENT.match(text)) and ADDRESS.fullmatch(m.group(1)):
                addresses.append(m.group(1))
            elif m := _SMTP.match(text):
                details.append((_COMMANDS.get(m.group(1).upper()), m.group(2), m.group(3)))
            elif m := _ROUTING.match(text):
                details.append((None, None, text))
            elif "delayed" in text.lower() and "following recipients" in text.lower():
                delayed = True
        naming: dict[str, tuple[str | None, str | None, str]] = {}  # the first detail naming each address
        for d in details:
            for word in address_words(d[2]):
                naming.setdefault(word, d)
        found = []
        for i, address in enumerate(addresses):
            named = naming.get(address.lower())
            detail = named or (details[i] if i < len(details) else (details[-1] if details else None))
            command, host, diagnostic = detail if detail else (None, None, "")
            found.append(
                RecipientFacts(
                    address=address,
                    action="delayed" if delayed else "failed",
                    status=find_status_beside_ips(diagnostic),
                    reply_code=find_reply_code(diagnostic) if diagnostic else None,
                    diagnostic=" ".join(diagnostic.split()) or None,
                    remote_mta=host,
                    command=command,
                )
            )
        return found or None

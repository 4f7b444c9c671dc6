"""Digital Arts m-FILTER (mail security gateway, Japan) failure notices.

m-FILTER sends ``Subject: failure notice`` with ``X-Mailer: m-FILTER``. After a
Japanese preamble the report names the recipients one per line, then the remote
server's reply and the SMTP command it answered, under fixed dashed labels::

    bob@example.com

    -------server message
    550 5.1.1 unknown user <bob@example.com>

    -------SMTP command
    RCPT

    -------original message      (or "-------original mail info")

Every recipient of the report shares the server message. Layout as in Sisimai's
Lhost::mFILTER and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import lines_before, sole_address

_END = re.compile(r"^-{5,}original (?:message|mail info)", re.IGNORECASE)
_LABEL = re.compile(r"^-{5,}(server message|smtp command)\s*$", re.IGNORECASE)
_COMMAND = re.compile(r"^\s*(HELO|EHLO|MAIL|RCPT|DATA|CONN)\b", re.IGNORECASE)


class MFilterDetector:
    """m-FILTER "failure notice" reports."""

    name = "mfilter"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.header("X-Mailer") != "m-FILTER":
            return None
        addresses: list[str] = []
        message: list[str] = []
        command = None
        label = None
        for line in lines_before(mail.lines, _END):
            if m := _LABEL.match(line):
                label = m.group(1).lower()
                continue
            if label == "server message":
                if line.strip():
                    message.append(line.strip())
                elif message:
                    label = None
            elif label == "smtp command":
                if m := _COMMAND.match(line):
                    command = m.group(1).upper().replace("HELO", "EHLO")
                    label = None
            elif address := sole_address(line):
                addresses.append(address)
        diagnostic = " ".join(message) or None
        return [
            RecipientFacts(address=a, action="failed", diagnostic=diagnostic, command=command) for a in dict.fromkeys(addresses)
        ] or None

"""McAfee Email Gateway (formerly IronMail / MX Logic appliance) delivery status reports.

The appliance marks its mail ``X-NAI-Header: Modified by McAfee Email Gateway`` and
titles the report ``Delivery Status``. Its DSN part is often incomplete (an
``Original-Recipient: <bob@example.com>`` without a Final-Recipient, or no
Diagnostic-Code), so the DSN detector may find nobody; the text part always has::

        --- The following addresses had delivery problems ---

    <bob@example.com>   (550 5.1.1 <bob@example.com>... User unknown)

one line per recipient, the remote server's answer in parentheses. Layout as in
Sisimai's Lhost::McAfee and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import lines_between

_START = re.compile(r"^\s*-+\s*The following addresses had delivery problems\s*-+", re.IGNORECASE)
_RECIPIENT = re.compile(r"^\s*<([^<>\s]+@[^<>\s@]+)>\s+\((.*)\)\s*$")
_END = re.compile(r"^(?:-{5,}|Content-Type:)", re.IGNORECASE)


class McAfeeDetector:
    """McAfee Email Gateway "Delivery Status" reports read from their text part."""

    name = "mcafee"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "Modified by McAfee" not in mail.header("X-NAI-Header"):
            return None
        found = []
        for line in lines_between(mail.lines, _START, _END):
            if m := _RECIPIENT.match(line):
                found.append(RecipientFacts(address=m.group(1), action="failed", diagnostic=" ".join(m.group(2).split()) or None))
        return found or None

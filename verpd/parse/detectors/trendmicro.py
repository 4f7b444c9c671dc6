"""Trend Micro InterScan Messaging Security Suite / Vision One email security notifications.

InterScan sends its own notification (``From: postmaster@... ("InterScan
Notification")``, MIME boundary ``InterScan_NT_MIME_Boundary``, subject "Mail could not
be delivered") with one line per failed domain or recipient::

    Unable to deliver message to <bob@example.com> (and other recipients in the same domain).

or, when the remote server answered, a short transcript::

    Sent <<< RCPT TO:<bob@example.com>
    Received >>> 550 5.1.1 <bob@example.com>... User unknown

(localised versions keep the ``<<<`` / ``>>>`` arrows: one side is the command, the
other the reply). The diagnostic is the reply when there is one, else the "Unable
to deliver" line. Layout as in Sisimai's Lhost::InterScanMSS / Lhost::TrendMicro.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.smtp import find_command

_UNABLE = re.compile(r"Unable to deliver (?:the )?message to <([^<>\s]+@[^<>\s@]+)>", re.IGNORECASE)
_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s@]+)>")
# a label before the arrows ("Sent <<<", "Received >>>", or the localised words) tells
# InterScan's transcript from a Sendmail transcript that merely passed through it
_SENT = re.compile(r"^\s*Sent\s+<<<\s*(.*)$|^\s*\S+\s+>>>\s*((?:HELO|EHLO|MAIL|RCPT|DATA)\b.*)$", re.IGNORECASE)
_RECEIVED = re.compile(r"^\s*Received\s+>>>\s*(.*)$|^\s*\S+\s+<<<\s*(\d{3}\b.*)$", re.IGNORECASE)


class TrendMicroDetector:
    """InterScan MSS notifications ("Unable to deliver message to <...>")."""

    name = "trendmicro"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not (
            "interscan" in mail.sender
            or "InterScan" in mail.header("Content-Type")
            or b"from InterScan Messaging Security" in mail.raw  # the notice's banner, not a Received hop
        ):
            return None
        found: dict[str, dict[str, str | None]] = {}
        current: dict[str, str | None] | None = None
        for line in mail.lines:
            if m := _UNABLE.search(line):
                current = found.setdefault(m.group(1), {"unable": None, "reply": None, "command": None})
                current["unable"] = current["unable"] or " ".join(line.split()).removeprefix("Reason: ").strip()
                continue
            if m := _SENT.match(line):
                sent = m.group(1) or m.group(2) or ""
                address = _ANGLE_ADDRESS.search(sent)
                if address:
                    current = found.setdefault(address.group(1), {"unable": None, "reply": None, "command": None})
                if current is not None:
                    current["command"] = _command(sent)
                continue
            if (m := _RECEIVED.match(line)) and current is not None:
                current["reply"] = current["reply"] or (m.group(1) or m.group(2) or "").strip() or None
        return [
            RecipientFacts(
                address=address,
                action="failed",
                diagnostic=facts["reply"] or facts["unable"],
                command=facts["command"],
            )
            for address, facts in found.items()
        ] or None


def _command(sent: str) -> str | None:
    word = sent.split(":")[0].split()[0].upper() if sent.split() else ""
    if word in ("HELO", "EHLO"):
        return "EHLO"
    return word if word in ("MAIL", "RCPT", "DATA") else find_command(sent)

"""Websense SurfControl E-mail Filter reports.

SurfControl marks its mail ``X-Mailer: SurfControl E-mail Filter`` (and
``X-SEF-Processed:``). Its report is a transcript of the delivery attempts; when its
DSN part is missing or empty the text still says::

    Your message could not be sent.
    A transcript of the attempts to send the message follows.
    The number of attempts made: 1
    Addressed To: bob@example.com

    Thu, 29 Apr 2010 23:34:45 +0900
    Failed to send to identified host,
    bob@example.com: [192.0.2.5], 550 bob@example.com... No such user
    --- Message non-deliverable.

The ``address: [host], reply`` line gives the remote host and its reply. Layout as
in Sisimai's Lhost::SurfControl and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail

_ADDRESSED = re.compile(r"^\s*Addressed To:\s*<?([^\s<>]+@[^\s<>@]+?)>?\s*$", re.IGNORECASE)
_ATTEMPT = re.compile(r"^\s*<?([^\s<>]+@[^\s<>@]+?)>?:\s*\[([^\]]+)\],\s*(.+)$")
_END = re.compile(r"^(?:Content-Type:|Received:|Return-Path:)", re.IGNORECASE)


class SurfControlDetector:
    """SurfControl E-mail Filter transcripts ("Your message could not be sent.")."""

    name = "surfcontrol"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.header("X-Mailer") != "SurfControl E-mail Filter":
            return None
        found: dict[str, RecipientFacts] = {}
        for line in mail.lines:
            if _END.match(line):
                break
            if m := _ADDRESSED.match(line):
                found.setdefault(m.group(1).lower(), RecipientFacts(address=m.group(1), action="failed"))
            elif m := _ATTEMPT.match(line):
                found[m.group(1).lower()] = RecipientFacts(
                    address=m.group(1), action="failed", diagnostic=" ".join(m.group(3).split()), remote_mta=m.group(2).strip()
                )
        return list(found.values()) or None

"""QUALITIA Active!hunter (anti-spam gateway, Japan) failure notices.

Active!hunter marks its reports ``X-AHMAILID:`` (and MIME boundaries
``----=_Active!Hunter_...``); the Subject is ``FAILURE NOTICE : <original subject>``.
The body imitates Sendmail's::

      ----- The following addresses had permanent fatal errors -----

    >>> bob@example.com <bob@example.com>

      ----- Transcript of session follows -----
    550 sorry, no mailbox here by that name (#5.1.1 - chkusr)

The first transcript line is the remote server's reply, shared by the recipients
listed. Layout as in Sisimai's Lhost::Activehunter and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS

_ERRORS = re.compile(r"^\s*-+\s*The following addresses had permanent fatal errors\s*-+", re.IGNORECASE)
_TRANSCRIPT = re.compile(r"^\s*-+\s*Transcript of session follows\s*-+", re.IGNORECASE)
_RECIPIENT = re.compile(r"^>>>\s*(.+)$")


class ActiveHunterDetector:
    """Active!hunter failure notices (``X-AHMAILID``)."""

    name = "activehunter"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.msg.get("X-AHMAILID") is None:
            return None
        addresses: list[str] = []
        reply: list[str] = []
        section = None
        for line in mail.lines:
            if _ERRORS.match(line):
                section = "errors"
            elif _TRANSCRIPT.match(line):
                section = "transcript"
            elif section == "errors" and (m := _RECIPIENT.match(line)):
                found = ADDRESS.search(m.group(1).split()[-1].strip("<>")) or ADDRESS.search(m.group(1))
                if found:
                    addresses.append(found.group(0))
            elif section == "transcript":
                if line.strip() and line.strip()[0].isalnum():
                    reply.append(line.strip())
                elif reply and not line.strip():
                    break
        diagnostic = " ".join(reply) or None
        return [RecipientFacts(address=a, action="failed", diagnostic=diagnostic) for a in dict.fromkeys(addresses)] or None

"""An unidentified MTA (Sisimai's "X1"): ``---The following addresses had delivery errors---``.

Seen with ``From: "Mail Deliver System" <MAILER-DAEMON@host>`` (sic) and ``Subject:
Returned Mail: <reason>`` (``Warning--Could not send mail for past 8.5 hours`` for a
delay warning); the text part reads::

    The original message was received at Thu, 29 Apr 2011 23:34:45 +0900 (JST)
    from alice@example.org

    ---The following addresses had delivery errors---

    bob@example.com [User unknown]

Each ``address [text]`` line names a recipient; the bracketed text is all the reason
it gives, and is the diagnostic.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS

_MARKER = "---The following addresses had delivery errors---"
_RECIPIENT = re.compile(r"^<?(\S+@[^\s>@]+)>?\s+\[(.*)\]\s*$")


class X1Detector:
    """The ``---The following addresses had delivery errors---`` letter."""

    name = "x1"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if _MARKER.encode() not in mail.raw:
            return None
        action = "delayed" if mail.subject.lower().startswith("warning") else "failed"
        found: list[RecipientFacts] = []
        started = False
        # A text part whose Content-Type folds without ";" is not read as text/plain: then read the raw lines.
        lines = mail.lines if _MARKER in mail.text else mail.raw.decode("utf-8", "replace").splitlines()
        for line in lines:
            text = line.strip()
            if not started:
                started = text == _MARKER
                continue
            if text.startswith("---") and found:
                break
            if (m := _RECIPIENT.match(text)) and ADDRESS.fullmatch(m.group(1)):
                found.append(RecipientFacts(address=m.group(1), action=action, diagnostic=" ".join(m.group(2).split()) or None))
        return found or None

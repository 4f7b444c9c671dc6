"""Zoho Mail bounces.

Zoho marks its mail ``X-ZohoMail:`` (``X-Mailer: Zoho Mail``) and writes, after
"This message was created automatically by mail delivery software.", one line per
recipient with the remote server's reply code and text, then the original's headers
inline::

    bob@example.com Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <bob@example.com>... User unknown
    carol@example.net Error, ERROR_CODE :421, ERROR_CODE :, Host not reachable.

or, in newer reports, ``[Status: Error, Address: <bob@example.com>, ResponseCode 421, , Host not
reachable.]``. The first ``ERROR_CODE`` (``ResponseCode``) is the SMTP reply code; the
diagnostic is the rest of the line as written. Layout as in Sisimai's Lhost::Zoho and
its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail

_LINE = re.compile(r"^\s*<?(?P<address>[^\s<>@]+@[^\s<>]+?)>?\s+(?P<rest>.*ERROR_CODE\s*:.*)$")
_BRACKETED = re.compile(r"^\s*\[Status:\s*(?P<rest>.*?Address:\s*<(?P<address>[^<>\s]+@[^<>\s@]+)>.*?)\]?\s*$", re.IGNORECASE)
_CODE = re.compile(r"(?:ERROR_CODE\s*:|ResponseCode)\s*([2-5]\d\d)\b", re.IGNORECASE)
_END = re.compile(r"^(?:Received|Message-ID|Return-Path)\s*:", re.IGNORECASE)


class ZohoDetector:
    """Zoho Mail bounces (``X-ZohoMail``)."""

    name = "zoho"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.msg.get("X-ZohoMail") is None:
            return None
        found: list[RecipientFacts] = []
        for line in mail.lines:
            if _END.match(line):
                break
            m = _LINE.match(line) or _BRACKETED.match(line)
            if not m:
                continue
            rest = " ".join(m.group("rest").split())
            code = _CODE.search(rest)
            found.append(
                RecipientFacts(address=m.group("address"), action="failed", diagnostic=rest, reply_code=int(code.group(1)) if code else None)
            )
        return found or None

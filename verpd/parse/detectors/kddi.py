"""au by KDDI (auone-net.jp, dion.ne.jp) mail server notices.

KDDI's notices come from ``no-reply@<host>.dion.ne.jp`` (``Reply-To:
no-reply@app.auone-net.jp``), handed over by an ``auone-net.jp`` (or EZweb / au.com)
host, and say, per recipient::

    Your mail sent on: Thu, 29 Apr 2010 11:04:47 +0900
         Could not be delivered to: <bob@example.ne.jp>
         As their mailbox is full.

("Your mail attempted to be delivered on:" for delays). The indented lines after the
address are the reason ("As their mailbox is full.", "Due to the following SMTP relay
error", "As the remote domain doesnt exist."). Layout as in Sisimai's Lhost::KDDI
and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail

_RECIPIENT = re.compile(r"^\s*Could not be delivered to:\s*<([^<>\s]+@[^<>\s@]+)>", re.IGNORECASE)
_START = re.compile(r"^\s*Your mail (?:sent on|attempted to be delivered on):", re.IGNORECASE)
_END = re.compile(r"^(?:-{5,}|Content-Type:|Received:|Return-Path:)", re.IGNORECASE)


class KddiDetector:
    """au by KDDI "Could not be delivered to" notices."""

    name = "kddi"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _is_kddi(mail):
            return None
        found: list[dict] = []
        for line in mail.lines:
            if _END.match(line):
                break
            if m := _RECIPIENT.match(line):
                found.append({"address": m.group(1), "reason": []})
            elif _START.match(line) or not line.strip():
                continue
            elif found and line[:1].isspace():
                found[-1]["reason"].append(line.strip())
        return [RecipientFacts(address=f["address"], action="failed", diagnostic=" ".join(f["reason"]) or None) for f in found] or None


def _is_kddi(mail: Mail) -> bool:
    sender, reply_to = mail.sender, mail.header("Reply-To").lower()
    if ("no-reply@" in sender and ".dion.ne.jp" in sender) or "no-reply@app.auone-net.jp" in reply_to:
        return True
    return any(".auone-net.jp" in r or "ezweb.ne.jp (" in r or ".au.com (" in r for r in mail.headers("Received"))

"""Exim's non-delivery reports, identified by ``X-Failed-Recipients``.

Exim adds ``X-Failed-Recipients:`` (comma-separated) to the bounces it generates
for permanent failures only (Exim spec, ch. "Message processing": bounce messages;
BounceHandler relied on the same fact). Older Exim sends a plain-text report where
each failed address is followed by indented lines with the remote server's reply:

    bob@example.com
      host mx.example.com [192.0.2.1]
      SMTP error from remote mail server after RCPT TO:<bob@example.com>:
      550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown

Those indented lines become the recipient's diagnostic.
"""

from __future__ import annotations

import re
from email.message import Message

from verpd.model import RecipientFacts
from verpd.parse.message import find_reply_code, find_status, header_text, part_text, walk_report

_HOST = re.compile(r"^host\s+(\S+)", re.IGNORECASE)


class EximDetector:
    """Exim bounces carrying X-Failed-Recipients (plain text, no DSN part)."""

    name = "exim"

    def detect(self, msg: Message) -> list[RecipientFacts] | None:
        addresses = []
        for value in msg.get_all("X-Failed-Recipients") or []:
            addresses += [a.strip().strip("<>") for a in header_text(value).split(",") if a.strip()]
        if not addresses:
            return None
        body = _report_text(msg)
        return [_facts(address, body) for address in dict.fromkeys(addresses)]


def _report_text(msg: Message) -> list[str]:
    """The lines of the human-readable report, up to the returned copy of the message."""
    for part in walk_report(msg):
        if part.get_content_type() == "text/plain":
            lines = part_text(part).splitlines()
            for i, line in enumerate(lines):
                if line.startswith("------ This is a copy of the message"):
                    return lines[:i]
            return lines
    return []


def _facts(address: str, lines: list[str]) -> RecipientFacts:
    detail: list[str] = []
    for i, line in enumerate(lines):
        if line.strip().strip("<>").lower() == address.lower():
            for follow in lines[i + 1 :]:
                if not follow.strip() or not follow[:1].isspace():
                    break
                detail.append(follow.strip())
            break
    remote = next((m.group(1) for d in detail if (m := _HOST.match(d))), None)
    replies = [d for d in detail if find_reply_code(d)]
    diagnostic = " ".join(replies or detail) or None
    return RecipientFacts(
        address=address,
        action="failed",
        status=find_status(diagnostic or ""),
        reply_code=find_reply_code(replies[0]) if replies else None,
        diagnostic=diagnostic,
        remote_mta=remote,
    )

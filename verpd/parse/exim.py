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

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.mail import Mail
from verpd.parse.text import find_command, find_reply_code, find_status

_HOST = re.compile(r"^host\s+(\S+)", re.IGNORECASE)
_COPY = re.compile(r"^-+ This is a copy of the message", re.IGNORECASE)


class EximDetector:
    """Exim bounces carrying X-Failed-Recipients (plain text, no DSN part)."""

    name = "exim"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        addresses = []
        for value in mail.headers("X-Failed-Recipients"):
            addresses += [a.strip().strip("<>") for a in value.split(",") if a.strip()]
        if not addresses:
            return None
        lines = _report_lines(mail.lines)
        return [_facts(address, lines) for address in dict.fromkeys(addresses)]


def _report_lines(lines: list[str]) -> list[str]:
    """The lines of the report, up to the returned copy of the message."""
    for i, line in enumerate(lines):
        if _COPY.match(line):
            return lines[:i]
    return lines


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
        command=find_command(" ".join(detail)),
    )

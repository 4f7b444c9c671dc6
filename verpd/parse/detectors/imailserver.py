"""Ipswitch (Progress) IMail Server non-delivery reports.

IMail's SMTP32 service marks its mail ``X-Mailer: <SMTP32 vX.Y>`` and titles the report
``Undeliverable Mail``. The report is plain text with one line per failed recipient,
``<what happened>: <address>`` or ``undeliverable to <address>``::

    Unknown user: bob@example.com
    Delivery failed 20 attempts: carol@example.net
    User mailbox exceeds allowed size: dave@example.org

optionally followed by the remote server's multi-line reply::

    Body of message generated response:
    550-Rejected: blacklisted URL in message
    550 See http://www.example.org/

and the original after ``Original message follows.``. The diagnostic is the remote
reply that follows the recipient's line (continuation codes removed, on one line),
else the recipient's line itself. Layout as in Sisimai's Lhost::IMailServer and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, lines_before

_END = re.compile(r"^\s*Original message follows", re.IGNORECASE)
_RECIPIENT = re.compile(r"^\s*(?:(?P<what>[A-Za-z][^:@]{2,80}):\s*<?(?P<a1>[^\s<>]+@[^\s<>@]+?)>?|undeliverable to\s+<?(?P<a2>[^\s<>]+@[^\s<>@]+?)>?)\s*$", re.IGNORECASE)
_RESPONSE = re.compile(r"^\s*Body of message generated response:", re.IGNORECASE)
_CONTINUED = re.compile(r"^([245]\d\d)[- ]\s*")
_NOT_RECIPIENT = re.compile(r"^(?:to|cc|bcc|from|date|subject|reply-to|sender|x-[\w-]+)$", re.IGNORECASE)


class IMailServerDetector:
    """IMail Server (SMTP32) "Undeliverable Mail" reports."""

    name = "imailserver"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not (mail.header("X-Mailer").startswith("<SMTP32 v") or mail.subject.strip() == "Undeliverable Mail"):
            return None
        lines = lines_before(mail.lines, _END)
        recipients: list[list] = []  # [address, its line, the response that follows it]
        orphan: list[str] = []  # a response written before any recipient line: everyone's
        response: list[str] | None = None
        for line in lines:
            if _RESPONSE.match(line):
                response = []
                if recipients and not recipients[-1][2]:
                    recipients[-1][2] = response
                else:
                    orphan = response
                continue
            if response is not None:
                if line.strip():
                    response.append(line.strip())
                    continue
                if response:
                    response = None
                continue
            m = _RECIPIENT.match(line)
            if m and not (m.group("what") and _NOT_RECIPIENT.match(m.group("what").strip())):
                address = m.group("a1") or m.group("a2")
                if ADDRESS.fullmatch(address):
                    recipients.append([address, " ".join(line.split()), None])
        return [
            RecipientFacts(address=address, action="failed", diagnostic=_one_reply(reply or orphan) or text)
            for address, text, reply in recipients
        ] or None


def _one_reply(lines: list[str]) -> str:
    """``550-a`` / ``550 b`` → ``550 a b``: a multi-line SMTP reply on one line."""
    if not lines:
        return ""
    first = _CONTINUED.match(lines[0])
    if not first:
        return " ".join(lines)
    return first.group(1) + " " + " ".join(_CONTINUED.sub("", line, count=1) for line in lines)

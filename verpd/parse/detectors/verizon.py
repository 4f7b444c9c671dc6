"""Verizon Wireless (vtext.com SMS gateway, vzwpix.com MMS gateway) bounces.

vtext.com bounces come from ``post_master@vtext.com``::

    Error: Invalid user address

    Error message below:
    550 - Requested action not taken: no such user here

    Message details:
      Subject: ...
      MAIL FROM: alice@example.org
      RCPT TO: 5555550100@vtext.com

(a relay may rewrite the domain: ``post_master@`` with a hop through vtext.com also counts).
vzwpix.com (MMS) bounces come from ``sysadmin@...vzwpix.com``::

    Message could not be delivered to mobile.
    Error: No valid recipients for this MM

    Original Message:
    To: 5555550100@vzwpix.com

The recipient is the ``RCPT TO:`` (or the original's ``To:``) address; the diagnostic
is the ``Error:`` text followed by the remote reply line. Verizon's MIME headers fold
without indentation (the multipart boundary is lost), so the raw body is read when
the decoded text has no ``Error:`` line. Layout as in Sisimai's
Lhost::Verizon and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail, raw_body_lines
from verpd.parse.message.text import ADDRESS

_ERROR = re.compile(r"^\s*Error:\s*(.+)$", re.IGNORECASE)
_REPLY = re.compile(r"^\s*([245]\d\d)\s*[- ]\s*\S")
_RCPT = re.compile(r"^\s*(?:RCPT TO|To):\s*(.+)$", re.IGNORECASE)
_DETAILS = re.compile(r"^\s*(?:Message details|Original Message):", re.IGNORECASE)


class VerizonDetector:
    """Verizon Wireless SMS/MMS gateway bounces."""

    name = "verizon"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _is_verizon(mail):
            return None
        error: list[str] = []
        reply_code = None
        addresses: list[str] = []
        details = False
        lines = mail.lines if any(_ERROR.match(line) for line in mail.lines) else raw_body_lines(mail)
        for line in lines:
            if _DETAILS.match(line):
                details = True
            elif details and (m := _RCPT.match(line)):
                addresses += [a.group(0) for a in ADDRESS.finditer(m.group(1))]
            elif not details and (m := _ERROR.match(line)):
                error.append(m.group(1).strip())
            elif not details and (m := _REPLY.match(line)):
                error.append(line.strip())
                reply_code = reply_code or int(m.group(1))
        diagnostic = " ".join(error) or None
        return [
            RecipientFacts(address=a, action="failed", diagnostic=diagnostic, reply_code=reply_code) for a in dict.fromkeys(addresses)
        ] or None


def _is_verizon(mail: Mail) -> bool:
    sender = mail.sender
    if "post_master@vtext.com" in sender or ("sysadmin@" in sender and ".vzwpix.com" in sender):
        return True
    # the gateway's sender local part, with the message handed over by a vtext.com / vzwpix.com host
    return ("post_master@" in sender or "sysadmin@" in sender) and any(
        ".vtext.com" in r or ".vzwpix.com" in r for r in mail.headers("Received")
    )

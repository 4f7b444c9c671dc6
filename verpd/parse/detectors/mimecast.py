"""Mimecast (email security gateway) delivery failure notifications.

Mimecast's notices have ``Subject: [Postmaster] Email Delivery Failure`` and
Message-IDs ``@...mimecast.lan``. Their DSN part writes its field names with a blank
before the colon (``Final-Recipient : rfc/822;bob@example.com``), which no DSN reader
accepts, so the text part is read::

    This is a delivery failure notification message indicating that
    an email you addressed to email address :
    -- bob@example.com

    could not be delivered. The problem appears to be :
    -- Recipient email address is possibly incorrect

    Additional information follows :
    -- 5.1.1 SMTP; 550 5.1.1 User unknown

Each ``-- address`` line starts a recipient; the other ``-- `` lines are its problem
and the remote server's answer, which together are the diagnostic (the answer
first). Layout as in Sisimai's Lhost::Mimecast (p5-sisimai 5.5).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import sole_address
from verpd.smtp import clean_diagnostic

_ITEM = re.compile(r"^\s*--\s+(\S.*)$")
_ADDITIONAL = re.compile(r"^\s*Additional information", re.IGNORECASE)


class MimecastDetector:
    """Mimecast "Email Delivery Failure" notifications."""

    name = "mimecast"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "Email Delivery Failure" not in mail.subject and ".mimecast.lan>" not in mail.header("Message-ID"):
            return None
        found: list[dict] = []
        additional = False
        for line in mail.lines:
            if _ADDITIONAL.match(line):
                additional = True
                continue
            m = _ITEM.match(line)
            if not m:
                continue
            item = m.group(1).strip()
            if " " not in item and (address := sole_address(item)):
                found.append({"address": address, "problem": [], "answer": []})
                additional = False
            elif found:
                found[-1]["answer" if additional else "problem"].append(item)
        return [
            RecipientFacts(
                address=f["address"], action="failed", diagnostic=clean_diagnostic(" ".join(f["answer"] + f["problem"])) or None
            )
            for f in found
        ] or None

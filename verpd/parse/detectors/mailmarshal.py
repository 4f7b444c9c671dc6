"""Trustwave (Marshal) MailMarshal SMTP / Secure Email Gateway reports.

MailMarshal titles its report ``Undeliverable Mail: "<original subject>"`` and writes::

    Your message:
       From:    alice@example.org
       Subject: Quarterly report

    Could not be delivered because of

    550 5.1.1 User unknown

    The following recipients were affected:
        bob@example.com

    Additional Information
    ======================
    Original Sender:    <alice@example.org>
    Sender-MTA:         <192.0.2.10>
    Remote-MTA:         <192.0.2.20>
    Reporting-MTA:      <relay.example.org>

The text between "Could not be delivered because of" and the recipient list is the
reason (the remote reply), shared by every recipient listed. Layout as in Sisimai's
Lhost::MailMarshalSMTP and Trustwave's MailMarshal documentation (NDR templates).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import sole_address

_BECAUSE = re.compile(r"^\s*Could not be delivered because of", re.IGNORECASE)
_AFFECTED = re.compile(r"^\s*The following recipients? (?:were|was) affected", re.IGNORECASE)
_INFO = re.compile(r"^\s*(Remote-MTA|Reporting-MTA)\s*:\s*<?([^<>\s]+)>?", re.IGNORECASE)
_END = re.compile(r"^\s*(?:Additional Information|\+{10,}|={10,})", re.IGNORECASE)


class MailMarshalDetector:
    """MailMarshal "Undeliverable Mail" reports."""

    name = "mailmarshal"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.subject.startswith('Undeliverable Mail: "'):
            return None
        reason: list[str] = []
        addresses: list[str] = []
        info: dict[str, str] = {}
        section = None
        for line in mail.lines:
            if _BECAUSE.match(line):
                section = "reason"
            elif _AFFECTED.match(line):
                section = "recipients"
            elif m := _INFO.match(line):
                info.setdefault(m.group(1).lower(), m.group(2))
            elif section == "recipients" and _END.match(line):
                section = "info"
            elif section == "reason" and line.strip():
                reason.append(line.strip())
            elif section == "recipients" and (address := sole_address(line)):
                addresses.append(address)
        diagnostic = " ".join(reason) or None
        return [
            RecipientFacts(
                address=a,
                action="failed",
                diagnostic=diagnostic,
                remote_mta=info.get("remote-mta"),
                reporting_mta=info.get("reporting-mta"),
            )
            for a in dict.fromkeys(addresses)
        ] or None

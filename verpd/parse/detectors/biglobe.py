"""BIGLOBE (and the Japanese cable ISPs on its platform: inacatv, tmtv, ttv) bounces.

The ISP's own notice comes from ``postmaster@<isp>.ne.jp`` with ``Subject: Returned mail:
...`` and two sections::

       ----- The following addresses had delivery problems -----
    bob@example.ne.jp

       ----- Non-delivered information -----
    The number of messages in recipient's mailbox exceeded the local limit.

Every address of the first section shares the text of the second. The "Non-delivered
information" title is BIGLOBE's own, so it identifies a notice relayed under another
postmaster address too. Layout as in
Sisimai's Lhost::Biglobe and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import sole_address

_BANNER = b"----- Non-delivered information -----"  # BIGLOBE's own section title, not Sendmail's
_PROVIDERS = ("@biglobe.ne.jp", "@inacatv.ne.jp", "@tmtv.ne.jp", "@ttv.ne.jp")
_ADDRESSES = re.compile(r"^\s*-+\s*The following addresses had delivery problems\s*-+", re.IGNORECASE)
_INFORMATION = re.compile(r"^\s*-+\s*Non-delivered information\s*-+", re.IGNORECASE)
_END = re.compile(r"^(?:-{2,}\S|Content-Type:|Received:)", re.IGNORECASE)


class BiglobeDetector:
    """BIGLOBE "Returned mail" notices."""

    name = "biglobe"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        sender = mail.sender
        if not mail.subject.startswith("Returned mail:") or "postmaster@" not in sender:
            return None
        if not any(p in sender for p in _PROVIDERS) and _BANNER not in mail.raw:
            return None
        addresses: list[str] = []
        information: list[str] = []
        section = None
        for line in mail.lines:
            if _ADDRESSES.match(line):
                section = "addresses"
            elif _INFORMATION.match(line):
                section = "information"
            elif _END.match(line):
                section = None
            elif section == "addresses" and (address := sole_address(line)):
                addresses.append(address)
            elif section == "information" and line.strip():
                information.append(line.strip())
        diagnostic = " ".join(information) or None
        return [RecipientFacts(address=a, action="failed", diagnostic=diagnostic) for a in dict.fromkeys(addresses)] or None

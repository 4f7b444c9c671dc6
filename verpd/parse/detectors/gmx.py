"""GMX / mail.com (United Internet) bounces.

GMX's outbound servers add ``X-GMX-Antispam:`` to the bounce and write an
Exim-like report without ``X-Failed-Recipients``, ended by United Internet's banner
``--- The header of the original message is following. ---``::

    A message that you sent could not be delivered to one or more of
    its recipients. This is a permanent error. The following address
    failed:

    "bob@example.com":
    SMTP error from remote server after RCPT command:
    host: mx.example.com
    5.1.1 <bob@example.com>... User unknown

A recipient line is the address in quotes or angle brackets; the ``SMTP error ...
after X command`` line names the command, ``host:`` the remote server, and the rest
(``Reason:`` / ``delivery retry timeout exceeded`` for a message that expired) is the
diagnostic. It is the software 1&1 runs, so the report is read by
:func:`verpd.parse.detectors.einsundeins.read_report`. Layout as in Sisimai's Lhost::GMX.
"""

from __future__ import annotations

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.detectors.einsundeins import BANNER, read_report
from verpd.parse.message.mail import Mail


class GmxDetector:
    """GMX and mail.com bounces (``X-GMX-Antispam``)."""

    name = "gmx"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.msg.get("X-GMX-Antispam") is None or BANNER not in mail.raw:
            return None  # GMX stamps X-GMX-Antispam on all mail it receives: the banner makes it GMX's own report
        return read_report(mail.lines) or None

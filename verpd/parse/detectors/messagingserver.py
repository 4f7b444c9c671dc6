"""Oracle Communications (Sun Java System, iPlanet, Netscape) Messaging Server reports, as text.

Messaging Server's MIME boundaries are ``Boundary_(ID_...)`` and its subjects start
``Delivery Notification:`` (``Delivery Notification: Delivery has failed``). Its
report normally carries a DSN part (the DSN detector reads it); this reads the text
part when that part is missing or unusable::

    This report relates to a message you sent with the following header fields:
      ...
    Your message cannot be delivered to the following recipients:

      Recipient address: bob@example.com
      Original address: bob@example.com
      Reason: Remote SMTP server has rejected address
      Diagnostic code: smtp;550 5.1.1 <bob@example.com>... User unknown
      Remote system: dns;mx.example.com (TCP|192.0.2.1|47323|198.51.100.2|25) (mx.example.com ESMTP)

The "Recipient address" is the final form of the address, which may be internal: the
message store's ``bob@ims-ms-daemon``, a source route ``@mta2.example.com:bob@example.com``,
a %-hack ``bob%example.com@tcp_local-daemon`` (Messaging Server's rewrite rules); the
"Original address" is the form the sender used, which Messaging Server always includes
("includefinal" / "suppressfinal" channel keywords, Messaging Server Administration Guide,
"To Include Altered Addresses in Status Notification Messages"). parse's ``_finish``
chooses between them.

The diagnostic is the "Diagnostic code" (the remote server's reply) or, without
one, the "Reason" line; a Reason that names the refused command ("Server rejected
MAIL FROM address") gives the command (``unable to deliver this message after 1 day``, ``Over
quota``). Layout as in Oracle's Messaging Server documentation (NOTARY messages) and
Sisimai's Lhost::MessagingServer.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.smtp import clean_diagnostic

_FIELD = re.compile(r"^\s+(recipient address|original address|reason|diagnostic code|remote system)\s*:\s*(.*)$", re.IGNORECASE)
_END = re.compile(r"^(?:Return-path|Received|Original-envelope-id|Reporting-MTA)\s*:", re.IGNORECASE)
_REASON_COMMAND = (  # Messaging Server's fixed "Reason:" texts that name the refused command
    (re.compile(r"rejected MAIL FROM", re.IGNORECASE), "MAIL"),
    (re.compile(r"has rejected address|rejected RCPT", re.IGNORECASE), "RCPT"),
    (re.compile(r"rejected (?:the )?(?:message|DATA)", re.IGNORECASE), "DATA"),
)
_DELAYED = re.compile(r"has been delayed|will continue to try|still trying", re.IGNORECASE)


class MessagingServerDetector:
    """Oracle/Sun Messaging Server text reports (no usable DSN part)."""

    name = "messagingserver"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "Boundary_(ID_" not in mail.header("Content-Type") and not mail.subject.startswith("Delivery Notification: "):
            return None
        found: list[dict[str, str]] = []
        for line in mail.lines:
            if _END.match(line):
                break
            m = _FIELD.match(line)
            if not m:
                continue
            field, value = m.group(1).lower(), m.group(2).strip()
            if field == "recipient address":
                if "@" in value:  # as written: parse's _finish cleans a route and replaces an internal name
                    found.append({"address": value})
            elif found and field not in found[-1]:
                found[-1][field] = value
        action = "delayed" if _DELAYED.search(mail.subject) else "failed"
        return [
            RecipientFacts(
                address=entry["address"],
                action=action,
                diagnostic=clean_diagnostic(entry.get("diagnostic code") or entry.get("reason") or "") or None,
                remote_mta=_host(entry.get("remote system", "")),
                original_recipient=entry.get("original address") or None,
                command=next((c for p, c in _REASON_COMMAND if p.search(entry.get("reason", ""))), None),
            )
            for entry in found
        ] or None


def _host(value: str) -> str | None:
    """``dns;mx.example.com (TCP|...) (...)`` → ``mx.example.com``."""
    value = value.partition(";")[2] if ";" in value else value
    return value.split()[0] if value.split() else None

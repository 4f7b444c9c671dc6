"""An unidentified MTA (Sisimai's "X5"): a notification that wraps the real DSN.

Sent ``To: NotificationRecipients`` from ``Mail Delivery Subsystem`` (the display name
ISO-2022-JP-encoded), with the subject encoded too. The bounce itself — a
``multipart/report`` with a ``message/delivery-status`` part — is attached as a
``message/rfc822`` part, so the standard DSN detector, which never reads inside a
returned copy, does not see it. This detector reads the delivery-status fields of that
first attached message (Final-Recipient, Action, Status, Diagnostic-Code,
Remote-MTA), and nothing deeper.
"""

from __future__ import annotations

from email.message import Message

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import DELIVERY_STATUS_TYPES, Mail, status_blocks
from verpd.parse.message.parts import header_text, walk_report
from verpd.parse.message.text import normalize_address
from verpd.smtp import clean_diagnostic, find_reply_code, find_status


class X5Detector:
    """A ``Mail Delivery Subsystem`` notice to ``NotificationRecipients`` carrying a DSN as an attachment."""

    name = "x5"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "notificationrecipients" not in mail.header("To").lower():
            return None
        if "mail delivery subsystem" not in mail.sender and "mail delivery subsystem" not in mail.subject.lower():
            return None
        inner = mail.returned
        if inner is None or not inner.is_multipart():
            return None
        for part in walk_report(inner):
            if part.get_content_type() in DELIVERY_STATUS_TYPES:
                found = [f for block in status_blocks(part) if (f := _facts(block))]
                if found:
                    return found
        return None


def _facts(block: Message) -> RecipientFacts | None:
    address = normalize_address(header_text(block.get("Final-Recipient") or block.get("Original-Recipient")))
    if "@" not in address:
        return None
    diagnostic = clean_diagnostic(header_text(block.get("Diagnostic-Code"))) or None
    remote = normalize_address(header_text(block.get("Remote-MTA"))) or None
    return RecipientFacts(
        address=address,
        action=header_text(block.get("Action")).lower() or None,
        status=find_status(header_text(block.get("Status"))) or find_status(diagnostic or ""),
        reply_code=find_reply_code(diagnostic) if diagnostic else None,
        diagnostic=diagnostic,
        remote_mta=remote,
    )

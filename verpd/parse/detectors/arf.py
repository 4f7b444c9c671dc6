"""Complaint reports: RFC 5965 ARF, and Microsoft's JMRP feedback loop.

ARF (RFC 5965 §2-3): a ``multipart/report; report-type=feedback-report`` whose
``message/feedback-report`` part carries ``Feedback-Type`` (abuse, fraud, opt-out,
auth-failure, ...) and ``Original-Rcpt-To`` for each complaining recipient
(``Removal-Recipient`` in the drafts before it). Without those, the recipient is
the ``To:`` of the returned original (RFC 5965 §3.2 makes Original-Rcpt-To
optional), as mailbox providers that redact it still return the headers.

Microsoft's Junk Mail Reporting Program sends a ``multipart/mixed`` message with the
reported mail attached as ``message/rfc822`` and the recipient in that copy's
``X-HmXmrOriginalRecipient`` header (Outlook.com postmaster documentation).

A complaint is never a bounce: these reports have kind FEEDBACK.
"""

from __future__ import annotations

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import FEEDBACK_REPORT_TYPES, Mail
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import find_addresses, normalize_address


class FeedbackReportDetector:
    """RFC 5965 ARF complaint reports and Microsoft JMRP reports."""

    name = "arf"
    kind = ReportKind.FEEDBACK

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.parts_of(FEEDBACK_REPORT_TYPES):
            return _arf(mail)
        if b"X-HmXmrOriginalRecipient" in mail.raw:
            return _jmrp(mail)
        return None


def _arf(mail: Mail) -> list[RecipientFacts] | None:
    reports = mail.parts_of(FEEDBACK_REPORT_TYPES)
    if not reports:
        return None
    fields = _fields(reports[0])
    feedback_type = (fields.get("feedback-type") or ["abuse"])[0].lower()
    recipients = fields.get("original-rcpt-to") or fields.get("removal-recipient") or []
    if not recipients and mail.returned is not None:
        recipients = find_addresses(" ".join(header_text(v) for v in mail.returned.get_all("To") or []))
    summary = " ".join(line.strip() for line in mail.lines if line.strip())[:500] or None
    return [
        RecipientFacts(address=normalize_address(address), feedback_type=feedback_type, diagnostic=summary)
        for address in dict.fromkeys(recipients)
        if normalize_address(address)
    ] or None


def _fields(part) -> dict[str, list[str]]:
    """The feedback-report fields, by lower-cased name (each may repeat)."""
    from verpd.parse.message.mail import status_blocks

    found: dict[str, list[str]] = {}
    for block in status_blocks(part):
        for name, value in block.items():
            found.setdefault(name.lower(), []).append(header_text(value))
    return found


def _jmrp(mail: Mail) -> list[RecipientFacts] | None:
    returned = mail.returned
    if returned is None:
        return None
    addresses = find_addresses(" ".join(header_text(v) for v in returned.get_all("X-HmXmrOriginalRecipient") or []))
    return [RecipientFacts(address=a, feedback_type="abuse", diagnostic=mail.subject or None) for a in addresses] or None

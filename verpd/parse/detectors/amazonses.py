"""Amazon SES notifications delivered by email: the JSON that SES publishes through SNS.

An SES identity can send its bounce, complaint and delivery notifications to an
SNS topic with an email subscription. The message (``From: ... <no-reply@sns.amazonaws.com>``,
Subject "AWS Notification Message", header ``x-amz-sns-message-id``) has a
text/plain body that is the SES notification object, followed by SNS's
unsubscribe footer; an "email-json" subscription wraps it in the SNS envelope
(``{"Type": "Notification", "Message": "<the object as a JSON string>"}``). The
object is documented in the SES Developer Guide, "Amazon SNS notification
contents for Amazon SES":

- ``"notificationType": "Bounce"``: ``bounce.bouncedRecipients[]`` with
  ``emailAddress`` and, when SES talked to the remote server, ``action``,
  ``status`` and ``diagnosticCode`` (``smtp; 550 5.1.1 user unknown``), and
  ``bounce.remoteMtaIp`` (the server that answered);
  ``bounce.bounceType`` / ``bounceSubType`` (Permanent/General, NoEmail,
  Suppressed, OnAccountSuppressionList; Transient/MailboxFull, MessageTooLarge,
  ContentRejected, AttachmentRejected, General) and ``bounce.reportingMTA``.
- ``"notificationType": "Delivery"``: ``delivery.recipients[]`` and
  ``delivery.smtpResponse``: recipients with action ``delivered`` (not failures).
- ``"notificationType": "Complaint"``: ``complaint.complainedRecipients[]`` and
  ``complaint.complaintFeedbackType``: a feedback report, read by
  :class:`AmazonSesComplaintDetector`.

SES event publishing writes the same objects with ``"eventType"`` instead of
``"notificationType"``, and adds ``"DeliveryDelay"`` (``deliveryDelay.delayedRecipients[]``).
Long lines may arrive folded by a relaying sendmail, which ends the broken line
with ``!`` and starts the next with a space; the folds are undone before decoding.

When a bounced recipient has no ``diagnosticCode`` (a suppressed address, for
one), the diagnostic says the bounce type and subtype SES gave, which are the only
facts there are. SES's DSN-format bounces (``MAILER-DAEMON@amazonses.com``) are
standard RFC 3464 reports and are read by the DSN detector.
"""

from __future__ import annotations

import json
import re
from email.utils import parseaddr
from typing import Any

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import normalize_address
from verpd.smtp import clean_diagnostic, find_status

_FOLD = re.compile(r"!\n ")
_TYPE_PREFIX = re.compile(r"^\s*dsn\s*;\s*", re.IGNORECASE)


class AmazonSesDetector:
    """SES bounce, delay and delivery notifications (JSON in an SNS email)."""

    name = "amazonses"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        event = ses_notification(mail)
        if event is None:
            return None
        kind = event.get("notificationType") or event.get("eventType")
        if kind == "Bounce":
            return _bounced(_dict(event.get("bounce")))
        if kind == "DeliveryDelay":
            return _delayed(_dict(event.get("deliveryDelay")))
        if kind == "Delivery":
            return _delivered(_dict(event.get("delivery")))
        return None


class AmazonSesComplaintDetector:
    """SES complaint notifications (a recipient marked the message as spam): feedback, not failure."""

    name = "amazonses-complaint"
    kind = ReportKind.FEEDBACK

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        event = ses_notification(mail)
        if event is None or (event.get("notificationType") or event.get("eventType")) != "Complaint":
            return None
        complaint = _dict(event.get("complaint"))
        feedback_type = complaint.get("complaintFeedbackType")
        user_agent = complaint.get("userAgent")
        return [
            RecipientFacts(
                address=address,
                feedback_type=str(feedback_type) if feedback_type else None,
                diagnostic=str(user_agent) if user_agent else None,
            )
            for address in _addresses(complaint.get("complainedRecipients"))
        ] or None


def ses_notification(mail: Mail) -> dict[str, Any] | None:
    """The SES notification object an SNS email carries, or ``None``."""
    if b"notificationType" not in mail.raw and b"eventType" not in mail.raw:
        return None
    if mail.msg.get("x-amz-sns-message-id") is None and "amazonaws.com" not in mail.sender and "amazonses" not in mail.sender:
        return None
    text = mail.text
    start = text.find("{")
    if start < 0:
        return None
    body = text[start:]
    for candidate in (body, _FOLD.sub("", body), _FOLD.sub("", body).replace("\n", "")):
        try:
            found, _ = json.JSONDecoder().raw_decode(candidate)
        except ValueError:
            continue
        if isinstance(found, dict) and isinstance(found.get("Message"), str):  # the SNS envelope (email-json)
            try:
                found = json.loads(found["Message"])
            except ValueError:
                return None
        if isinstance(found, dict) and (found.get("notificationType") or found.get("eventType")):
            return found
        return None
    return None


def _bounced(bounce: dict[str, Any]) -> list[RecipientFacts] | None:
    kind = " ".join(str(bounce[k]) for k in ("bounceType", "bounceSubType") if bounce.get(k))
    reporting = _TYPE_PREFIX.sub("", str(bounce.get("reportingMTA") or "")) or None
    remote = str(bounce.get("remoteMtaIp") or "") or None
    found = []
    for entry in _entries(bounce.get("bouncedRecipients")):
        diagnostic = clean_diagnostic(str(entry.get("diagnosticCode") or "")) or (f"Amazon SES bounce: {kind}" if kind else None)
        found.append(
            RecipientFacts(
                address=_address(entry["emailAddress"]),
                action=str(entry.get("action") or "failed").lower(),
                status=find_status(str(entry.get("status") or "")),
                diagnostic=diagnostic,
                remote_mta=remote,
                reporting_mta=reporting,
            )
        )
    return found or None


def _delayed(delay: dict[str, Any]) -> list[RecipientFacts] | None:
    reporting = _TYPE_PREFIX.sub("", str(delay.get("reportingMTA") or "")) or None
    remote = str(delay.get("remoteMtaIp") or "") or None
    found = []
    for entry in _entries(delay.get("delayedRecipients")):
        diagnostic = clean_diagnostic(str(entry.get("diagnosticCode") or "")) or (str(delay.get("delayType") or "") or None)
        found.append(
            RecipientFacts(
                address=_address(entry["emailAddress"]),
                action="delayed",
                status=find_status(str(entry.get("status") or "")),
                diagnostic=diagnostic,
                remote_mta=remote,
                reporting_mta=reporting,
            )
        )
    return found or None


def _delivered(delivery: dict[str, Any]) -> list[RecipientFacts] | None:
    response = clean_diagnostic(str(delivery.get("smtpResponse") or "")) or None
    reporting = _TYPE_PREFIX.sub("", str(delivery.get("reportingMTA") or "")) or None
    recipients = [r for r in delivery.get("recipients") or [] if isinstance(r, str) and "@" in r] if isinstance(delivery.get("recipients"), list) else []
    found = [RecipientFacts(address=_address(r), action="delivered", diagnostic=response, reporting_mta=reporting) for r in recipients]
    return found or None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(value: object) -> list[dict[str, Any]]:
    """The recipient objects of a list that have a usable ``emailAddress``."""
    if not isinstance(value, list):
        return []
    return [e for e in value if isinstance(e, dict) and isinstance(e.get("emailAddress"), str) and "@" in e["emailAddress"]]


def _addresses(value: object) -> list[str]:
    return [_address(e["emailAddress"]) for e in _entries(value)]


def _address(value: str) -> str:
    """``"Bob" <bob@example.com>`` → ``bob@example.com``; a bare address as it is."""
    if "<" not in value:
        return normalize_address(value)
    try:
        found = parseaddr(value)[1]
    except RecursionError:  # comments nested a thousand deep: no display name worth reading
        found = ""
    return found or normalize_address(value)

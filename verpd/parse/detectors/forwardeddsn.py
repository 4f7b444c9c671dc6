"""A delivery status notification attached whole to another message: forwarded, or wrapped by a gateway.

A person who forwards a bounce "as attachment" (Thunderbird's default for a forward
of a whole message, Outlook's "Forward as Attachment") and a gateway that wraps the
notice it received in a note of its own both send a ``multipart/mixed`` message
whose ``message/rfc822`` part (RFC 2046 §5.2.1) is the notice itself: a
``multipart/report; report-type=delivery-status`` (RFC 3462, now RFC 6522) with its
``message/delivery-status`` part (RFC 3464). The standard DSN detector never reads
inside an attached message, because in a bounce that part is the returned copy of
the original; here the attached message is the report, and its recipients are read
as the standard detector reads any DSN.

What keeps this from misreading a bounce whose returned copy happens to be a DSN (a
notice that could not be delivered to its own recipient): the outer message must not
be a report itself (no ``multipart/report``, no delivery-status part of its own), and
its text must not name the address the attached notice was sent to, which a notice
about failing to deliver that notice would. Sisimai's X5 (``NotificationRecipients``)
is one such gateway with a detector of its own, run earlier.
"""

from __future__ import annotations

from email.errors import MessageError
from email.message import Message
from itertools import islice

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.detectors.dsn import DeliveryStatusDetector
from verpd.parse.message.mail import DELIVERY_STATUS_TYPES, Mail
from verpd.parse.message.parts import header_text, walk_report
from verpd.parse.message.text import find_addresses

_ATTACHED = frozenset({"message/rfc822", "message/global"})
MAX_SENT_TO = 20  # addresses of the attached report's To: looked for in the text
_STANDARD = DeliveryStatusDetector()


class ForwardedDsnDetector:
    """A ``multipart/mixed`` message whose attached ``message/rfc822`` part is a DSN: the recipients of that DSN."""

    name = "forwardeddsn"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if b"delivery-status" not in mail.raw or not mail.msg.is_multipart():
            return None
        if mail.content_type == "multipart/report" or mail.parts_of(DELIVERY_STATUS_TYPES):
            return None  # a report of its own: its attached message is the returned copy
        for kind, part in mail.typed_parts:
            if kind not in _ATTACHED:
                continue
            inner = _attached_message(part)
            if inner is None or not _is_delivery_report(inner):
                continue
            if _names_its_recipient(mail, inner):
                return None  # a notice about failing to deliver that report, not a copy of it
            try:
                report = Mail(inner.as_bytes())
            except (LookupError, ValueError, TypeError, UnicodeError, MessageError, RecursionError):  # a part that cannot be written back
                return None
            return _STANDARD.detect(report)
        return None


def _attached_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _is_delivery_report(inner: Message) -> bool:
    """A ``multipart/report`` (or any message) with a delivery-status part outside its own returned copy."""
    if not inner.is_multipart():
        return False
    return any(part.get_content_type() in DELIVERY_STATUS_TYPES for part in walk_report(inner))


def _names_its_recipient(mail: Mail, inner: Message) -> bool:
    """Whether the outer text names an address the attached report was sent to (one of its first ``MAX_SENT_TO``).

    A delivery report goes to one address, the envelope sender; each address is looked for in the
    whole text, so a forged ``To:`` of thousands would cost time quadratic in the message's size.
    """
    text = mail.text_lower
    addresses = (address for value in inner.get_all("To") or [] for address in find_addresses(header_text(value)))
    return any(address.lower() in text for address in islice(addresses, MAX_SENT_TO))

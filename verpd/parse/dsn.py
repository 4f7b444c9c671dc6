"""RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``).

Keys on a ``message/delivery-status`` part outside any returned copy of the
original, whatever the order or quoting of the report's parameters (BounceHandler's
regex needed ``report-type`` before a quoted ``boundary``, which Gmail does not
send). The part holds one per-message block (Reporting-MTA, ...) and one block per
recipient (Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code,
Remote-MTA), separated by blank lines (RFC 3464 §2.1-2.3). Every recipient block is
reported; ``classify`` decides which ones are failures.
"""

from __future__ import annotations

import email.parser
import email.policy
from email.message import Message

from verpd.model import RecipientFacts
from verpd.parse.message import find_reply_code, find_status, header_text, part_text, strip_address, walk_report

_HEADERS = email.parser.HeaderParser(policy=email.policy.compat32)


class DeliveryStatusDetector:
    """Standard DSNs from Postfix, Sendmail, Exim 4.9x, Exchange, Gmail and most others."""

    name = "dsn"

    def detect(self, msg: Message) -> list[RecipientFacts] | None:
        for part in walk_report(msg):
            if part.get_content_type() == "message/delivery-status":
                found = _recipients(_blocks(part))
                if found:
                    return found
        return None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part, however it was encoded."""
    payload = part.get_payload()
    encoding = header_text(part.get("Content-Transfer-Encoding")).lower()
    if isinstance(payload, list) and encoding not in ("base64", "quoted-printable"):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, list):
        # The email package split the still-encoded text into header blocks: put the
        # text back together as written, then decode it like any other part.
        encoded = Message()
        encoded["Content-Transfer-Encoding"] = encoding
        encoded.set_payload("\n".join(_source(block) for block in payload if isinstance(block, Message)))
        part = encoded
    # Decode, then split on blank lines.
    text = part_text(part).replace("\r\n", "\n").replace("\r", "\n")
    return [_HEADERS.parsestr(chunk.strip("\n") + "\n") for chunk in text.split("\n\n") if chunk.strip()]


def _source(block: Message) -> str:
    """A header block as it was written: its raw header lines, then any body lines."""
    body = block.get_payload()
    return "".join(f"{name}: {value}\n" for name, value in block.raw_items()) + (body if isinstance(body, str) else "")


def _recipients(blocks: list[Message]) -> list[RecipientFacts]:
    reporting_mta = None
    found = []
    for block in blocks:
        if block.get("Reporting-MTA") is not None:
            reporting_mta = strip_address(block["Reporting-MTA"])
        final = block.get("Final-Recipient")
        original = block.get("Original-Recipient")
        address = strip_address(final) if final is not None else strip_address(original) if original is not None else ""
        if not address:
            continue
        status_text = header_text(block.get("Status"))
        diagnostic = header_text(block.get("Diagnostic-Code"))
        if ";" in diagnostic:
            diagnostic = diagnostic.split(";", 1)[1].strip()
        remote = block.get("Remote-MTA")
        found.append(
            RecipientFacts(
                address=address,
                action=header_text(block.get("Action")).lower() or None,
                status=find_status(status_text) or find_status(diagnostic),
                reply_code=find_reply_code(diagnostic),
                diagnostic=diagnostic or None,
                remote_mta=strip_address(remote) if remote is not None else None,
                reporting_mta=reporting_mta,
                original_recipient=strip_address(original) if original is not None else None,
            )
        )
    return found

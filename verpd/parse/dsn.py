"""RFC 3464 delivery status notifications, and RFC 6533's internationalised form.

Keys on a ``message/delivery-status`` (or ``message/global-delivery-status``) part
outside the returned copy of the original, whatever the order or quoting of the
report's parameters (BounceHandler's regex needed ``report-type`` before a quoted
``boundary``, which Gmail does not send). The part holds a per-message block
(Reporting-MTA, ...) and one block per recipient (Final-Recipient,
Original-Recipient, Action, Status, Diagnostic-Code, Remote-MTA), separated by
blank lines (RFC 3464 §2.1-2.3). RFC 6533 addresses (``utf-8; jörg@example.org``,
possibly ``\\x{F6}``-escaped) are decoded.

Some MTAs (Oracle Messaging Server, old Exchange) write the same fields into a
plain-text body without a MIME report; those are read from the text, up to the
returned copy. The human-readable part often says more than the DSN fields (Postfix
writes "(in reply to RCPT TO command)" only there), so each recipient's paragraph
in it is used for the SMTP command.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.mail import Mail, status_blocks
from verpd.parse.message import header_text
from verpd.parse.text import clean_diagnostic, find_command, find_reply_code, find_status, normalize_address

_XTEXT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_TEXT_FIELD = re.compile(r"^(?:final-recipient|original-recipient|action|status|diagnostic-code|remote-mta|reporting-mta)\s*:", re.IGNORECASE)
_COPY_MARKER = re.compile(r"^-+\s*(?:original message|this is a copy|.*message headers? follows?|.*rfc822|content-type:\s*message/rfc822)", re.IGNORECASE)


class DeliveryStatusDetector:
    """Standard DSNs from Postfix, Sendmail, Exim 4.9x, Exchange, Gmail and most others."""

    name = "dsn"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        blocks = mail.delivery_status or _blocks_in_text(mail)
        found = _recipients(blocks)
        if not found:
            return None
        return [_with_command(facts, mail) for facts in found]


def _blocks_in_text(mail: Mail) -> list[Message]:
    """DSN fields written as plain text: consecutive field lines form blocks."""
    if not any(_TEXT_FIELD.match(line) for line in mail.lines[:400]):
        return []
    chunks: list[list[str]] = [[]]
    for line in mail.lines:
        if _COPY_MARKER.match(line.strip()):
            break
        if _TEXT_FIELD.match(line) or (line[:1] in " \t" and chunks[-1]):
            chunks[-1].append(line)
        elif chunks[-1]:
            chunks.append([])
    fake = Message()
    fake.set_payload("\n\n".join("\n".join(chunk) for chunk in chunks if chunk))
    return status_blocks(fake)


def _recipients(blocks: list[Message]) -> list[RecipientFacts]:
    reporting_mta = None
    found = []
    for block in blocks:
        if block.get("Reporting-MTA") is not None:
            reporting_mta = normalize_address(header_text(block["Reporting-MTA"]))
        final, original = block.get("Final-Recipient"), block.get("Original-Recipient")
        address = _address(final) or _address(original)
        if not address:
            continue
        raw_diagnostic = header_text(block.get("Diagnostic-Code"))
        diagnostic_type = raw_diagnostic.split(";", 1)[0].strip().lower() if ";" in raw_diagnostic[:20] else None
        diagnostic = clean_diagnostic(raw_diagnostic)
        status = find_status(header_text(block.get("Status")))
        remote = block.get("Remote-MTA")
        found.append(
            RecipientFacts(
                address=address,
                action=header_text(block.get("Action")).lower() or None,
                status=status or find_status(diagnostic),
                reply_code=find_reply_code(diagnostic),
                diagnostic=diagnostic or None,
                remote_mta=normalize_address(header_text(remote)) or None if remote is not None else None,
                reporting_mta=reporting_mta,
                original_recipient=_address(original) or None,
                command=find_command(diagnostic),
                diagnostic_type=diagnostic_type,
            )
        )
    return found


def _address(value: object) -> str:
    if value is None:
        return ""
    text = header_text(value)
    if text.lower().startswith("utf-8"):
        text = _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), text)
    return normalize_address(text)


def _with_command(facts: RecipientFacts, mail: Mail) -> RecipientFacts:
    """Complete the facts from the human-readable paragraph about this recipient.

    It gives the SMTP command (Postfix writes "in reply to RCPT TO command" only
    there) and, when the DSN has no Diagnostic-Code, the error text itself.
    """
    if facts.command and facts.diagnostic:
        return facts
    paragraph = _paragraph_about(facts.address, mail.lines)
    if not paragraph:
        return facts
    return replace(
        facts,
        command=facts.command or find_command(paragraph),
        diagnostic=facts.diagnostic or clean_diagnostic(paragraph)[:1000] or None,
    )


def _paragraph_about(address: str, lines: list[str]) -> str:
    """The text paragraph that starts by naming ``address`` (Postfix: ``<addr>: host ... said: ...``)."""
    needle = address.lower()
    for i, line in enumerate(lines):
        if needle in line.lower():
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            return " ".join(" ".join(lines[i:end]).split())
    return ""

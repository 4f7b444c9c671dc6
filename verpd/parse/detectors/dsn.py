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
from functools import cached_property
from email.message import Message

from verpd.model import Command, RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail, status_blocks
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import address_words, decode_iso2022, normalize_address
from verpd.smtp import clean_diagnostic, find_command, find_reply_code, find_status

_XTEXT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_TEXT_FIELD = re.compile(r"^(?:final-recipient|original-recipient|action|status|diagnostic-code|remote-mta|reporting-mta)\s*:", re.IGNORECASE)
_COPY_MARKER = re.compile(r"^-++\s*+(?:original message|this is a copy|.*message headers? follows?|.*rfc822|content-type:\s*message/rfc822)", re.IGNORECASE)


class DeliveryStatusDetector:
    """Standard DSNs from Postfix, Sendmail, Exim 4.9x, Exchange, Gmail and most others."""

    name = "dsn"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        blocks = mail.delivery_status or _blocks_in_text(mail)
        found = _recipients(blocks)
        if not found:
            return None
        paragraphs = _Paragraphs(mail)
        return [_with_command(facts, paragraphs) for facts in found]


def _blocks_in_text(mail: Mail) -> list[Message]:
    """DSN fields written as plain text: consecutive field lines form blocks."""
    if "-recipient:" not in mail.text_lower and "-recipient :" not in mail.text_lower:
        return []  # without a recipient field there is nothing to read
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


def _groups(blocks: list[Message]) -> list[dict[str, str]]:
    """The field groups of a delivery-status part, by lower-cased field name.

    Normally one block is one group; some MTAs (AOL's, for one) omit the blank line
    between recipients, so a recipient field seen twice starts a new group.
    """
    groups: list[dict[str, str]] = []
    for block in blocks:
        group: dict[str, str] = {}
        for name, value in block.items():
            key = name.lower()
            if key in group and key in ("final-recipient", "original-recipient"):
                groups.append(group)
                group = {}
            group.setdefault(key, value)
        if group:  # an empty block (blank lines in a row) names nothing: no dict for each of them
            groups.append(group)
    return groups


def _recipients(blocks: list[Message]) -> list[RecipientFacts]:
    reporting_mta = None
    found = []
    for block in _groups(blocks):
        if block.get("reporting-mta") is not None:
            reporting_mta = normalize_address(header_text(block["reporting-mta"]))
        # Both names go on; parse's _finish picks the failed address (an MTA-internal Final-Recipient
        # such as Oracle's "user@ims-ms-daemon", or an X.400 one, gives way to the Original-Recipient).
        final, original = _address(block.get("final-recipient")), _address(block.get("original-recipient"))
        address = final if "@" in final else original
        if "@" not in address:
            continue  # no address, or a local delivery target such as Exim's "|/usr/bin/program"
        raw_diagnostic = decode_iso2022(header_text(block.get("diagnostic-code")))
        diagnostic_type = raw_diagnostic.split(";", 1)[0].strip().lower() if ";" in raw_diagnostic[:20] else None
        diagnostic = clean_diagnostic(raw_diagnostic)
        status_field = header_text(block.get("status"))
        status = find_status(status_field)
        if not diagnostic and status and status in status_field:
            # Oracle Messaging Server: "Status: 4.4.7 (unable to deliver this message after 1 day)";
            # a comment that only names the code's RFC 3463 class ("other or undefined ...") says nothing.
            comment = status_field.split(status, 1)[-1].strip(" ()")
            diagnostic = "" if comment.lower().startswith("other or undefined") else comment
        remote = block.get("remote-mta")
        found.append(
            RecipientFacts(
                address=address,
                action=header_text(block.get("action")).lower() or None,
                status=status or find_status(diagnostic),
                reply_code=find_reply_code(diagnostic),
                diagnostic=diagnostic or None,
                remote_mta=normalize_address(header_text(remote)) or None if remote is not None else None,
                reporting_mta=reporting_mta,
                original_recipient=original or None,
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


def _with_command(facts: RecipientFacts, paragraphs: _Paragraphs) -> RecipientFacts:
    """Complete the facts from the human-readable paragraphs about this recipient.

    They give the SMTP command (Postfix writes "in reply to RCPT TO command" only
    there; Sendmail's transcript shows ">>> RCPT To:") and, when the DSN has no
    Diagnostic-Code, the error text itself.
    """
    if facts.command and facts.diagnostic:
        return facts
    about = paragraphs.about(facts.address)
    if not about:
        return facts
    command = facts.command or next((p.command for p in about if p.command), None)
    if facts.diagnostic:
        return replace(facts, command=command, diagnostic=clean_diagnostic(facts.diagnostic)[:1000])
    telling = [p for p in about if p.telling] or about
    chosen = next((p for p in telling if p.says_more), None)
    return replace(facts, command=command, diagnostic=chosen.diagnostic if chosen else None)


class _Paragraphs:
    """The text paragraphs about each recipient, and what each paragraph says.

    Paragraphs that echo the original's headers or the DSN's own fields are left out:
    Postfix writes ``<addr>: host ... said: ...``; Oracle's text part repeats
    ``To: <addr>`` / ``Subject: ...`` from the original, which says nothing of the
    error. The first few recipients are looked for line by line (a report names one
    or two); past ``_SCANS`` the whole text is indexed by the addresses it names, once:
    a DSN may list many thousands of recipients, and a search of the whole text for
    each one costs time quadratic in the size of the message.
    """

    def __init__(self, mail: Mail) -> None:
        self._mail = mail  # its lines are read (and lower-cased) only if a recipient needs them
        self._scans = 0
        self._found: dict[int, _Paragraph] = {}  # by first line
        self._index: dict[str, list[_Paragraph]] | None = None

    def about(self, address: str) -> list[_Paragraph]:
        """Every paragraph naming ``address`` (as a whole word, in any case), in order."""
        needle = address.lower()
        if self._index is None and self._scans < _SCANS:
            self._scans += 1
            return self._scan(needle)
        if self._index is None:
            self._index = self._read()
        return self._index.get(needle, [])

    def _paragraph(self, i: int) -> tuple[_Paragraph | None, int]:
        """The paragraph around line ``i`` (``None`` if it echoes headers), and the line after it."""
        lines = self._mail.lines
        start = i
        while start > 0 and lines[start - 1].strip():
            start -= 1
        end = i
        while end < len(lines) and lines[end].strip():
            end += 1
        if start not in self._found:
            self._found[start] = _Paragraph(lines[start:end])
        return (None if _ECHOED_HEADER.match(lines[start]) else self._found[start]), end

    def _scan(self, needle: str) -> list[_Paragraph]:
        found: list[_Paragraph] = []
        lower = self._mail.lines_lower
        i = 0
        while i < len(lower):
            if needle in lower[i] and needle in address_words(lower[i]):
                paragraph, i = self._paragraph(i)
                if paragraph is not None:
                    found.append(paragraph)
            else:
                i += 1
        return found

    def _read(self) -> dict[str, list[_Paragraph]]:
        index: dict[str, list[_Paragraph]] = {}
        lines = self._mail.lines
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            paragraph, end = self._paragraph(i)
            if paragraph is not None:
                for line in paragraph.lines:
                    for word in address_words(line):
                        named = index.setdefault(word, [])
                        if not named or named[-1] is not paragraph:
                            named.append(paragraph)
            i = end
        return index


_SCANS = 4  # recipients looked for line by line before the text is indexed


class _Paragraph:
    """One paragraph of the text, and what it says, worked out once however many recipients it names."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    @cached_property
    def text(self) -> str:
        return " ".join(" ".join(self.lines).split())

    @cached_property
    def command(self) -> Command | None:
        return find_command(self.text)

    @cached_property
    def telling(self) -> bool:
        """Whether it quotes a reply code or a status code."""
        return bool(find_reply_code(self.text) or find_status(self.text))

    @cached_property
    def says_more(self) -> bool:
        """Whether it holds words besides addresses and a banner line."""
        rest = _BANNER.sub("", self.text)
        return any(ch.isalpha() for word in rest.split() if "@" not in word for ch in word)

    @cached_property
    def diagnostic(self) -> str:
        return clean_diagnostic(self.text)[:1000]


# Sendmail's "----- The following addresses had permanent fatal errors -----" and the like.
_BANNER = re.compile(r"-{3,}[^-]*-{3,}")


# A paragraph starting with one of these repeats the original's headers or the DSN's own fields.
_ECHOED_HEADER = re.compile(
    r"\s*(?:to|from|cc|bcc|subject|date|message-id|reply-to|sender|received|return-path|x-[\w-]+|"
    r"final-recipient|original-recipient|action|status|remote-mta|reporting-mta|diagnostic-code|last-attempt-date|arrival-date):",
    re.IGNORECASE,
)

"""One parsed message, as every detector sees it.

:class:`Mail` reads the raw bytes once and offers, lazily and cached, what the
detectors key on: decoded top-level headers, the human-readable report flattened to
plain text (every text part outside the returned copy of the original, decoded from
base64 / quoted-printable and its charset, HTML reduced to text, line ends made
``\\n``), the header blocks of a ``message/delivery-status`` part, and the returned
original message's headers. Nothing here raises on malformed mail.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import re
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from functools import cached_property

from verpd.parse.message.parts import RETURNED_COPY_TYPES, header_text, part_text, read_message, walk_parts, walk_report

DELIVERY_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
FEEDBACK_REPORT_TYPES = frozenset({"message/feedback-report"})
MAX_TEXT = 256 * 1024  # characters of report text a detector may look at (bounded work)
_DECODED = 16 * 1024  # characters of a header decoded from RFC 2047 encoded-words (see decode_words)

_HEADERS = email.parser.HeaderParser(policy=email.policy.compat32)
_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(r"<(script|style)\b", re.IGNORECASE)
_SCRIPT_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}


class Mail:
    """A message under analysis; every attribute is computed on first use."""

    def __init__(self, raw: bytes) -> None:
        # One line-end convention for every detector: CRLF (SMTP) and CR (old Mac) become LF.
        raw = raw.replace(b"\r\n", b"\n")
        if b"\r" in raw:
            raw = raw.replace(b"\r", b"\n")
        self.raw = raw
        self.msg: Message = read_message(raw)
        self._header_cache: dict[str, str] = {}

    # --- top-level headers --------------------------------------------------------------

    def header(self, name: str) -> str:
        """The first ``name`` header, RFC 2047-decoded, as one line ("" if absent)."""
        key = name.lower()
        found = self._header_cache.get(key)
        if found is None:  # every detector asks for the same few headers: decode each once
            found = self._header_cache[key] = decode_words(self.msg.get(name))
        return found

    def headers(self, name: str) -> list[str]:
        """Every ``name`` header, decoded, in order."""
        return [decode_words(v) for v in self.msg.get_all(name) or []]

    @cached_property
    def subject(self) -> str:
        return self.header("Subject")

    @cached_property
    def sender(self) -> str:
        """The From: header, decoded, lower-cased (display name and address)."""
        return self.header("From").lower()

    @cached_property
    def content_type(self) -> str:
        return self.msg.get_content_type()

    # --- the report ---------------------------------------------------------------------

    @cached_property
    def typed_parts(self) -> list[tuple[str, Message]]:
        """Every MIME part outside the returned copy of the original, with its content type."""
        return [(part.get_content_type(), part) for part in walk_report(self.msg)]

    @cached_property
    def parts(self) -> list[Message]:
        """Every MIME part outside the returned copy of the original."""
        return [part for _, part in self.typed_parts]

    def parts_of(self, types: frozenset[str]) -> list[Message]:
        return [part for kind, part in self.typed_parts if kind in types]

    @cached_property
    def text(self) -> str:
        """The human-readable report as plain text (``\\n`` line ends, bounded length)."""
        chunks = []
        plain_seen = False
        for kind, part in self.typed_parts:
            kind = kind.split()[0] if " " in kind or "\n" in kind else kind  # a type folded without ";" carries its parameters
            if part.is_multipart() or kind in RETURNED_COPY_TYPES or kind in DELIVERY_STATUS_TYPES:
                continue
            if kind == "text/plain" or (part is self.msg and part.get_content_maintype() != "text" and not part.is_multipart()):
                chunks.append(part_text(part))
                plain_seen = True
            elif kind == "text/html" and not plain_seen:
                chunks.append(html_to_text(part_text(part)))
        text = "\n".join(chunks)[:MAX_TEXT]
        return text.replace("\r\n", "\n").replace("\r", "\n")

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def text_lower(self) -> str:
        """``text`` lower-cased, for case-insensitive substring tests."""
        return self.text.lower()

    @cached_property
    def lines_lower(self) -> list[str]:
        """``lines`` lower-cased (same indices)."""
        return self.text_lower.split("\n")

    @cached_property
    def delivery_status(self) -> list[Message]:
        """The header blocks of the (global-)delivery-status part, however it is encoded."""
        for part in self.parts_of(DELIVERY_STATUS_TYPES):
            blocks = status_blocks(part)
            if blocks:
                return blocks
        return []

    # --- the returned original ------------------------------------------------------------

    @cached_property
    def returned(self) -> Message | None:
        """Headers (and body, if present) of the returned original message, if attached."""
        for part in walk_parts(self.msg) if self.msg.is_multipart() else ():
            kind = part.get_content_type()
            if kind in ("message/rfc822", "message/global"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return payload[0]
                if isinstance(payload, str):
                    return _HEADERS.parsestr(payload.lstrip())
            if kind in ("text/rfc822-headers", "message/global-headers"):
                return _HEADERS.parsestr(part_text(part).lstrip())
        return None

    def returned_after(self, marker: re.Pattern[str]) -> Message | None:
        """The original's headers when the report inlines it after a line matching ``marker``."""
        for i, line in enumerate(self.lines):
            if marker.search(line):
                rest = "\n".join(self.lines[i + 1 :]).lstrip("\n")
                return _HEADERS.parsestr(rest) if rest else None
        return None


def decode_words(value: object) -> str:
    """A header value with RFC 2047 encoded-words decoded, as one line of text.

    Only the first ``_DECODED`` characters are decoded; the rest stays as written: the email
    package's decoder takes time quadratic in the number of encoded words (it pops the
    first of a list for each), and a forged header can hold hundreds of thousands.
    """
    if value is None:
        return ""
    text = header_text(value)
    if "=?" not in text:
        return text
    head, rest = text[:_DECODED], text[_DECODED:]
    try:
        return " ".join((str(make_header(decode_header(head))) + rest).split())
    except (ValueError, LookupError, MessageError):  # broken base64, unknown or malformed charset, bad encoded-word
        return text


def status_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part: decoded, then split on blank lines.

    The email package splits an unencoded part into blocks itself; a base64 or
    quoted-printable part arrives split while still encoded, so its text is put back
    together as written and decoded first.
    """
    payload = part.get_payload()
    encoding = header_text(part.get("Content-Transfer-Encoding")).lower()
    if isinstance(payload, list) and encoding not in ("base64", "quoted-printable"):
        return [block for block in payload if isinstance(block, Message)]
    if isinstance(payload, list):
        encoded = Message()
        encoded["Content-Transfer-Encoding"] = encoding
        encoded.set_payload("\n".join(_source(block) for block in payload if isinstance(block, Message)))
        part = encoded
    text = part_text(part).replace("\r\n", "\n").replace("\r", "\n")
    return [_HEADERS.parsestr(chunk.strip("\n") + "\n") for chunk in text.split("\n\n") if chunk.strip()]


def _source(block: Message) -> str:
    """A header block as it was written: its raw header lines, then any body lines."""
    body = block.get_payload()
    return "".join(f"{name}: {value}\n" for name, value in block.raw_items()) + (body if isinstance(body, str) else "")


def html_to_text(markup: str) -> str:
    """Readable text from HTML: scripts and styles go, block elements become line breaks,
    tags go, entities decode. Linear in the length of the markup (see :func:`_tags_replaced`)."""
    markup = _without_scripts(markup)
    markup = _tags_replaced(_BLOCK_TAG, "\n", markup)
    return html.unescape(_tags_replaced(_TAG, "", markup))


def _without_scripts(markup: str) -> str:
    """``markup`` without its ``<script>...</script>`` and ``<style>...</style>`` elements.

    Each element runs to the first closing tag of its name; an opening tag with no
    closing one after it stays, and so does every later one of that name (which is what
    a single pattern did, by searching the rest of the text again from each of them).
    """
    kept: list[str] = []
    pos = start = 0
    unclosed: set[str] = set()
    while m := _SCRIPT.search(markup, start):
        name = m.group(1).lower()
        end = None if name in unclosed else _SCRIPT_END[name].search(markup, m.end())
        if end is None:
            unclosed.add(name)
            start = m.end()
            continue
        kept.append(markup[pos : m.start()])
        pos = start = end.end()
    kept.append(markup[pos:])
    return "".join(kept)


def _tags_replaced(tag: re.Pattern[str], replacement: str, markup: str) -> str:
    """``tag.sub(replacement, markup)``, looking for tags only before the last ``>``.

    Every tag ends with ``>``, so none starts after it; but each ``<`` there would be
    tried against the whole rest of the text (quadratic in a long run of ``<``).
    """
    end = markup.rfind(">") + 1
    return tag.sub(replacement, markup[:end]) + markup[end:] if end else markup


def raw_body_lines(mail: Mail) -> list[str]:
    """The body as written (not MIME-decoded), in lines: for reports whose MIME structure is broken.

    A multipart whose boundary parameter was lost (a folded ``Content-Type`` written
    without indentation) leaves its text in no part; a detector that found nothing in
    :attr:`Mail.text` can read the raw lines instead. Bounded like :attr:`Mail.text`.
    """
    raw = mail.raw[mail.raw.index(b"\n") + 1 :] if mail.raw.startswith(b"From ") else mail.raw
    raw = raw.replace(b"\r\n", b"\n")
    _, _, body = raw.partition(b"\n\n")
    return body[: MAX_TEXT].decode("utf-8", "replace").replace("\r", "\n").split("\n")

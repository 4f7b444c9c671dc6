"""Reading raw bytes into an ``email`` message tree, tolerantly.

The ``compat32`` policy is used on purpose: it never raises on defects and costs a
fraction of ``policy.default`` (see shared/reference/mta-testing.md). Helpers here
give detectors plain ``str`` values with header folding removed.
"""

from __future__ import annotations

import re
import email
import email.parser
import email.policy
from collections.abc import Iterator
from email.header import Header, decode_header
from email.message import Message

from verpd.parse.message import mime

# Parts whose contents are a returned copy of the original message: a bounce's
# facts never come from inside them.
RETURNED_COPY_TYPES = frozenset({"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"})


def read_message(raw: bytes) -> Message:
    """Parse ``raw``, dropping an mbox ``From `` envelope line if present.

    The tree is the one ``email.message_from_bytes(raw, policy=compat32)`` builds
    (bytes decoded as ASCII with surrogate escapes), built faster by ``mime.read``;
    a message nested deeper than the recursion limit is read for its top-level
    headers only.
    """
    if raw.startswith(b"From "):
        _, _, raw = raw.partition(b"\n")
    text = raw.decode("ascii", "surrogateescape")
    try:
        return mime.read(text)
    except RecursionError:
        return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)


def header_text(value: object) -> str:
    """A header value as one line of text, folding and surrounding blanks removed.

    compat32 hands over a value with raw 8-bit bytes as a ``Header``; those bytes are
    read as UTF-8 (as SMTPUTF8 mail writes them), not turned into one U+FFFD per byte.
    """
    if isinstance(value, Header):
        value = "".join(text.decode("utf-8", "replace") if isinstance(text, bytes) else text for text, _ in decode_header(value))
    return " ".join(str(value).split()) if value is not None else ""


# A delivery-status part's payload is a list of header blocks, which are no MIME parts.
_BLOCK_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_NOT_THE_REPORT = RETURNED_COPY_TYPES | _BLOCK_TYPES


def walk_report(msg: Message) -> Iterator[Message]:
    """Every part of ``msg`` except what lies inside a returned copy of the original."""
    return walk_parts(msg, _NOT_THE_REPORT)


def walk_parts(msg: Message, closed: frozenset[str] = _BLOCK_TYPES) -> Iterator[Message]:
    """``msg`` and its parts, depth first, not looking inside parts of the ``closed`` types.

    Unlike ``Message.walk`` it does not go into a delivery-status part's header blocks
    (a report may hold a hundred thousand), and it keeps no generator per level.
    """
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        payload = part._payload  # is_multipart() and get_payload() without their calls
        if isinstance(payload, list) and payload and part.get_content_type() not in closed:
            stack += [p for p in reversed(payload) if isinstance(p, Message)]


def part_text(part: Message) -> str:
    """The decoded text of a non-multipart part (undecodable bytes replaced)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown or malformed charset name, or a codec (idna) that refuses "replace"
        return payload.decode("utf-8", "replace")

"""A lean MIME reader that builds the same ``compat32`` message tree as the email package.

``email.message_from_bytes`` walks a message line by line in Python; bounces are
mostly a returned copy of the original, so that walk dominates parsing. This reader
splits header blocks and multipart bodies with ``str.find`` and regular expressions
instead, and builds ordinary :class:`email.message.Message` objects, so detectors
see exactly what the email package would give them (header values as written,
folding included; ``message/*`` parts parsed as messages; ``message/delivery-status``
as a list of header blocks; 8-bit bytes as surrogate escapes).

It reproduces the email package's defect lists and its recovery from broken
multiparts (no boundary, no opening or closing boundary line, a truncated copy);
what it does not model (an mbox ``From `` line inside a part, an empty boundary)
it hands to the email package: :func:`read` falls back to it whenever the
structure is that unusual. Parts nested deeper than 50 levels are not read: each
keeps its body as text (the email package would take time quadratic in the depth
of nesting, then run out of recursion; no report nests that deep). A part is read
as a span of the message's text, never copied out of it until it is a payload:
nesting costs neither a copy of the text per level nor time per level.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email import errors
from email.message import Message

_POLICY = email.policy.compat32
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:")  # a field name and its colon (RFC 5322 ftext)
_MAX_DEPTH = 50
_MISSING = object()


class _Unusual(Exception):
    """The message needs the email package's own recovery rules."""


class Parsed(Message):
    """A ``compat32`` message that answers header lookups from an index.

    Detectors ask the same few headers (and the content type) of every part many
    times; ``Message.get`` lower-cases every field name on each call. The index is
    built on first use and dropped by every method that changes the headers.
    """

    _index: dict[str, tuple[str, str]] | None = None
    _type: str | None = None
    _params: dict | None = None
    _lookups = 0

    def _lookup(self, name: str) -> tuple[str, str] | None:
        index = self._index
        if index is None:
            self._lookups += 1
            name = name.lower()
            if self._lookups == 1:  # most parts are asked once (their type): a scan is cheaper
                size = len(name)
                return next(((k, v) for k, v in self._headers if len(k) == size and k.lower() == name), None)
            index = {}
            for key, value in self._headers:
                index.setdefault(key.lower(), (key, value))
            self._index = index
            return index.get(name)
        return index.get(name.lower())

    def get(self, name, failobj=None):  # type: ignore[no-untyped-def]
        hit = self._lookup(name)
        return failobj if hit is None else self._fetch(*hit)

    def _fetch(self, name: str, value: str):  # type: ignore[no-untyped-def]
        if self.policy is _POLICY and value.__class__ is str and value.isascii():
            return value  # what compat32's header_fetch_parse returns for text without 8-bit bytes
        return self.policy.header_fetch_parse(name, value)

    def items(self):  # type: ignore[no-untyped-def]
        fetch = self._fetch
        return [(k, fetch(k, v)) for k, v in self._headers]

    def get_all(self, name, failobj=None):  # type: ignore[no-untyped-def]
        name = name.lower()
        size = len(name)
        fetch = self._fetch
        values = [fetch(k, v) for k, v in self._headers if len(k) == size and k.lower() == name]
        return values or failobj

    def get_content_type(self) -> str:
        if self._type is None:
            value = self.get("content-type")
            if value is None:
                self._type = self.get_default_type()
            elif value.__class__ is str:  # as Message.get_content_type, without its general path
                kind = value.partition(";")[0].strip().lower()
                self._type = kind if kind.count("/") == 1 else "text/plain"
            else:
                self._type = super().get_content_type()
        return self._type

    def _get_params_preserve(self, failobj, header):  # type: ignore[no-untyped-def]
        # Behind get_param / get_boundary / get_content_charset: parsed once per header.
        cache = self._params
        if cache is None:
            cache = self._params = {}
        key = header.lower()
        found = cache.get(key, _MISSING)
        if found is _MISSING:
            value = self.get(header, _MISSING)
            if value is _MISSING:
                return failobj
            if value.__class__ is not str or (found := _plain_params(value)) is None:
                found = super()._get_params_preserve(_MISSING, header)
            cache[key] = found
        return found

    def get_content_maintype(self) -> str:
        kind = self._type
        return (kind if kind is not None else self.get_content_type()).partition("/")[0]

    def get_content_subtype(self) -> str:
        return self.get_content_type().partition("/")[2]

    def _changed(self) -> None:
        self._index = None
        self._type = None
        self._params = None
        self._lookups = 0

    def __setitem__(self, name, val):  # type: ignore[no-untyped-def]
        self._changed()
        super().__setitem__(name, val)

    def __delitem__(self, name):  # type: ignore[no-untyped-def]
        self._changed()
        super().__delitem__(name)

    def replace_header(self, _name, _value):  # type: ignore[no-untyped-def]
        self._changed()
        super().replace_header(_name, _value)

    def add_header(self, _name, _value, **_params):  # type: ignore[no-untyped-def]
        self._changed()
        super().add_header(_name, _value, **_params)

    def set_raw(self, name, value):  # type: ignore[no-untyped-def]
        self._changed()
        super().set_raw(name, value)

    def set_default_type(self, ctype):  # type: ignore[no-untyped-def]
        self._changed()
        super().set_default_type(ctype)

    def set_type(self, type, header="Content-Type", requote=True):  # type: ignore[no-untyped-def]
        self._changed()
        super().set_type(type, header, requote)

    def set_param(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._changed()
        super().set_param(*args, **kwargs)

    def del_param(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._changed()
        super().del_param(*args, **kwargs)

    def set_boundary(self, boundary):  # type: ignore[no-untyped-def]
        self._changed()
        super().set_boundary(boundary)


def _plain_params(value: str) -> list[tuple[str, str]] | None:
    """A parameter list as Message._get_params_preserve gives it, for the plain case.

    Plain: ASCII, no backslash escapes, no RFC 2231 ``*`` parameters, and no ``;``
    inside a quoted string, so that splitting at ``;`` is what the email package's
    quote-aware scan does. Otherwise None (the email package's own path decides).
    """
    if "\\" in value or "*" in value or not value.isascii():
        return None
    pieces = value.split(";")
    if '"' in value and any(piece.count('"') % 2 for piece in pieces):
        return None
    first, *rest = pieces
    params = [(first.strip(), "")] if "=" not in first else [_param(first)]
    for piece in rest:
        if "=" in piece:
            name, text = _param(piece)
            params.append((name, '"%s"' % email.utils.quote(email.utils.unquote(text))))  # as email.utils.decode_params
        else:
            params.append((piece.strip(), '"%s"' % email.utils.quote(email.utils.unquote(""))))
    return params


def _param(piece: str) -> tuple[str, str]:
    name, _, text = piece.partition("=")
    return name.strip().lower(), text.strip()


def read(text: str) -> Message:
    """The message tree of ``text`` (a message decoded as ASCII with surrogate escapes)."""
    try:
        root = _message(text, 0, len(text), 0)
    except (_Unusual, RecursionError):
        return email.message_from_string(text, policy=_POLICY)
    if root.get_content_maintype() == "multipart" and not root.is_multipart():
        root.defects.append(errors.MultipartInvariantViolationDefect())  # checked on the root only, as the email package does
    return root


def _message(text: str, start: int, end: int, depth: int, default_type: str = "text/plain") -> Message:
    """The message in ``text[start:end]``."""
    msg = Parsed(policy=_POLICY)
    if default_type != "text/plain":
        msg.set_default_type(default_type)
    body = _headers(text, start, end, msg)
    maintype = msg.get_content_maintype()
    if depth >= _MAX_DEPTH and (maintype in ("multipart", "message")):
        msg.set_payload(text[body:end])  # nested too deep: its parts are not read
    elif maintype == "multipart":
        _multipart(text, body, end, msg, depth)
    elif msg.get_content_type() == "message/delivery-status":
        msg.set_payload(_delivery_status(text, body, end, depth))
    elif maintype == "message":
        msg.set_payload([_message(text, body, end, depth + 1)])
    else:
        msg.set_payload(text[body:end])
    return msg


# A header block every line of which is a field or a continuation, ended by an empty line
# or by the end of the text (a delivery-status block, a part with headers only). The
# quantifiers are possessive (nothing after them could match what they gave back): a
# repeated group otherwise keeps a backtracking record per repetition, about 80 bytes
# per line, so a header folded over a million short lines cost 100 times its size.
_PLAIN_BLOCK = re.compile(r"((?:[\041-\071\073-\176]++:[^\n]*+\n(?:[ \t][^\n]*+\n)*+)++)(?:\n|\Z)")
_FIELD = re.compile(r"([\041-\071\073-\176]++):[ \t]*+([^\n]*+(?:\n[ \t][^\n]*+)*+)")
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")


def _headers(text: str, start: int, end: int, msg: Message) -> int:
    """Add the header fields at the start of ``text[start:end]`` to ``msg``; return where the body starts."""
    plain = _PLAIN_BLOCK.match(text, start, end)
    if plain and not text.startswith("From ", start, end):
        # (name, value) as compat32's header_source_parse: blanks after the colon go,
        # continuation lines stay with their newlines, the last newline goes.
        fields = _FIELD.findall(text, start, plain.end(1) - 1)
        msg._headers.extend(fields)
        msg._type = _content_type(fields, msg)
        return plain.end()
    return _headers_line_by_line(text, start, end, msg)


def _content_type(fields: list[tuple[str, str]], msg: Message) -> str | None:
    """The type the first Content-Type field gives (as Message.get_content_type); None: ask it."""
    for name, value in fields:
        if len(name) == 12 and name.lower() == "content-type":
            if not value.isascii():
                return None  # 8-bit bytes: the email package's own path
            kind = value.partition(";")[0].strip().lower()
            return kind if kind.count("/") == 1 else "text/plain"
    return msg.get_default_type()


def _headers_line_by_line(text: str, start: int, length: int, msg: Message) -> int:
    """The same, for blocks with odd lines, following the email package's rules line by line."""
    pos = start
    if text.startswith("From ", start, length):
        raise _Unusual  # an mbox separator inside a part: leave it to the email package
    fields: list[list[str]] = []
    field_defects: list[errors.MessageDefect] = []  # reported after the block's own (the email package's order)
    dropping = False
    while pos < length:
        end = text.find("\n", pos, length)
        line_end = length if end < 0 else end
        line = text[pos:line_end]
        if not line:
            pos = line_end + 1
            break  # only an empty line ends the header block; " " is a continuation line
        if line[0] in " \t":
            if fields and not dropping:
                fields[-1].append("\n" + line)
            else:  # a continuation with no field before it (or after a dropped one) is dropped
                field_defects.append(errors.FirstHeaderLineIsContinuationDefect(line))
        elif line.startswith(":"):
            dropping = True  # no field name: the email package drops it and its continuation lines
            field_defects.append(errors.InvalidHeaderDefect("Missing header name."))
        elif line.startswith("From "):
            raise _Unusual  # an envelope line among the headers has rules of its own
        elif _HEADER_LINE.match(line):
            fields.append([line])
            dropping = False
        else:
            msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
            break  # a line that is no header starts the body (the email package does the same)
        pos = line_end + 1
    msg.defects.extend(field_defects)
    for lines in fields:
        name, value = "".join(lines).split(":", 1)
        msg._headers.append((name, value.lstrip(" \t").rstrip("\r\n")))  # as compat32's header_source_parse
    return min(pos, length)


def _multipart(text: str, start: int, end: int, msg: Message, depth: int) -> None:
    """Read the parts of the multipart body ``text[start:end]`` into ``msg``."""
    boundary = msg.get_boundary()
    if boundary is None:  # the email package reads the whole body as the payload
        msg.defects.append(errors.NoBoundaryInMultipartDefect())
        msg.set_payload(text[start:end])
        return
    if not boundary:
        raise _Unusual  # an empty boundary parameter: the email package's own rules decide
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())  # RFC 2045 §6.4
    default_type = "message/rfc822" if msg.get_content_subtype() == "digest" else "text/plain"
    marks = _boundaries(text, start, end, "--" + boundary)
    if not marks or marks[0][2]:
        # No opening boundary line: the text up to a closing one (or the end) is the
        # payload, and what follows is dropped, as the email package does.
        msg.defects.append(errors.StartBoundaryNotFoundDefect())
        msg.set_payload(text[start : marks[0][0] if marks else end])
        msg.epilogue = ""
        return
    parts = []
    i = 0
    closed = False
    while not closed:
        # Boundary lines right after one another count as one (the email package skips them).
        while i + 1 < len(marks) and marks[i + 1][0] == marks[i][1]:
            i += 1
        last = i + 1 >= len(marks)  # no closing boundary (a truncated copy): the part runs to the end
        part = _message(text, marks[i][1], end if last else marks[i + 1][0], depth + 1, default_type)
        _drop_boundary_newline(part)
        parts.append(part)
        if last:
            break
        i += 1
        closed = marks[i][2]
    preamble = text[start : marks[0][0]]
    msg.preamble = (preamble[:-1] if preamble.endswith("\n") else preamble) if preamble else None
    if closed:
        msg.epilogue = text[marks[i][1] : end]  # everything after the closing boundary line
    else:
        msg.defects.append(errors.CloseBoundaryNotFoundDefect())
    msg.set_payload(parts)


def _drop_boundary_newline(part: Message) -> None:
    """The newline before a boundary line belongs to the boundary (RFC 2046 §5.1.1).

    Exactly as the email package does it: the newline comes off the part's text
    payload, a multipart's epilogue, or, for a message/* part, off its innermost
    message (the last block of a delivery status).
    """
    last = part
    while last.get_content_maintype() == "message" and isinstance(inner := last._payload, list) and inner:
        last = inner[-1]  # a message/* part's own message, or the last block of a delivery status
    payload = last._payload  # not get_payload(): that turns 8-bit bytes into U+FFFD through the charset
    if last.get_content_maintype() == "multipart":
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue and last.epilogue.endswith("\n"):
            last.epilogue = last.epilogue[:-1]
    elif isinstance(payload, str) and payload.endswith("\n"):
        last._payload = payload[:-1]


def _boundaries(text: str, start: int, length: int, separator: str) -> list[tuple[int, int, bool]]:
    """(line start, start of the next line, is it the closing one) of every boundary line in ``text[start:length]``.

    A boundary line is the separator at the start of a line, optionally ``--``, then
    only blanks (RFC 2046 §5.1.1); text after it (``--b`` inside ``--bx``) is no boundary.
    """
    found = []
    pos = start
    while True:
        at = text.find(separator, pos, length)
        if at < 0:
            return found
        pos = at + len(separator)
        if at > start and text[at - 1] != "\n":
            continue
        end = text.find("\n", pos, length)
        end = length if end < 0 else end
        rest = text[pos:end]
        closing = rest.startswith("--")
        if rest[2 if closing else 0 :].strip(" \t"):
            continue
        found.append((at, min(end + 1, length), closing))
def _delivery_status(text: str, start: int, end: int, depth: int) -> list[Message]:
    """The header blocks of the delivery-status body ``text[start:end]``, split as the email package splits them.

    A block ends at an empty line; that line is consumed, and unless the body ends
    there another block follows (so two empty lines in a row make an empty block).
    Every empty block of the part is one and the same (nothing changes a block): a
    Message of its own for each cost 380 times the size of a part of blank lines.
    """
    lines = _LINES.findall(text, start, end)  # not str.splitlines(): it also splits at \v, \f and other separators
    blocks = []
    empty: Message | None = None
    i = 0
    while True:
        start = i
        while i < len(lines) and lines[i] != "\n":
            i += 1
        if i > start:
            blocks.append(_block("".join(lines[start:i]), depth + 1))
        else:
            if empty is None:  # (not "empty or ...": a Message without headers is false)
                empty = _block("", depth + 1)
            blocks.append(empty)
        i += 1  # the empty line that ended the block (or nothing, at the end)
        if i >= len(lines):
            return blocks


def _block(text: str, depth: int) -> Message:
    """One block, read as a message in its own right (as the email package reads it)."""
    if not text:
        block = Parsed(policy=_POLICY)
        block.set_payload("")
        return block
    return _message(text, 0, len(text), depth)

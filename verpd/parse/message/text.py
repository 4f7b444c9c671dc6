"""Text helpers every detector needs: addresses in running text, report sections, replies.

Pure functions over ``str``. What the text says in SMTP terms (status codes, reply
codes, the command in progress) is ``verpd.smtp``'s.
"""

from __future__ import annotations

import re
from email.utils import getaddresses

from verpd.model import RecipientFacts
from verpd.smtp import TYPE_PREFIX, find_reply_code, find_status_beside_ips

# Characters of one recipient's diagnostic that a report keeps. A report may name thousands
# of recipients, and some formats give each the same long text: output stays bounded.
MAX_DIAGNOSTIC = 2000

# An address in running text: a local part and a dotted domain, no spaces or brackets.
ADDRESS_PATTERN = r"""[^\s<>()\[\]@,;:"'`]+@(?:[^\s<>()\[\]@,;:"'`.]+\.)+[^\s<>()\[\]@,;:"'`.]+"""
# Searched for, a match starts only where a word starts (after a blank, a bracket, punctuation
# or an @), never inside one: trying every position of a long word costs time quadratic in its
# length (a 16,000-character word took 2 s), and inside a word it would only find a tail of it.
ADDRESS = re.compile(r"""(?<![^\s<>()\[\]@,;:"'`])""" + ADDRESS_PATTERN)
# A detector's own pattern for an address keeps ``@`` out of the domain part
# (``[^<>\s]+@[^<>\s@]+``): with ``@`` allowed on both sides, a line of ``a@a@a@...``
# makes it try each ``@`` against the rest of the line, in time quadratic in its length.

# What separates the words that may be addresses: blanks, brackets and ,;:
_NOT_IN_ADDRESS = re.compile(r"[\s<>()\[\],;:]+")


def find_addresses(text: str) -> list[str]:
    """Every address in ``text``, in order, without surrounding punctuation."""
    return [m.group(0).rstrip(".") for m in ADDRESS.finditer(text)]


def address_words(text: str) -> list[str]:
    """The words of ``text`` that may be addresses, lower-cased: runs holding an ``@`` between
    blanks, brackets and ``,;:``, with quotes and a final dot stripped.

    They are keys for finding where a text names an address (``<bob@example.org>:``,
    ``rfc822;bob@example.org``, ``bob@example.org...``) by one pass over the text, instead of
    a search of the whole text for each address.
    """
    if "@" not in text:
        return []
    return [word.strip("\"'`.").lower() for word in _NOT_IN_ADDRESS.split(text) if "@" in word]


def mailboxes(values: list[str]) -> list[tuple[str, str]]:
    """``email.utils.getaddresses(values)``: (display name, address) pairs; for a value whose
    comments nest too deep for its recursion (a forged header of a thousand ``(``), the
    addresses found in the text instead of an error."""
    try:
        return getaddresses(values)
    except RecursionError:
        return [("", address) for address in find_addresses(" ".join(values))]


def normalize_address(text: str) -> str:
    """``rfc822; <"User"@Example.org>`` → ``User@Example.org``: type prefix, brackets, quotes and blanks removed."""
    text = TYPE_PREFIX.sub("", " ".join(text.split()))
    text = text.strip().strip("<>").strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()  # the whole address quoted; a quoted local part ("a..b"@example.org) stays
    if text.startswith("<") or text.endswith(">"):
        text = text.strip("<>")
    if " " in text or text.startswith(("|", "/")):
        # A delivery target such as Exim's pipe "|/usr/bin/program user@example.org": its address.
        addresses = find_addresses(text)
        text = addresses[0] if addresses else text
    return text


# --- helpers shared by the commercial-server / provider detectors -------------------------

_ISO2022_ESCAPE = re.compile("\x1b[$(][@A-Z]")


def decode_iso2022(text: str) -> str:
    """``text`` with raw ISO-2022-JP escape sequences decoded (a DSN field or 8-bit header copied undecoded).

    Japanese MTAs (Lotus Domino, NTT/KDDI gateways) write ISO-2022-JP into fields that
    are read as ASCII; text without an ESC byte is returned as it is.
    """
    if "\x1b" not in text or not _ISO2022_ESCAPE.search(text):
        return text
    try:
        return text.encode("latin-1").decode("iso-2022-jp", "replace")
    except (UnicodeError, LookupError):
        return text


def sole_address(line: str) -> str | None:
    """The address when ``line`` is one address and nothing else (``a@b``, ``<a@b>``, ``"a@b":``)."""
    text = line.strip().rstrip(":").strip().strip("<>\"'").strip()
    m = ADDRESS.fullmatch(text) if "@" in text else None
    return m.group(0).rstrip(".") if m else None


def lines_before(lines: list[str], marker: re.Pattern[str]) -> list[str]:
    """``lines`` up to the first one ``marker`` matches (from its start), e.g. a returned-copy banner."""
    for i, line in enumerate(lines):
        if marker.match(line):
            return lines[:i]
    return lines



def lines_between(lines: list[str], start: re.Pattern[str], end: re.Pattern[str]) -> list[str]:
    """The lines after the first one ``start`` matches, up to the next one ``end`` matches."""
    for i, line in enumerate(lines):
        if start.match(line):
            return lines_before(lines[i + 1 :], end)
    return []


# --- helpers shared by the plain-text MTA detectors (qmail, Sendmail, Exim, ...) --------------

_REPLY_PREFIX = re.compile(r"(?:^|(?<=: ))([245]\d\d)([ -])(?:([245]\.\d{1,3}\.\d{1,3})(?: +|$))?")


def unfold_reply(lines: list[str]) -> str:
    """Lines of one report joined into one, a multi-line SMTP reply's repeated prefixes dropped.

    ``550-5.1.1 The account ...`` / ``550-5.1.1 double-checking ...`` / ``550 5.1.1 https://...``
    becomes ``550 5.1.1 The account ... double-checking ... https://...`` (RFC 5321 §4.2.1:
    every line but the last of a reply repeats the code followed by ``-``). The first code
    may follow a lead-in such as ``Remote host said: ``.
    """
    out: list[str] = []
    first: str | None = None
    for line in lines:
        line = line.strip()
        if first is not None:
            m = _REPLY_PREFIX.match(line)
            if m and m.group(1) == first:
                line = line[m.end() :].strip()
        elif m := _REPLY_PREFIX.search(line):
            first = m.group(1)
            code = f"{first} {m.group(3)} " if m.group(3) else f"{first} "
            line = (line[: m.start()] + code + line[m.end() :]).strip()
        if line:
            out.append(line)
    return " ".join(" ".join(out).split())


def reply_facts(address: str, diagnostic: str | None, **fields: str | None) -> RecipientFacts:
    """Facts for a recipient whose error text quotes a server's reply: its status code
    (never one read out of an IP address) and reply code come from that text."""
    return RecipientFacts(
        address=address,
        status=find_status_beside_ips(diagnostic or ""),
        reply_code=find_reply_code(diagnostic) if diagnostic else None,
        diagnostic=diagnostic,
        **fields,  # type: ignore[arg-type]
    )


class LazyPattern:
    """A regular expression compiled on first use: start-up does not pay for patterns
    that only run once a rare fingerprint has matched (``.pattern`` is there at once)."""

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def _regex(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def search(self, string: str, *args: int) -> re.Match[str] | None:
        return self._regex().search(string, *args)

    def match(self, string: str, *args: int) -> re.Match[str] | None:
        return self._regex().match(string, *args)

    def fullmatch(self, string: str, *args: int) -> re.Match[str] | None:
        return self._regex().fullmatch(string, *args)

    def finditer(self, string: str, *args: int):  # type: ignore[no-untyped-def]
        return self._regex().finditer(string, *args)

    def findall(self, string: str, *args: int) -> list:  # type: ignore[type-arg]
        return self._regex().findall(string, *args)

    def sub(self, repl, string: str, count: int = 0) -> str:  # type: ignore[no-untyped-def]
        return self._regex().sub(repl, string, count)

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        return self._regex().split(string, maxsplit)


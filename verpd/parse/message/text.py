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
# Where the address is the whole run between brackets or blanks, the same answer comes from
# reading the run whole once a look-ahead has found an ``@`` inside it
# (``<([^<>\s]+@[^<>\s]+)>`` as ``<(?=[^<>\s]+@[^<>\s])([^<>\s]++)>``).
#
# Likewise blanks: ``\s*:?\s*`` before something that cannot start with a blank splits a run of
# n blanks between its two quantifiers in every possible way (n² tries, n³ with three) when what
# follows fails; a possessive quantifier (``\s*+``, ``:?+``) takes the run whole and answers the same.

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
    """One recipient as a plain address: type prefix, brackets, quotes, X.400 decoration and route syntax removed.

    ``rfc822; <"User"@Example.org>`` → ``User@Example.org``, and, in this order:

    * Exchange / X.400 (RFC 2156) decoration: the SMTP address inside an O/R address
      (``c=US;a= ;p=Org;o=Site;dda:SMTP=bob@example.com;``, ``dda.type=SMTP;dda.value=bob(a)example.com``,
      RFC 2156 §4.3.3's ``(a)`` for ``@``), a proxy prefix (``SMTP:bob@example.com``,
      ``Bob (SMTP=bob@example.com)``) and Exchange's IMCEA encapsulation
      (``IMCEASMTP-bob+40example+2Ecom@exchange.example.org``);
    * an RFC 5321 §4.1.2 source route: ``@a.example,@b.example:bob@example.com`` → ``bob@example.com``;
    * the %-hack route (RFC 1123 §5.2.16): ``bob%example.com@relay`` → ``bob@example.com``.

    A name with no SMTP address in it (an X.400 O/R address or an Exchange DN such as
    ``/O=ORG/OU=SITE/CN=RECIPIENTS/CN=BOB``) comes back whitespace-normalised, for
    :func:`is_internet_address` to refuse.
    """
    text = TYPE_PREFIX.sub("", " ".join(text.split()))
    if "=" in text or ":" in text or text[:5].upper() == "IMCEA":
        text = _exchange_address(text)
    text = text.strip().strip("<>").strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()  # the whole address quoted; a quoted local part ("a..b"@example.org) stays
    if text.startswith("<") or text.endswith(">"):
        text = text.strip("<>")
    if text.startswith("@"):
        text = _SOURCE_ROUTE.sub("", text)
    if " " in text or text.startswith(("|", "/")):
        # A delivery target such as Exim's pipe "|/usr/bin/program user@example.org": its address.
        addresses = find_addresses(text)
        text = addresses[0] if addresses else text
    if "%" in text:
        m = _PERCENT_HACK.fullmatch(text)
        text = f"{m.group(1)}@{m.group(2)}" if m else text
    return text


def is_internet_address(address: str) -> bool:
    """Whether ``address`` names an Internet mailbox, not an MTA-internal one.

    A local part, ``@`` and a domain that has a dot (or is an address literal such as
    ``[192.0.2.1]``) and is no private name: ``user@mailhub0``, ``user@ims-ms-daemon``
    (Oracle Messaging Server's message-store channel), ``user@localhost``,
    ``user@host.localdomain``, ``.local`` (RFC 6762), ``.internal``, ``home.arpa``
    (RFC 8375), and Exchange's encapsulated non-SMTP addresses (``IMCEAEX-_O=ORG...@example.com``)
    are not.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or " " in domain:
        return False
    domain = domain.lower().rstrip(".")
    if domain.startswith("[") and domain.endswith("]"):
        return True
    if "." not in domain or domain == _PRIVATE_DOMAIN or domain.endswith(_PRIVATE_SUFFIXES):
        return False
    return not (local[:5].upper() == "IMCEA" and local[5:10].upper() != "SMTP-")


def x400_name(text: str) -> str | None:
    """The personal part of an X.400 O/R address or Exchange DN without an SMTP address: its last
    common name (``/O=ORG/OU=SITE/CN=RECIPIENTS/CN=BOB`` → ``BOB``) or surname (``c=US;...;s=Smith;`` → ``Smith``)."""
    found = _X400_NAME.findall(text)
    return found[-1].strip() if found else None


def _exchange_address(text: str) -> str:
    """The SMTP address inside an Exchange / X.400 recipient, or ``text`` unchanged."""
    m = _DDA_SMTP.search(text)
    if m:
        value = m.group(1).strip()
        return _RFC2156_ESCAPE.sub(lambda e: _RFC2156.get(e.group(1).lower()) or chr(int(e.group(1))), value) if "@" not in value else value
    m = _PROXY_SMTP.search(text)
    if m:
        return m.group(1)
    m = _IMCEA_SMTP.fullmatch(text)
    if m:
        return _IMCEA_ESCAPE.sub(lambda e: chr(int(e.group(1), 16)), m.group(1))
    return text


# dda:SMTP=bob@example.com; (Exchange's display of an O/R address) or dda.type=SMTP;dda.value=... (X.400 notation)
_DDA_SMTP = re.compile(r"\bdda(?::smtp=|\.type=smtp\s*;\s*dda\.value=)\s*([^;]+)", re.IGNORECASE)
# RFC 2156 §4.3.3: characters outside the X.400 printable string written as (a) @, (p) %, (b) !, (q) ", (u) _, (l) (, (r) ), (ddd)
_RFC2156_ESCAPE = re.compile(r"\(([apbqulr]|\d{3})\)", re.IGNORECASE)
_RFC2156 = {"a": "@", "p": "%", "b": "!", "q": '"', "u": "_", "l": "(", "r": ")"}
# An Exchange proxy address: "SMTP:bob@example.com", "Bob (SMTP=bob@example.com)", "[SMTP:bob@example.com]"
_PROXY_SMTP = re.compile(r"(?:^|[\s(\[;'\"])smtp[:=]\s*([^\s()\[\];,<>'\"]+@[^\s()\[\];,<>'\"]+)", re.IGNORECASE)
# Exchange's IMCEA encapsulation of a foreign address: IMCEA<type>-<address, + and hex for special characters>@<domain>
_IMCEA_SMTP = re.compile(r"IMCEASMTP-([^@]+)@[^@]+", re.IGNORECASE)
_IMCEA_ESCAPE = re.compile(r"\+([0-9A-Fa-f]{2})")
_X400_NAME = re.compile(r"(?:^|[/;])\s*(?:cn|s)\s*=\s*([^/;]+)", re.IGNORECASE)
# RFC 5321 §4.1.2 A-d-l: "@" domain *("," "@" domain) ":" before the mailbox
_SOURCE_ROUTE = re.compile(r"^@[^\s:@,]+(?:\s*,\s*@[^\s:@,]+)*\s*:\s*")
# user%final.domain[%relay...]@relay: the mailbox is user@final.domain (RFC 1123 §5.2.16). Each part
# is read whole (``++``, ``*+``; the dot checked by a look-ahead): "a%b.b.b...b%x@y@z" made the pattern
# try each dot against the rest, in time quadratic in the address's length.
_PERCENT_HACK = re.compile(r'([^@%"\s]++)%((?=[^@%"\s]+\.[^@%"\s])[^@%"\s]++)(?:%[^@"\s]*+)?+@[^@\s]++')
_PRIVATE_DOMAIN = "localhost"
_PRIVATE_SUFFIXES = (".localhost", ".localdomain", ".local", ".internal", ".home.arpa")


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


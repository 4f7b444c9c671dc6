"""DKIM: whether a message's signing domain vouches for it, and signing our own forwards.

:func:`check` answers with a :class:`DkimCheck`. Two sources, in this order:

1. ``Authentication-Results`` (RFC 8601), only when ``authserv_id`` is configured:
   the topmost such header carrying *our* authserv-id is the one our border MTA
   added (RFC 8601 §5 obliges it to remove forged copies of its own id from
   incoming mail). Headers with another authserv-id are ignored, and so is every
   header with our id below the topmost (if one survived the border, trusting it
   would trust the sender). Its ``dkim=`` results are mapped as follows:

   ==============  ============  ===================================================
   A-R ``dkim=``    DkimResult    why (RFC 8601 §2.7.1)
   ==============  ============  ===================================================
   pass             PASS
   fail             FAIL
   none             NONE          not signed
   temperror        TEMPERROR
   permerror        PERMERROR
   neutral          PERMERROR     signed, but the signature could not be processed
   policy           FAIL          valid maybe, but not acceptable to the verifier
   anything else    (skipped)     a result word RFC 8601 does not define
   ==============  ============  ===================================================

   ``header.d`` names the domain (else the domain of ``header.i``). If the header
   carries no usable ``dkim=`` result (an SPF-only header, say), the signatures are
   verified as in 2.

2. Our own verification with dkimpy. Both run in a worker thread (dkimpy and DNS block):
   the topmost :data:`MAX_SIGNATURES` DKIM-Signature fields are checked in order
   until one passes; the rest are never looked at, so a message stuffed with
   signatures costs at most that many DNS lookups and body hashes. The whole
   verification is bounded by ``timeout``; every DNS lookup is given what is left
   of it, and no further signature is started once it has run out, so the worker
   thread outlives a timed-out :func:`check` by at most one lookup (if the
   resolver honours its ``timeout``) and one hash.

Several results (signatures or ``dkim=`` entries) combine as: any PASS wins (its
domain is reported); otherwise TEMPERROR (a retry may pass) before FAIL before
PERMERROR, with the domain of the first signature. One signature's result:

- PASS: dkimpy verified it;
- FAIL: the key was found and usable, but the body hash or the signature does not match;
- TEMPERROR: the resolver raised (a timeout, SERVFAIL) or the time ran out;
- PERMERROR: the signature cannot be used (missing or malformed tags, t= in the
  future, x= expired, unknown algorithm, unparsable header block) or the key
  cannot (no TXT record, revoked ``p=``, malformed, shorter than 1024 bits,
  Ed25519: verifying those needs PyNaCl, which verpd does not install).

:func:`check` never raises for what a message contains: hostile input ends as
FAIL, PERMERROR or NONE.

:func:`sign` prepends an rsa-sha256, relaxed/relaxed signature. Only RSA keys are
supported: dkimpy signs Ed25519 only with PyNaCl, which verpd does not install.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import dkim as dkimpy
from dkim.crypto import parse_pem_private_key
from dkim.util import parse_tag_value

from verpd.config import DkimSigning
from verpd.errors import ConfigError, ConfigProblem

__all__ = [
    "MAX_SIGNATURES",
    "SIGNED_HEADERS",
    "SOURCE_AUTHENTICATION_RESULTS",
    "SOURCE_SIGNATURE",
    "DkimCheck",
    "DkimResult",
    "Resolver",
    "check",
    "sign",
]

MAX_SIGNATURES = 5  # DKIM-Signature fields verified per message, topmost first; ESPs and lists add 1-3
MIN_KEY_BITS = 1024  # RFC 8301 §3.2: verifiers reject shorter RSA keys (dkimpy's minkey)
SIGNED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type")

# dkimpy logs why a signature failed as prose with header content; check() reports the outcome instead.
_DKIMPY_LOG = logging.getLogger("verpd.dkim.dkimpy")
_DKIMPY_LOG.addHandler(logging.NullHandler())
_DKIMPY_LOG.propagate = False

SOURCE_SIGNATURE = "signature"
SOURCE_AUTHENTICATION_RESULTS = "authentication-results"


class DkimResult(enum.StrEnum):
    """The DKIM result of a message, named as RFC 8601 §2.7.1 names them."""

    PASS = "pass"  # a signature verified
    FAIL = "fail"  # signed, but no signature verified
    NONE = "none"  # not signed
    TEMPERROR = "temperror"  # a DNS failure or timeout: a later retry may succeed
    PERMERROR = "permerror"  # the signature or its key is unusable


@dataclass(frozen=True)
class DkimCheck:
    """What :func:`check` found."""

    result: DkimResult
    domain: str | None  # d= of the passing signature, else of the first one (lowercase)
    source: str  # "signature" (we verified) or "authentication-results" (our MTA did)


class Resolver(Protocol):
    """A TXT lookup, exactly dkimpy's ``dnsfunc`` hook (``dkim.dnsplug.get_txt`` is one).

    dkimpy calls ``resolver(name, timeout=seconds)`` with ``name`` the raw bytes
    ``s= + b"._domainkey." + d= + b"."`` (trailing dot, not decoded: whatever the
    signature says) and expects the TXT record's strings joined into one ``bytes``
    (``str`` is accepted and encoded as ASCII). Return ``None`` (or ``b""``) when
    there is no such record (NXDOMAIN, no TXT): that is PERMERROR. Raise, e.g.
    ``dkim.DnsTimeoutError``, when the answer is unknown (timeout, SERVFAIL):
    that is TEMPERROR. ``timeout`` is what is left of :func:`check`'s; honour it,
    or the worker thread outlives the check.
    """

    def __call__(self, name: bytes, timeout: float) -> bytes | str | None: ...


# Verification runs in threads of its own, never the event loop's default executor (which parses
# bounces): resolvers that hang can then delay only other DKIM checks, each of which still ends
# at its timeout (TEMPERROR), and never a delivery's parse.
MAX_THREADS = 4
_executor: ThreadPoolExecutor | None = None


_SIGNATURE_FIELD = re.compile(rb"^dkim-signature[ \t]*:", re.IGNORECASE | re.MULTILINE)


def _header_block(raw: bytes) -> bytes:
    """The message's header fields: everything before the first empty line."""
    end = re.search(rb"\r?\n\r?\n", raw)
    return raw if end is None else raw[: end.start() + 1]


def _threads() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="verpd-dkim")
    return _executor


async def check(raw: bytes, *, resolver: Resolver, timeout: float, authserv_id: str | None = None) -> DkimCheck:
    """The DKIM result of ``raw``: from our MTA's Authentication-Results if trusted, else verified.

    All of it (reading headers included) runs in one of :data:`MAX_THREADS` threads of its own,
    bounded by ``timeout``.
    """
    if authserv_id is None and not _SIGNATURE_FIELD.search(_header_block(raw)):
        return DkimCheck(DkimResult.NONE, None, SOURCE_SIGNATURE)  # nothing to verify: no thread, no lookup
    state = _Verification(resolver, time.monotonic() + timeout, timeout)
    work = asyncio.get_running_loop().run_in_executor(_threads(), state.run, raw, authserv_id)
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        state.cancelled.set()
        return DkimCheck(DkimResult.TEMPERROR, state.first_domain, SOURCE_SIGNATURE)


def sign(message: bytes, signing: DkimSigning) -> bytes:
    """``message`` with an rsa-sha256, relaxed/relaxed DKIM-Signature prepended.

    Signs those of :data:`SIGNED_HEADERS` the message has (From is required).
    Reads the key file on each call and blocks: call it off the event loop.
    Raises ConfigError if the key file is unreadable or not an RSA key of at least
    1024 bits, ValueError if the message cannot be signed (no From).
    """
    key = _signing_key(signing)
    try:
        selector, domain = signing.selector.encode("ascii"), signing.domain.encode("idna")
    except UnicodeError:
        raise ConfigError(str(signing.key_file), [ConfigProblem("dkim.sign_domain", "selector and domain must be DNS names")]) from None
    names = {name.lower() for name, _ in _header_fields(message)}
    include = [h.lower().encode("ascii") for h in SIGNED_HEADERS if h.lower() in names]
    first_line_end = message.find(b"\n")
    linesep = b"\r\n" if first_line_end > 0 and message[first_line_end - 1 : first_line_end] == b"\r" else b"\n"
    try:
        header = dkimpy.sign(
            message,
            selector,
            domain,
            key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=include,
            linesep=linesep,
            logger=_DKIMPY_LOG,
        )
    except dkimpy.DKIMException as e:
        raise ValueError(f"cannot DKIM-sign this message: {e}") from e
    return header + message


def _signing_key(signing: DkimSigning) -> bytes:
    def problem(message: str) -> ConfigError:
        return ConfigError(str(signing.key_file), [ConfigProblem("dkim.sign_key_file", message)])

    try:
        key = signing.key_file.read_bytes().replace(b"\r\n", b"\n")
    except OSError as e:
        raise problem(f"cannot read the DKIM key: {e.strerror}") from None
    try:
        bits = parse_pem_private_key(key)["modulus"].bit_length()
    except Exception:  # dkimpy's ASN.1 and base64 readers raise several kinds
        raise problem(
            "not an RSA private key in PEM form (Ed25519 needs PyNaCl, not installed); "
            "make one with: openssl genrsa -out dkim.pem 2048"
        ) from None
    if bits < MIN_KEY_BITS:
        raise problem(f"the RSA key has {bits} bits; receivers reject fewer than {MIN_KEY_BITS}, use 2048")
    return key


# --- verifying signatures (runs in a worker thread) -------------------------------------

_PRECEDENCE = (DkimResult.PASS, DkimResult.TEMPERROR, DkimResult.FAIL, DkimResult.PERMERROR, DkimResult.NONE)


def _combine(results: list[tuple[DkimResult, str | None]], source: str) -> DkimCheck:
    """One check from several results: any pass with its domain, else the most hopeful, with the first domain."""
    if not results:
        return DkimCheck(DkimResult.NONE, None, source)
    best = min(results, key=lambda r: _PRECEDENCE.index(r[0]))
    domain = best[1] if best[0] is DkimResult.PASS else results[0][1]
    return DkimCheck(best[0], domain, source)


class _Verification:
    """One message's verification; the event loop reads ``first_domain`` and sets ``cancelled``."""

    def __init__(self, resolver: Resolver, deadline: float, timeout: float) -> None:
        self.resolver = resolver
        self.deadline = deadline
        self.timeout = timeout
        self.cancelled = threading.Event()
        self.first_domain: str | None = None

    def run(self, raw: bytes, authserv_id: str | None) -> DkimCheck:
        try:
            if authserv_id:
                found = _from_authentication_results(raw, authserv_id)
                if found is not None:
                    return found
            return self._run(raw)
        except Exception:  # a dkimpy quirk tripped by hostile input must not escape
            return DkimCheck(DkimResult.PERMERROR, self.first_domain, SOURCE_SIGNATURE)

    def _run(self, raw: bytes) -> DkimCheck:
        try:
            verifier = dkimpy.DKIM(raw, logger=_DKIMPY_LOG, minkey=MIN_KEY_BITS, timeout=self.timeout)
        except Exception:  # dkimpy cannot split the header block (MessageFormatError, IndexError)
            signed = any(name.lower() == "dkim-signature" for name, _ in _header_fields(raw))
            return DkimCheck(DkimResult.PERMERROR if signed else DkimResult.NONE, None, SOURCE_SIGNATURE)
        signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
        if not signatures:
            return DkimCheck(DkimResult.NONE, None, SOURCE_SIGNATURE)
        self.first_domain = _signature_domain(signatures[0])
        results: list[tuple[DkimResult, str | None]] = []
        for idx, value in enumerate(signatures[:MAX_SIGNATURES]):
            if self.cancelled.is_set():
                break
            result = self._verify_one(verifier, idx)
            results.append((result, _signature_domain(value)))
            if result is DkimResult.PASS:
                break
        return _combine(results, SOURCE_SIGNATURE)

    def _verify_one(self, verifier: dkimpy.DKIM, idx: int) -> DkimResult:
        lookup = _Lookup(self)
        try:
            verified = verifier.verify(idx=idx, dnsfunc=lookup)
        except dkimpy.ValidationError:
            # Before the lookup: bad tags, t=/x=. After a usable key: the body hash does not match.
            return DkimResult.FAIL if lookup.outcome is _KEY_USABLE else DkimResult.PERMERROR
        except Exception:  # MessageFormatError, KeyFormatError (key too small), dkimpy's own slips
            return lookup.outcome if isinstance(lookup.outcome, DkimResult) else DkimResult.PERMERROR
        if verified:
            return DkimResult.PASS
        if isinstance(lookup.outcome, DkimResult):
            return lookup.outcome
        return DkimResult.FAIL if lookup.outcome is _KEY_USABLE else DkimResult.PERMERROR


_KEY_USABLE = "key usable"


class _Lookup:
    """The ``dnsfunc`` handed to dkimpy: bounds the resolver's time and notes why a lookup failed.

    dkimpy turns a timeout and a missing or bad key alike into "not verified"; the
    outcome noted here tells TEMPERROR, PERMERROR and FAIL apart.
    """

    def __init__(self, verification: _Verification) -> None:
        self.verification = verification
        self.outcome: DkimResult | str | None = None

    def __call__(self, name: bytes, timeout: float = 5.0) -> bytes | str | None:
        v = self.verification
        left = v.deadline - time.monotonic()
        if left <= 0 or v.cancelled.is_set():
            self.outcome = DkimResult.TEMPERROR
            raise dkimpy.DnsTimeoutError("verification time is up")
        try:
            record = v.resolver(name, timeout=min(timeout, left))
        except Exception as e:
            self.outcome = DkimResult.TEMPERROR
            raise dkimpy.DnsTimeoutError(f"resolver failed: {type(e).__name__}") from e
        if not record:
            self.outcome = DkimResult.PERMERROR  # no key record
            return None
        try:
            dkimpy.evaluate_pk(name, record)
        except Exception:  # revoked, malformed, unknown k=, Ed25519 without PyNaCl
            self.outcome = DkimResult.PERMERROR
        else:
            self.outcome = _KEY_USABLE
        return record


def _signature_domain(value: bytes) -> str | None:
    """The d= of a DKIM-Signature field value, lowercase, or None if it has none readable."""
    try:
        domain = parse_tag_value(value).get(b"d")
    except Exception:
        return None
    if not domain:
        return None
    return domain.decode("utf-8", "replace").lower()


# --- reading headers -------------------------------------------------------------------

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)", re.DOTALL)


def _header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header fields of ``raw``, unfolded, top first; lines that are no field are skipped."""
    end = _HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    fields: list[tuple[str, list[bytes]]] = []
    for line in _LINE.split(head):
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line.strip())
            continue
        m = _FIELD.match(line)
        if m:
            fields.append((m.group(1).decode("ascii"), [m.group(2).strip()]))
    return [(name, b" ".join(chunks).decode("utf-8", "replace")) for name, chunks in fields]


# --- Authentication-Results (RFC 8601) ------------------------------------------------

_AR_RESULTS = {
    "pass": DkimResult.PASS,
    "fail": DkimResult.FAIL,
    "none": DkimResult.NONE,
    "temperror": DkimResult.TEMPERROR,
    "permerror": DkimResult.PERMERROR,
    "neutral": DkimResult.PERMERROR,
    "policy": DkimResult.FAIL,
}
_RESINFO = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)(.*)", re.DOTALL)
_PROPERTY = re.compile(r'([A-Za-z0-9_-]+)\s*\.\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s";]+)')
MAX_AR_LENGTH = 16384  # characters of one Authentication-Results field read; ours are far shorter


def _from_authentication_results(raw: bytes, authserv_id: str) -> DkimCheck | None:
    """The dkim= result of the topmost Authentication-Results with ``authserv_id``, or None if none is usable."""
    ours = authserv_id.strip().casefold()
    for name, value in _header_fields(raw):
        if name.lower() != "authentication-results":
            continue
        parts = _split_semicolons(_strip_comments(value[:MAX_AR_LENGTH]))
        words = parts[0].split()
        if not words or _unquote(words[0]).casefold() != ours:
            continue  # another authserv-id: not added by our border MTA
        results = [r for r in (_dkim_resinfo(part) for part in parts[1:]) if r is not None]
        return _combine(results, SOURCE_AUTHENTICATION_RESULTS) if results else None
    return None


def _dkim_resinfo(part: str) -> tuple[DkimResult, str | None] | None:
    m = _RESINFO.match(part)
    if not m or m.group(1).lower() != "dkim":
        return None
    result = _AR_RESULTS.get(m.group(2).lower())
    if result is None:
        return None
    props = {f"{p.lower()}.{q.lower()}": _unquote(v) for p, q, v in _PROPERTY.findall(m.group(3))}
    domain = props.get("header.d") or props.get("header.i", "").rpartition("@")[2] or None
    return result, domain.lower() if domain else None


def _strip_comments(text: str) -> str:
    """``text`` without RFC 5322 comments (nested parentheses), keeping quoted strings intact."""
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


def _split_semicolons(text: str) -> list[str]:
    """``text`` split at the semicolons outside quoted strings."""
    parts: list[list[str]] = [[]]
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append([])
            continue
        parts[-1].append(ch)
    return ["".join(part) for part in parts]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def system_resolver(name: bytes, timeout: float = 5.0) -> bytes | None:
    """TXT lookups through the system's resolvers (dnspython): the resolver ``verpd serve`` uses.

    No such name, or no TXT record: None (the key is missing: PERMERROR). A server
    failure or a timeout raises (TEMPERROR: a retry may pass), unlike dkimpy's own
    ``dnsplug.get_txt``, which answers None to both.
    """
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name.decode("ascii").rstrip("."), "TXT", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    for record in answer:
        return b"".join(record.strings)
    return None

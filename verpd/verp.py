"""VERP addresses: encode the identity of one sent message, verify it when it bounces.

Pure and synchronous; the caller passes ``now`` (UNIX seconds). Two formats:

``mediawiki`` (compatibility, byte-for-byte with Extension:BounceHandler)
    ``PREFIX-WIKI-base36(user)-base36(time)-base64(HMAC(alg, secret, "PREFIX-WIKI-user-time")[:12])@domain``
    where WIKI is the wiki id with ``-`` replaced by ``.``. Deliberate hardening over
    the original (its validator accepts all of these): the domain must be ours, the
    prefix must be ours, a trailing ``-segment`` or a second ``@`` is refused, and a
    send time more than ``clock_skew`` in the future is refused. Comparison is
    constant-time. The base64 tag is case-sensitive, so an MTA that lower-cases
    local parts breaks these addresses, exactly as it breaks the original's.

``verpd`` (native, the default)
    ``PREFIX-TENANT-base36(user)-base36(time)-KTTTTTTTTTTTTTTTT@domain``: K is a key
    id (one base32 character derived from the signing secret) and T is an 80-bit
    HMAC tag in lowercase base32. Only ``[a-z0-9.-]`` occurs, so the address survives
    MTAs and forwarders that lower-case it, never collides with a ``+`` or ``/``
    delimiter, and stays far below 64 octets for realistic ids (``wiki-enwiki-
    21i3v9-s44we8-…`` is 43). Verification is case-insensitive.

In both formats every listed secret verifies and the first one signs, so secrets
rotate by prepending a new one and dropping the old one after ``accept_time``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime

from verpd.config import VerpConfig
from verpd.errors import VerpError, VerpErrorKind
from verpd.model import VerpAddress, VerpFormat

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_USER = 2**63 - 1  # user ids are stored as signed 64-bit integers
MAX_TIME = 253402300800  # 10000-01-01T00:00:00Z: datetime cannot represent later send times
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower-cased
_NATIVE_DOMAIN_SEPARATOR = b"verpd-v1\x00"
_B36_SEGMENT = re.compile(r"[0-9a-z]{1,13}")
_MEDIAWIKI_TAG = re.compile(r"[A-Za-z0-9+/]{16}")
_MEDIAWIKI_WIKI = re.compile(r"[A-Za-z0-9_.?]+")
_NATIVE_TENANT = re.compile(r"[a-z0-9](?:[a-z0-9.]*[a-z0-9])?")
_NATIVE_TAG = re.compile(rf"[{_B32}]{{17}}")


def base36(n: int) -> str:
    """Lowercase base 36 without padding, as PHP's ``base_convert($n, 10, 36)``."""
    if n < 0:
        raise ValueError("base36 of a negative number")
    digits = []
    while True:
        n, r = divmod(n, 36)
        digits.append(_B36[r])
        if n == 0:
            return "".join(reversed(digits))


def key_id(secret: bytes) -> str:
    """The one-character key id the native format carries for ``secret``."""
    return _B32[hashlib.sha256(b"verpd key id\x00" + secret).digest()[0] & 31]


class Verp:
    """Encodes and verifies the VERP addresses of one configuration."""

    def __init__(self, config: VerpConfig) -> None:
        self.config = config
        self._secrets = tuple(s.value for s in config.secrets)
        self._domain = config.domain.casefold()

    # --- encoding ---------------------------------------------------------------------

    def encode(self, tenant: str, user: int, sent_at: int) -> str:
        """The VERP address for a message sent to ``user`` of ``tenant`` at ``sent_at``."""
        if not 0 <= user <= MAX_USER:
            raise ValueError(f"user id must be between 0 and {MAX_USER}, got {user}")
        if not 0 <= sent_at < MAX_TIME:
            raise ValueError(f"send time must be a UNIX time in seconds, got {sent_at}")
        secret = self._secrets[0]
        if self.config.format is VerpFormat.MEDIAWIKI:
            wiki = tenant.replace("-", ".")
            if not _MEDIAWIKI_WIKI.fullmatch(wiki):
                raise ValueError(f"tenant {tenant!r}: a MediaWiki wiki id uses [A-Za-z0-9_-?] only")
            signed = f"{self.config.prefix}-{wiki}-{base36(user)}-{base36(sent_at)}"
            return f"{signed}-{self._mediawiki_tag(secret, signed)}@{self.config.domain}"
        if not _NATIVE_TENANT.fullmatch(tenant):
            raise ValueError(f"tenant {tenant!r}: the verpd format needs lowercase [a-z0-9.], not starting or ending with '.'")
        signed = f"{self.config.prefix}-{tenant}-{base36(user)}-{base36(sent_at)}-{key_id(secret)}"
        local = signed + self._native_tag(secret, signed)
        if len(local) > MAX_LOCAL_PART:
            raise ValueError(f"the address would have a {len(local)}-octet local part (RFC 5321 allows {MAX_LOCAL_PART}); use a shorter tenant or prefix")
        return f"{local}@{self.config.domain}"

    def _mediawiki_tag(self, secret: bytes, signed: str) -> str:
        digest = hmac.new(secret, signed.encode("ascii"), self.config.algorithm).digest()
        return base64.b64encode(digest[:12]).decode("ascii")

    def _native_tag(self, secret: bytes, signed: str) -> str:
        digest = hmac.new(secret, _NATIVE_DOMAIN_SEPARATOR + signed.encode("ascii"), self.config.algorithm).digest()
        return base64.b32encode(digest[:10]).decode("ascii").lower()

    # --- verification -----------------------------------------------------------------

    def verify(self, address: str, now: int) -> VerpAddress:
        """The decoded address, or :class:`VerpError` saying why it is not ours."""
        return self.in_time(self.decode(address), now)

    def decode(self, address: str) -> VerpAddress:
        """The address a secret of ours signed, whatever its age, or :class:`VerpError` (NOT_OURS, BAD_SIGNATURE)."""
        local, at, domain = address.rpartition("@")
        # Both formats are pure ASCII; without this check str.lower()/casefold() would map
        # look-alikes (U+212A KELVIN SIGN -> "k", U+017F LONG S -> "s") onto a valid address.
        if not address.isascii() or not at or "@" in local or domain.casefold() != self._domain:
            raise VerpError(VerpErrorKind.NOT_OURS, "not an address of the VERP domain")
        if self.config.format is VerpFormat.MEDIAWIKI:
            return self._decode_mediawiki(local)
        return self._decode_native(local.lower())

    def _decode_mediawiki(self, local: str) -> VerpAddress:
        wiki, user36, time36, tag = self._segments(local, _MEDIAWIKI_WIKI, "PREFIX-WIKI-USER-TIME-TAG")
        signed = local[: -len(tag) - 1]
        index = self._match(tag if _MEDIAWIKI_TAG.fullmatch(tag) else None, lambda s: self._mediawiki_tag(s, signed))
        return self._decoded(wiki.replace(".", "-"), user36, time36, local, index)

    def _decode_native(self, local: str) -> VerpAddress:
        tenant, user36, time36, tail = self._segments(local, _NATIVE_TENANT, "PREFIX-TENANT-USER-TIME-TAG")
        signed, kid = local[:-16], tail[:1]
        tag = tail[1:] if _NATIVE_TAG.fullmatch(tail) else None
        index = self._match(tag, lambda s: self._native_tag(s, signed) if key_id(s) == kid else None)
        return self._decoded(tenant, user36, time36, local, index)

    def _segments(self, local: str, tenant_pattern: re.Pattern[str], shape: str) -> tuple[str, str, str, str]:
        """(tenant, user36, time36, tag) of ``PREFIX-TENANT-USER-TIME-TAG``, or NOT_OURS."""
        parts = local.split("-")
        if len(parts) != 5 or parts[0] != self.config.prefix:
            raise VerpError(VerpErrorKind.NOT_OURS, f"not shaped like {shape}")
        _, tenant, user36, time36, tag = parts
        if not (tenant_pattern.fullmatch(tenant) and _B36_SEGMENT.fullmatch(user36) and _B36_SEGMENT.fullmatch(time36)):
            raise VerpError(VerpErrorKind.NOT_OURS, f"not shaped like {shape}")
        return tenant, user36, time36, tag

    def _match(self, tag: str | None, expected_for: Callable[[bytes], str | None]) -> int:
        """Index of the first secret whose tag equals ``tag`` (constant-time compare)."""
        if tag is not None:
            for index, secret in enumerate(self._secrets):
                expected = expected_for(secret)
                if expected is not None and hmac.compare_digest(expected.encode("ascii"), tag.encode("ascii")):
                    return index
        raise VerpError(VerpErrorKind.BAD_SIGNATURE, "the signature does not match any configured secret")

    def _decoded(self, tenant: str, user36: str, time36: str, local: str, index: int) -> VerpAddress:
        user, sent = int(user36, 36), int(time36, 36)
        if user > MAX_USER or sent >= MAX_TIME:
            raise VerpError(VerpErrorKind.NOT_OURS, "user id or send time out of range")
        return VerpAddress(tenant, user, datetime.fromtimestamp(sent, UTC), local, index)

    def in_time(self, decoded: VerpAddress, now: int) -> VerpAddress:
        """``decoded`` if its send time lies within verp.accept_time and verp.clock_skew of ``now``, else EXPIRED or FUTURE."""
        sent = int(decoded.sent_at.timestamp())
        if now - sent >= self.config.accept_time:
            raise VerpError(VerpErrorKind.EXPIRED, f"sent {now - sent} s ago, accepted for {self.config.accept_time} s")
        if sent - now > self.config.clock_skew:
            raise VerpError(VerpErrorKind.FUTURE, f"send time lies {sent - now} s in the future")
        return decoded


# Errors that say more than "not ours": reported in preference when no configuration verifies.
_SPECIFIC = (VerpErrorKind.BAD_SIGNATURE, VerpErrorKind.EXPIRED, VerpErrorKind.FUTURE)


class VerpSet:
    """The global VERP configuration and the tenants' own (``[tenants.<id>.verp]``).

    A tenant with its own configuration is verified only with it (its secrets, domain,
    format), and its configuration verifies no other tenant's addresses: one tenant's
    secret can never sign for another.
    """

    def __init__(self, default: VerpConfig, tenants: dict[str, VerpConfig] | None = None) -> None:
        self.default = Verp(default)
        self.tenants = {tenant: Verp(config) for tenant, config in (tenants or {}).items() if config != default}

    def encode(self, tenant: str, user: int, sent_at: int) -> str:
        return self.tenants.get(tenant, self.default).encode(tenant, user, sent_at)

    def verify(self, address: str, now: int) -> VerpAddress:
        """The decoded address, verified by the configuration of the tenant it names.

        Its age is judged once that configuration has verified the signature, so a
        tenant's own expired address is EXPIRED, not the BAD_SIGNATURE another
        configuration (tried first) found.
        """
        best: VerpError | None = None
        for owner, verp in ((None, self.default), *self.tenants.items()):
            try:
                decoded = verp.decode(address)
            except VerpError as e:
                if best is None or (e.kind in _SPECIFIC and best.kind not in _SPECIFIC):
                    best = e
                continue
            if (owner is None and decoded.tenant in self.tenants) or (owner is not None and decoded.tenant != owner):
                best = VerpError(VerpErrorKind.BAD_SIGNATURE, "the signature does not match any secret of the tenant it names")
                continue
            return verp.in_time(decoded, now)
        assert best is not None
        raise best

"""VERP addresses: MediaWiki compatibility (golden vectors) and the native verpd format.

The golden vectors live in the shared reference data (``vectors/mediawiki_verp.json``,
checked against the extension's own PHP); they are read in place, never copied here.
Where verpd deliberately rejects what Extension:BounceHandler accepts (future send
times, a trailing ``-segment``, a foreign domain, a second ``@``), the test says so.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import shared_file
from verpd.config import Secret, VerpConfig
from verpd.errors import VerpError, VerpErrorKind
from verpd.model import VerpFormat
from verpd.verp import MAX_TIME, Verp, VerpSet, base36, key_id

VECTORS = "vectors/mediawiki_verp.json"
HOME_DOMAIN = "wiki.example.org"  # domain of vectors 1-14, from which the negative cases derive
CLOCK_SKEW = 300  # verp.clock_skew default ("5m")
ACCEPT_TIME = 259200  # verp.accept_time default ("3d"), also $wgVERPAcceptTime
NOW = 1_700_000_000
NATIVE_SECRET = b"native-secret-for-unit-tests-0123456789"


@functools.cache
def _vector_file() -> dict[str, Any]:
    return json.loads(shared_file(VECTORS).read_text("utf-8"))


def _entries(section: str, make_id: Any) -> list[Any]:
    """One pytest.param per entry of ``section``; a clear skip when the shared data is absent."""
    try:
        entries = _vector_file()[section]
    except pytest.skip.Exception as absent:
        return [pytest.param(None, id=f"{section}-unavailable", marks=pytest.mark.skip(reason=absent.msg))]
    return [pytest.param(entry, id=make_id(i, entry)) for i, entry in enumerate(entries)]


def _vector(vector_id: int) -> dict[str, Any]:
    return next(v for v in _vector_file()["vectors"] if v["id"] == vector_id)


def _expiry_id(i: int, case: dict[str, Any]) -> str:
    return f"expiry-{i + 1}-age{case['now'] - case['timestamp']}s"


def _quirk_id(i: int, quirk: dict[str, Any]) -> str:
    local, _, domain = quirk["address"].partition("@")
    if "@" in domain:
        return "quirk-double-at"
    if domain != HOME_DOMAIN:
        return "quirk-foreign-domain"
    if local.count("-") > 4:
        return "quirk-trailing-segment"
    return f"quirk-{i + 1}"


def mediawiki(
    *secrets: str | bytes,
    prefix: str = "wiki",
    domain: str = HOME_DOMAIN,
    algorithm: str = "md5",
    accept_time: int = ACCEPT_TIME,
    clock_skew: int = CLOCK_SKEW,
) -> Verp:
    keys = tuple(Secret(s.encode() if isinstance(s, str) else s) for s in secrets or ("MediawikiVERP",))
    return Verp(VerpConfig(VerpFormat.MEDIAWIKI, prefix, domain, algorithm, keys, accept_time, clock_skew))


def native(
    *secrets: bytes,
    prefix: str = "wiki",
    domain: str = "bounces.example.org",
    algorithm: str = "sha256",
    accept_time: int = ACCEPT_TIME,
    clock_skew: int = CLOCK_SKEW,
) -> Verp:
    keys = tuple(Secret(s) for s in secrets or (NATIVE_SECRET,))
    return Verp(VerpConfig(VerpFormat.VERPD, prefix, domain, algorithm, keys, accept_time, clock_skew))


def make(fmt: VerpFormat, *secrets: bytes, **options: Any) -> Verp:
    return mediawiki(*secrets, **options) if fmt is VerpFormat.MEDIAWIKI else native(*secrets, **options)


def rejection(verp: Verp, address: str, now: int) -> VerpErrorKind:
    with pytest.raises(VerpError) as caught:
        verp.verify(address, now)
    return caught.value.kind


def change_tag_char(address: str) -> str:
    """``address`` with the last character of its local part (inside the tag) replaced."""
    local, _, domain = address.rpartition("@")
    last = local[-1]
    return f"{local[:-1]}{'b' if last.lower() == 'a' else 'a'}@{domain}"


# --- MediaWiki golden vectors ------------------------------------------------------------


def test_vector_file_has_the_documented_number_of_cases() -> None:
    """The vector file holds 30 vectors, 14 invalid, 5 expiry cases and 3 quirks, so no table silently shrinks."""
    data = _vector_file()
    counts = {section: len(data[section]) for section in ("vectors", "invalid", "expiry_cases", "quirks")}
    assert counts == {"vectors": 30, "invalid": 14, "expiry_cases": 5, "quirks": 3}


@pytest.mark.parametrize("vector", _entries("vectors", lambda i, v: f"vector-{v['id']}"))
def test_mediawiki_encode_reproduces_the_golden_address_byte_for_byte(vector: dict[str, Any]) -> None:
    """Encoding a vector's wiki id, user id and timestamp gives exactly the address the extension generated."""
    verp = mediawiki(vector["secret"], prefix=vector["prefix"], domain=vector["domain"], algorithm=vector["algorithm"])
    assert verp.encode(vector["wiki_id"], vector["user_id"], vector["timestamp"]) == vector["address"]


@pytest.mark.parametrize("vector", _entries("vectors", lambda i, v: f"vector-{v['id']}"))
def test_mediawiki_verify_decodes_what_the_extension_decodes(vector: dict[str, Any]) -> None:
    """Verifying a golden address yields the extension's wikiId, rawUserId and bounce time, and the local part as received."""
    validation = vector["validation"]
    verp = mediawiki(
        vector["secret"],
        prefix=vector["prefix"],
        domain=vector["domain"],
        algorithm=vector["algorithm"],
        accept_time=validation["accept_time"],
    )
    decoded = verp.verify(vector["address"], now=validation["now"])
    assert decoded.tenant == validation["decoded"]["wikiId"]
    assert decoded.user == int(validation["decoded"]["rawUserId"])
    assert decoded.sent_at == datetime.fromtimestamp(vector["timestamp"], UTC)
    assert decoded.sent_at.utcoffset() is not None and decoded.sent_at.utcoffset().total_seconds() == 0
    assert decoded.sent_at.strftime("%Y%m%d%H%M%S") == validation["decoded"]["bounceTime"]
    assert decoded.local_part == vector["local_part"] == vector["address"].rpartition("@")[0]
    assert decoded.key_index == 0


@pytest.mark.parametrize("entry", _entries("invalid", lambda i, e: e["id"]))
def test_mediawiki_rejects_every_invalid_vector(entry: dict[str, Any]) -> None:
    """Every address the extension refuses (tampering, case folding, padding, wrappers, 3 segments) raises VerpError."""
    # neg-14 was generated with $wgVERPprefix = "my-wiki", which verp.prefix forbids
    # (a '-' splits the prefix); whether we are configured with "my" or "wiki", it is refused.
    prefixes = ("my", "wiki") if entry["id"] == "neg-14" else ("wiki",)
    for prefix in prefixes:
        verp = mediawiki(entry["secret"], prefix=prefix, algorithm=entry["algorithm"], accept_time=entry["validation"]["accept_time"])
        with pytest.raises(VerpError):
            verp.verify(entry["address"], now=entry["validation"]["now"])


@pytest.mark.parametrize(
    "case",
    [p for p in _entries("expiry_cases", _expiry_id) if p.values[0] is None or p.values[0]["now"] >= p.values[0]["timestamp"]],
)
def test_mediawiki_expiry_cases_follow_the_original(case: dict[str, Any]) -> None:
    """An address is valid while now - sent < accept_time (strict), exactly as in the extension; older ones are EXPIRED."""
    verp = mediawiki(case["secret"], algorithm=case["algorithm"], accept_time=case["accept_time"])
    if case["valid"]:
        assert verp.verify(case["address"], now=case["now"]).sent_at == datetime.fromtimestamp(case["timestamp"], UTC)
    else:
        assert rejection(verp, case["address"], case["now"]) is VerpErrorKind.EXPIRED


def test_mediawiki_future_send_time_is_rejected_unlike_the_original() -> None:
    """A send time a day in the future, which the extension accepts (no lower bound), is refused as FUTURE beyond verp.clock_skew.

    Deliberate hardening: an address "sent" in the future means a forged or
    replayed timestamp or a badly wrong clock, and accepting it would extend the
    address's life past accept_time. Only ``clock_skew`` (default 300 s) is allowed.
    """
    future = [c for c in _vector_file()["expiry_cases"] if c["now"] < c["timestamp"]]
    assert len(future) == 1 and future[0]["valid"] is True  # the original accepts it
    case = future[0]
    verp = mediawiki(case["secret"], algorithm=case["algorithm"], accept_time=case["accept_time"])
    assert case["timestamp"] - case["now"] > CLOCK_SKEW
    assert rejection(verp, case["address"], case["now"]) is VerpErrorKind.FUTURE


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [(0, True), (CLOCK_SKEW, True), (CLOCK_SKEW + 1, False)],
    ids=["same-second", "exactly-clock-skew-ahead", "one-second-beyond-clock-skew"],
)
def test_send_time_up_to_clock_skew_in_the_future_is_accepted(fmt: VerpFormat, ahead: int, accepted: bool) -> None:
    """A send time at most clock_skew seconds after now verifies (clocks differ between hosts); one second more is FUTURE."""
    verp = make(fmt)
    address = verp.encode("enwiki", 42, NOW + ahead)
    if accepted:
        assert verp.verify(address, NOW).sent_at == datetime.fromtimestamp(NOW + ahead, UTC)
    else:
        assert rejection(verp, address, NOW) is VerpErrorKind.FUTURE


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_address_exactly_accept_time_old_is_expired(fmt: VerpFormat) -> None:
    """An address is accepted up to accept_time - 1 seconds after sending and EXPIRED at exactly accept_time (strict <)."""
    verp = make(fmt, accept_time=3600)
    address = verp.encode("enwiki", 42, NOW)
    assert verp.verify(address, NOW + 3599).user == 42
    assert rejection(verp, address, NOW + 3600) is VerpErrorKind.EXPIRED


@pytest.mark.parametrize("quirk", _entries("quirks", _quirk_id))
def test_mediawiki_quirks_accepted_by_the_original_are_not_ours(quirk: dict[str, Any]) -> None:
    """A trailing -segment, a foreign domain or a second '@', all accepted by the extension, are refused as NOT_OURS.

    Deliberate hardening: verpd validates the envelope recipient at RCPT, so it
    accepts only the exact addresses it could have generated, on its own domain.
    """
    assert quirk["valid"] is True  # the original accepts it
    verp = mediawiki(quirk["secret"], algorithm=quirk["algorithm"], accept_time=quirk["accept_time"])
    assert rejection(verp, quirk["address"], quirk["now"]) is VerpErrorKind.NOT_OURS


def test_mediawiki_domain_comparison_ignores_case() -> None:
    """Vector 30's upper-case domain verifies against a lower-case verp.domain and vice versa: the domain is compared case-insensitively."""
    vector = _vector(30)
    local, _, domain = vector["address"].rpartition("@")
    assert domain != domain.lower()
    now = vector["validation"]["now"]
    assert mediawiki(domain=domain.lower()).verify(vector["address"], now).user == 99
    assert mediawiki(domain=domain).verify(f"{local}@{domain.upper()}", now).user == 99
    assert mediawiki(domain=domain).verify(f"{local}@{domain.lower()}", now).local_part == local


# --- rejection kinds and key rotation (both formats) -------------------------------------


def _wrong_domain(address: str) -> str:
    return address.rpartition("@")[0] + "@evil.example"


def _wrong_prefix(address: str) -> str:
    return "bounce" + address[len("wiki") :]


def _too_few_segments(address: str) -> str:
    return "wiki-enwiki-1@" + address.rpartition("@")[2]


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(
    ("mangle", "kind"),
    [
        (_wrong_domain, VerpErrorKind.NOT_OURS),
        (_wrong_prefix, VerpErrorKind.NOT_OURS),
        (_too_few_segments, VerpErrorKind.NOT_OURS),
        (lambda a: a.replace("@", ""), VerpErrorKind.NOT_OURS),
        (lambda a: "", VerpErrorKind.NOT_OURS),
        (lambda a: f"<{a}>", VerpErrorKind.NOT_OURS),
        (change_tag_char, VerpErrorKind.BAD_SIGNATURE),
    ],
    ids=["wrong-domain", "wrong-prefix", "malformed-3-segments", "malformed-no-at", "empty", "angle-brackets", "tampered-tag"],
)
def test_rejection_kind_names_why_an_address_is_refused(fmt: VerpFormat, mangle: Any, kind: VerpErrorKind) -> None:
    """Wrong domain, wrong prefix or a malformed address is NOT_OURS; a tampered tag is BAD_SIGNATURE."""
    verp = make(fmt)
    assert rejection(verp, mangle(verp.encode("enwiki", 42, NOW)), NOW + 60) is kind


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_address_signed_with_another_secret_is_bad_signature(fmt: VerpFormat) -> None:
    """An address signed with a secret we do not hold is BAD_SIGNATURE."""
    address = make(fmt, b"someone-else-entirely-0123456789").encode("enwiki", 42, NOW)
    assert rejection(make(fmt), address, NOW + 60) is VerpErrorKind.BAD_SIGNATURE


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_expired_address_is_expired_not_bad_signature(fmt: VerpFormat) -> None:
    """A correctly signed address older than accept_time is EXPIRED."""
    verp = make(fmt)
    assert rejection(verp, verp.encode("enwiki", 42, NOW), NOW + ACCEPT_TIME + 1) is VerpErrorKind.EXPIRED


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(("age", "kind"), [(ACCEPT_TIME + 1, VerpErrorKind.EXPIRED), (-CLOCK_SKEW - 1, VerpErrorKind.FUTURE)], ids=["expired", "future"])
def test_tenants_own_address_out_of_time_is_expired_or_future_not_bad_signature(fmt: VerpFormat, age: int, kind: VerpErrorKind) -> None:
    """An address a tenant's own configuration signed, outside its time window, is EXPIRED or FUTURE, not the
    BAD_SIGNATURE of the global configuration tried first (found by tests/fuzz.py: RCPT said "signature does not verify")."""
    own = make(fmt, b"a-secret-only-dewiki-knows-0123456")
    verps = VerpSet(native().config, {"dewiki": own.config})
    address = own.encode("dewiki", 42, NOW)
    assert verps.verify(address, NOW).user == 42
    with pytest.raises(VerpError) as caught:
        verps.verify(address, NOW + age)
    assert caught.value.kind is kind


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_key_rotation_first_secret_signs_and_every_listed_secret_verifies(fmt: VerpFormat) -> None:
    """With secrets (new, old) new signs, addresses of either verify with key_index naming the secret, and a dropped secret's fail."""
    new, old = b"new-secret-after-rotation-0123456789", b"old-secret-before-rotation-012345678"
    rotated = make(fmt, new, old)
    by_new = rotated.encode("enwiki", 42, NOW)
    by_old = make(fmt, old).encode("enwiki", 42, NOW)
    assert by_new == make(fmt, new).encode("enwiki", 42, NOW)
    assert by_new != by_old
    assert rotated.verify(by_new, NOW).key_index == 0
    assert rotated.verify(by_old, NOW).key_index == 1
    assert rejection(make(fmt, new), by_old, NOW) is VerpErrorKind.BAD_SIGNATURE


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(
    ("ascii", "lookalike"),
    [("-kwiki-", "-\u212awiki-"), ("@bounces.", "@bounce\u017f."), ("wiki.example", "wi\u212ai.example")],
    ids=["kelvin-sign-in-local-part", "long-s-in-domain", "kelvin-sign-in-domain"],
)
def test_non_ascii_lookalike_of_a_valid_address_is_not_ours(fmt: VerpFormat, ascii: str, lookalike: str) -> None:
    """A non-ASCII character that lower-cases or case-folds to an address's letter (K -> k, ſ -> s) makes it NOT_OURS, not an alias."""
    verp = make(fmt, domain="bounces.wiki.example.org")
    address = verp.encode("kwiki", 42, NOW)
    assert ascii in address
    assert rejection(verp, address.replace(ascii, lookalike, 1), NOW) is VerpErrorKind.NOT_OURS


# --- native format ---------------------------------------------------------------------

NATIVE_LOCAL = re.compile(r"[a-z0-9.-]+")
YEAR_2100 = 4102444800
REALISTIC = [
    pytest.param("enwiki", 123456789, 1_700_000_000, id="enwiki"),
    pytest.param("a", 0, 0, id="shortest"),
    pytest.param("wikidb.mediawiki", 2**40, YEAR_2100, id="16-char-tenant-user-2**40-year-2100"),
    pytest.param("zzzzzzzzzzzzzzzz", 2**40, YEAR_2100, id="16-char-tenant-of-z"),
    pytest.param("0123456789abcdef", 2**40 - 1, YEAR_2100 - 1, id="digits-tenant"),
]


@pytest.mark.parametrize(("tenant", "user", "sent_at"), REALISTIC)
def test_native_local_part_uses_only_lowercase_letters_digits_dot_and_dash(tenant: str, user: int, sent_at: int) -> None:
    """The native local part is made of [a-z0-9.-] only: no '+' or '/' delimiter and nothing case can change."""
    local, _, domain = native().encode(tenant, user, sent_at).rpartition("@")
    assert NATIVE_LOCAL.fullmatch(local)
    assert domain == "bounces.example.org"


@pytest.mark.parametrize(("tenant", "user", "sent_at"), REALISTIC)
def test_native_local_part_fits_in_64_octets_for_realistic_ids(tenant: str, user: int, sent_at: int) -> None:
    """With prefix "wiki", a tenant of up to 16 characters, a user up to 2**40 and a send time up to 2100, the local part is at most 64 octets (RFC 5321)."""
    local = native().encode(tenant, user, sent_at).rpartition("@")[0]
    assert len(local.encode("ascii")) <= 64


def test_native_encode_refuses_a_local_part_over_64_octets() -> None:
    """An id combination that would exceed RFC 5321's 64-octet local part is a ValueError saying how to fix it."""
    with pytest.raises(ValueError, match="64.*shorter tenant"):
        native().encode("a" * 30, 2**62, 2_000_000_000)


@pytest.mark.parametrize("change_case", [str.lower, str.upper, str.swapcase], ids=["lower", "upper", "swapcase"])
@pytest.mark.parametrize(("tenant", "user", "sent_at"), REALISTIC)
def test_native_address_verifies_whatever_the_letter_case(tenant: str, user: int, sent_at: int, change_case: Any) -> None:
    """A native address still verifies, to the same canonical local part, after an MTA changes the case of the whole address."""
    verp = native(domain="Bounces.Example.ORG")
    address = verp.encode(tenant, user, sent_at)
    changed = change_case(address)
    assert changed != address
    decoded = verp.verify(changed, now=sent_at)
    assert (decoded.tenant, decoded.user, decoded.sent_at) == (tenant, user, datetime.fromtimestamp(sent_at, UTC))
    assert decoded.local_part == address.rpartition("@")[0]


@pytest.mark.parametrize(
    "tenant",
    ["EnWiki", "en_wiki", ".enwiki", "enwiki.", "en-wiki", "", "énwiki"],
    ids=["uppercase", "underscore", "leading-dot", "trailing-dot", "dash", "empty", "non-ascii"],
)
def test_native_tenant_outside_its_alphabet_is_a_value_error_that_says_why(tenant: str) -> None:
    """encode refuses a tenant that is not lowercase [a-z0-9.] with no leading or trailing '.', naming the tenant and the rule."""
    with pytest.raises(ValueError) as caught:
        native().encode(tenant, 42, NOW)
    message = str(caught.value)
    assert repr(tenant) in message
    assert "lowercase [a-z0-9.]" in message and "'.'" in message


@pytest.mark.parametrize(
    ("user", "sent_at", "fragment"),
    [(-1, NOW, "user id"), (2**63, NOW, "user id"), (42, -1, "send time"), (42, MAX_TIME, "send time")],
    ids=["negative-user", "user-beyond-int64", "negative-time", "time-in-year-10000"],
)
@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_encode_refuses_out_of_range_user_or_time(fmt: VerpFormat, user: int, sent_at: int, fragment: str) -> None:
    """A user id outside 0..2**63-1 or a send time outside 1970..9999 (what a datetime can hold) is a ValueError naming the field."""
    with pytest.raises(ValueError, match=fragment):
        make(fmt).encode("enwiki", user, sent_at)


def test_mediawiki_tenant_outside_the_wiki_id_alphabet_is_a_value_error() -> None:
    """encode refuses a MediaWiki wiki id with characters the extension never produces, naming the allowed ones."""
    with pytest.raises(ValueError, match=r"'en wiki'.*A-Za-z0-9_"):
        mediawiki().encode("en wiki", 42, NOW)


def test_native_key_id_is_one_base32_character_carried_after_the_time() -> None:
    """The character after the last '-' of a native local part is key_id(first secret), one character of lowercase base32."""
    new, old = b"new-secret-0123456789abcdef", b"old-secret-0123456789abcdef"
    kid = key_id(new)
    assert len(kid) == 1 and kid in "abcdefghijklmnopqrstuvwxyz234567"
    tail = native(new, old).encode("enwiki", 42, NOW).rpartition("@")[0].rpartition("-")[2]
    assert tail[0] == kid
    assert len(tail) == 17


def test_native_secrets_sharing_a_key_id_both_verify() -> None:
    """Two secrets whose one-character key ids collide still each verify their own addresses, with the right key_index."""
    first = b"k0"
    second = next(s for s in (b"k%d" % i for i in range(1, 10_000)) if key_id(s) == key_id(first))
    both = native(first, second)
    by_first = native(first).encode("enwiki", 42, NOW)
    by_second = native(second).encode("enwiki", 42, NOW)
    assert by_first != by_second
    assert both.verify(by_first, NOW).key_index == 0
    assert both.verify(by_second, NOW).key_index == 1


def test_native_key_id_mismatch_is_bad_signature() -> None:
    """A native address whose key id no configured secret has is BAD_SIGNATURE (the tag is never compared)."""
    secret = b"a-secret-0123456789abcdef"
    other = next(s for s in (b"other-%d" % i for i in range(10_000)) if key_id(s) != key_id(secret))
    address = native(other).encode("enwiki", 42, NOW)
    assert rejection(native(secret), address, NOW) is VerpErrorKind.BAD_SIGNATURE


def test_native_tag_is_not_a_mediawiki_tag() -> None:
    """The same fields and secret give different, incompatible addresses in the two formats."""
    secret = b"shared-secret-0123456789abcdef"
    native_address = native(secret, domain=HOME_DOMAIN).encode("enwiki", 42, NOW)
    mediawiki_address = mediawiki(secret, algorithm="sha256").encode("enwiki", 42, NOW)
    assert native_address != mediawiki_address
    with pytest.raises(VerpError):
        mediawiki(secret, algorithm="sha256").verify(native_address, NOW)
    with pytest.raises(VerpError):
        native(secret, domain=HOME_DOMAIN).verify(mediawiki_address, NOW)


# --- base36 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0"), (1, "1"), (35, "z"), (36, "10"), (123456789, "21i3v9"), (1700000000, "s44we8"), (2147483647, "zik0zj"), (4102444800, "1vuhmo0")],
    ids=["0", "1", "35", "36", "123456789", "1700000000", "2**31-1", "year-2100"],
)
def test_base36_matches_php_base_convert(n: int, expected: str) -> None:
    """base36(n) equals PHP's base_convert(n, 10, 36): lowercase digits, no padding, 0 -> "0"."""
    assert base36(n) == expected


def test_base36_of_a_negative_number_is_a_value_error() -> None:
    """base36 refuses negative numbers rather than inventing a sign the format has no place for."""
    with pytest.raises(ValueError, match="negative"):
        base36(-1)


@pytest.mark.parametrize("fmt", list(VerpFormat), ids=lambda f: f.value)
def test_latest_encodable_send_time_still_verifies(fmt: VerpFormat) -> None:
    """The last second encode accepts (9999-12-31T23:59:59Z) decodes to a datetime instead of crashing verify."""
    verp = make(fmt)
    decoded = verp.verify(verp.encode("enwiki", 42, MAX_TIME - 1), now=MAX_TIME - 1)
    assert decoded.sent_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

"""Property tests of VERP addresses: round trips, tamper evidence, case insensitivity."""

from __future__ import annotations

import string
from datetime import UTC, datetime

from hypothesis import given, settings, strategies as st

from verpd.config import Secret, VerpConfig
from verpd.errors import VerpError
from verpd.model import VerpFormat
from verpd.verp import MAX_TIME, Verp, base36

ACCEPT_TIME = 259200
CLOCK_SKEW = 300
DOMAIN = "bounces.example.org"
CI = settings(max_examples=300, deadline=None)

# Realistic ids, which always fit the 64-octet local part: "wiki-" + 16 + 8 + 8 + 17 and separators = 57.
tenants = st.from_regex(r"[a-z0-9](?:[a-z0-9.]{0,14}[a-z0-9])?", fullmatch=True)
users = st.integers(min_value=0, max_value=2**40)
times = st.integers(min_value=0, max_value=MAX_TIME - 1)
secrets = st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=3)
algorithms = st.sampled_from(["sha256", "sha1", "md5", "sha512", "sha3_256"])
# now, relative to the send time, anywhere inside the window that verify accepts
offsets = st.integers(min_value=-CLOCK_SKEW, max_value=ACCEPT_TIME - 1)

# MediaWiki wiki ids: DB-domain components of [A-Za-z0-9_?] joined by '-' (the address turns '-' into '.')
wiki_ids = st.lists(st.from_regex(r"[A-Za-z0-9_?]{1,12}", fullmatch=True), min_size=1, max_size=3).map("-".join)
mediawiki_prefixes = st.from_regex(r"[A-Za-z0-9_.]{1,10}", fullmatch=True)

# Letters of both cases, digits and the separators that can appear in a native address.
ADDRESS_ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".-@"


def native(keys: list[bytes], algorithm: str = "sha256") -> Verp:
    config = VerpConfig(VerpFormat.VERPD, "wiki", DOMAIN, algorithm, tuple(map(Secret, keys)), ACCEPT_TIME, CLOCK_SKEW)
    return Verp(config)


@CI
@given(tenant=tenants, user=users, sent_at=times, keys=secrets, algorithm=algorithms, offset=offsets)
def test_native_round_trip_gives_back_tenant_user_and_send_time(
    tenant: str, user: int, sent_at: int, keys: list[bytes], algorithm: str, offset: int
) -> None:
    """Verifying an encoded native address within its validity window returns the tenant, user and send time encoded."""
    verp = native(keys, algorithm)
    address = verp.encode(tenant, user, sent_at)
    decoded = verp.verify(address, now=sent_at + offset)
    assert (decoded.tenant, decoded.user) == (tenant, user)
    assert decoded.sent_at == datetime.fromtimestamp(sent_at, UTC)
    assert decoded.local_part == address.rpartition("@")[0]
    assert decoded.key_index == 0


@CI
@given(tenant=tenants, user=users, sent_at=times, keys=secrets, data=st.data())
def test_native_any_single_character_change_is_rejected(
    tenant: str, user: int, sent_at: int, keys: list[bytes], data: st.DataObject
) -> None:
    """Replacing any one character of a native address by a different one is rejected; changes of letter case alone are excluded, because the format ignores case by design."""
    verp = native(keys)
    address = verp.encode(tenant, user, sent_at)
    i = data.draw(st.integers(min_value=0, max_value=len(address) - 1), label="position")
    replacement = data.draw(st.sampled_from([c for c in ADDRESS_ALPHABET if c.lower() != address[i].lower()]), label="new")
    changed = address[:i] + replacement + address[i + 1 :]
    try:
        decoded = verp.verify(changed, now=sent_at)
    except VerpError:
        return
    raise AssertionError(f"{changed!r} (changed from {address!r}) verified as {decoded}")


@CI
@given(tenant=tenants, user=users, sent_at=times, keys=secrets, data=st.data())
def test_native_address_with_any_letter_case_still_verifies(
    tenant: str, user: int, sent_at: int, keys: list[bytes], data: st.DataObject
) -> None:
    """A native address with any of its letters upper-cased verifies, and so does that address lower-cased again, to the same canonical local part."""
    verp = native(keys)
    address = verp.encode(tenant, user, sent_at)
    upper = data.draw(st.lists(st.booleans(), min_size=len(address), max_size=len(address)), label="upper-case these")
    mixed = "".join(c.upper() if up else c for c, up in zip(address, upper))
    for variant in (mixed, mixed.lower()):
        decoded = verp.verify(variant, now=sent_at)
        assert (decoded.tenant, decoded.user, decoded.local_part) == (tenant, user, address.rpartition("@")[0])


@CI
@given(
    wiki_id=wiki_ids,
    prefix=mediawiki_prefixes,
    user=users,
    sent_at=times,
    keys=secrets,
    algorithm=algorithms,
    offset=offsets,
)
def test_mediawiki_round_trip_gives_back_wiki_id_user_and_send_time(
    wiki_id: str, prefix: str, user: int, sent_at: int, keys: list[bytes], algorithm: str, offset: int
) -> None:
    """Verifying an encoded MediaWiki address returns the wiki id (with its '-' restored), user and send time, and the local part unchanged."""
    config = VerpConfig(VerpFormat.MEDIAWIKI, prefix, DOMAIN, algorithm, tuple(map(Secret, keys)), ACCEPT_TIME, CLOCK_SKEW)
    verp = Verp(config)
    address = verp.encode(wiki_id, user, sent_at)
    decoded = verp.verify(address, now=sent_at + offset)
    assert (decoded.tenant, decoded.user) == (wiki_id, user)
    assert decoded.sent_at == datetime.fromtimestamp(sent_at, UTC)
    assert decoded.local_part == address.rpartition("@")[0]


@CI
@given(n=st.integers(min_value=0, max_value=2**80))
def test_base36_is_the_shortest_lowercase_base_36_spelling(n: int) -> None:
    """base36(n) reads back as n in base 36, uses [0-9a-z] only and has no leading zero (except for 0 itself)."""
    text = base36(n)
    assert int(text, 36) == n
    assert set(text) <= set(string.digits + string.ascii_lowercase)
    assert text == "0" or not text.startswith("0")

"""DKIM: verifying through an injected resolver, trusting only our own Authentication-Results, signing forwards."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dkim as dkimpy
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from verpd.config import DkimSigning
from verpd.dkim import MAX_SIGNATURES, DkimCheck, DkimResult, check, sign
from verpd.errors import ConfigError

DOMAIN = "example.org"
SELECTOR = "sel"
KEY_NAME = b"sel._domainkey.example.org."  # what dkimpy asks the resolver for
OURS = "mx.bounces.example.org"
TIMEOUT = 5.0

MESSAGE = (
    b"From: Wiki <wiki@example.org>\r\n"
    b"To: user@example.net\r\n"
    b"Subject: Please confirm your address\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"Auto-Submitted: auto-generated\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-Not-Signed: anything\r\n"
    b"\r\n"
    b"Hello,\r\nplease confirm.\r\n"
)


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key (PEM file) and its DKIM TXT record, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to generate a test RSA key")
    pem = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(pem), "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture
def signing(key_pair: tuple[Path, bytes]) -> DkimSigning:
    return DkimSigning(key_pair[0], SELECTOR, DOMAIN)


def fake_resolver(records: dict[bytes, bytes], calls: list[tuple[bytes, float]] | None = None) -> Callable[..., bytes | None]:
    """A resolver answering from ``records`` (name -> TXT record), noting each call."""

    def resolve(name: bytes, timeout: float) -> bytes | None:
        if calls is not None:
            calls.append((name, timeout))
        return records.get(name)

    return resolve


@pytest.fixture
def published(key_pair: tuple[Path, bytes]) -> dict[bytes, bytes]:
    return {KEY_NAME: key_pair[1]}


def dkimpy_signed(message: bytes, key_file: Path, domain: str = DOMAIN, selector: str = SELECTOR) -> bytes:
    """``message`` signed by dkimpy itself with its defaults (relaxed/simple), not by verpd."""
    return dkimpy.sign(message, selector.encode(), domain.encode(), key_file.read_bytes()) + message


# --- verifying signatures --------------------------------------------------------------


async def test_signed_message_passes_and_names_its_domain(key_pair, published) -> None:
    """A message signed with a published key is PASS, and the domain is the signature's d=."""
    raw = dkimpy_signed(MESSAGE, key_pair[0])
    assert await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT) == DkimCheck(DkimResult.PASS, DOMAIN, "signature")


async def test_body_altered_after_signing_fails(key_pair, published) -> None:
    """Changing the body after signing makes the body hash mismatch: FAIL, still naming d=."""
    raw = dkimpy_signed(MESSAGE, key_pair[0]).replace(b"please confirm", b"please click here")
    assert await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT) == DkimCheck(DkimResult.FAIL, DOMAIN, "signature")


async def test_header_altered_after_signing_fails(key_pair, published) -> None:
    """Changing a signed header after signing makes the signature itself mismatch: FAIL."""
    raw = dkimpy_signed(MESSAGE, key_pair[0]).replace(b"Subject: Please", b"Subject: Urgent")
    assert (await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT)).result is DkimResult.FAIL


async def test_unsigned_message_is_none(published) -> None:
    """A message without a DKIM-Signature is NONE, with no domain and no DNS lookup."""
    calls: list[tuple[bytes, float]] = []
    found = await check(MESSAGE, resolver=fake_resolver(published, calls), timeout=TIMEOUT)
    assert found == DkimCheck(DkimResult.NONE, None, "signature")
    assert calls == []


async def test_resolver_is_called_as_dkimpy_calls_dnsfunc_with_what_is_left_of_the_timeout(key_pair, published) -> None:
    """The resolver gets the raw name 's._domainkey.d.' as bytes and a timeout no longer than check's."""
    calls: list[tuple[bytes, float]] = []
    await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=fake_resolver(published, calls), timeout=2.0)
    [(name, timeout)] = calls
    assert name == KEY_NAME
    assert 0 < timeout <= 2.0


async def test_resolver_that_raises_is_temperror(key_pair) -> None:
    """A resolver that raises (timeout, SERVFAIL, any error) leaves the answer unknown: TEMPERROR."""

    def failing(name: bytes, timeout: float) -> bytes | None:
        raise dkimpy.DnsTimeoutError("SERVFAIL")

    found = await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=failing, timeout=TIMEOUT)
    assert found == DkimCheck(DkimResult.TEMPERROR, DOMAIN, "signature")


async def test_resolver_with_any_exception_is_temperror(key_pair) -> None:
    """Not only dkimpy's DnsTimeoutError: whatever the resolver raises is TEMPERROR, never an exception."""

    def failing(name: bytes, timeout: float) -> bytes | None:
        raise OSError("network unreachable")

    assert (await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=failing, timeout=TIMEOUT)).result is DkimResult.TEMPERROR


@pytest.mark.parametrize(
    "record",
    [None, b"", b"v=DKIM1; k=rsa; p=", b"v=DKIM1; k=rsa; p=bm90IGEga2V5", b"v=DKIM1; k=ed25519; p=AAAA", b"no tags at all"],
    ids=["no-record", "empty-record", "revoked-key", "garbage-key", "ed25519-unsupported", "garbage-record"],
)
async def test_missing_or_unusable_key_is_permerror(key_pair, record: bytes | None) -> None:
    """No TXT record, a revoked (empty p=) or unparsable key is PERMERROR: the signature can never verify."""
    records = {} if record is None else {KEY_NAME: record}
    found = await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=fake_resolver(records), timeout=TIMEOUT)
    assert found == DkimCheck(DkimResult.PERMERROR, DOMAIN, "signature")


async def test_resolver_that_hangs_is_temperror_within_about_the_timeout(key_pair, published) -> None:
    """A resolver that ignores its timeout and sleeps on makes check return TEMPERROR after about ``timeout``."""

    def hanging(name: bytes, timeout: float) -> bytes | None:
        time.sleep(1.0)
        return published.get(name)

    started = time.monotonic()
    found = await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=hanging, timeout=0.2)
    assert time.monotonic() - started < 0.8
    assert found == DkimCheck(DkimResult.TEMPERROR, DOMAIN, "signature")


async def test_no_lookup_starts_after_the_time_is_up(key_pair, published) -> None:
    """Once check has timed out, the worker thread looks up no further signature's key."""
    calls: list[tuple[bytes, float]] = []

    def slow(name: bytes, timeout: float) -> bytes | None:
        calls.append((name, timeout))
        time.sleep(0.4)
        return published.get(name)

    raw = dkimpy_signed(dkimpy_signed(MESSAGE, key_pair[0], selector="first"), key_pair[0], selector="second")
    assert (await check(raw, resolver=slow, timeout=0.2)).result is DkimResult.TEMPERROR
    await asyncio.sleep(0.5)  # the first lookup returns; the thread must now stop
    assert [name for name, _ in calls] == [b"second._domainkey.example.org."]


async def test_any_verifying_signature_passes_and_names_its_domain(key_pair, published) -> None:
    """A failing signature above a good one does not spoil it: PASS with the good signature's d=."""
    raw = dkimpy_signed(dkimpy_signed(MESSAGE, key_pair[0]), key_pair[0], domain="lists.example.com")
    assert await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT) == DkimCheck(DkimResult.PASS, DOMAIN, "signature")


async def test_temperror_outranks_fail_and_the_first_domain_is_named(key_pair, published) -> None:
    """With no pass, a TEMPERROR (a retry may pass) wins over a FAIL, and the domain is the first signature's."""

    def flaky(name: bytes, timeout: float) -> bytes | None:
        if name == b"sel._domainkey.lists.example.com.":
            raise dkimpy.DnsTimeoutError("timeout")
        return published.get(name)

    altered = dkimpy_signed(MESSAGE, key_pair[0]).replace(b"please confirm", b"please click")
    raw = dkimpy_signed(altered, key_pair[0], domain="lists.example.com").replace(b"please click", b"please pay")
    assert await check(raw, resolver=flaky, timeout=TIMEOUT) == DkimCheck(DkimResult.TEMPERROR, "lists.example.com", "signature")


async def test_at_most_max_signatures_are_checked(key_pair, published) -> None:
    """Only the topmost MAX_SIGNATURES signatures are verified: a good one below them is never looked at."""
    calls: list[tuple[bytes, float]] = []
    raw = dkimpy_signed(MESSAGE, key_pair[0])
    for i in range(MAX_SIGNATURES):
        raw = dkimpy_signed(raw, key_pair[0], selector=f"gone{i}")
    found = await check(raw, resolver=fake_resolver(published, calls), timeout=TIMEOUT)
    assert found == DkimCheck(DkimResult.PERMERROR, DOMAIN, "signature")
    assert len(calls) == MAX_SIGNATURES
    assert KEY_NAME not in [name for name, _ in calls]


GARBAGE_SIGNATURES = {
    "no-tags": (b"DKIM-Signature: garbage\r\n", DkimResult.PERMERROR),
    "missing-b-and-bh": (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from\r\n", DkimResult.PERMERROR),
    "bad-base64": (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=!!!; b=!!!\r\n", DkimResult.PERMERROR),
    "unknown-algorithm": (b"DKIM-Signature: v=1; a=rot13; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.PERMERROR),
    "i-equals-d": (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; i=example.org; s=sel; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.PERMERROR),
    "future-t": (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; t=99999999999; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.PERMERROR),
    "bad-c": (b"DKIM-Signature: v=1; a=rsa-sha256; c=weird; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.PERMERROR),
    "wrong-hashes": (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.FAIL),
    "duplicate-tag": (b"DKIM-Signature: v=1; d=a.example; d=b.example; s=sel; h=from; bh=AAAA; b=AAAA\r\n", DkimResult.PERMERROR),
    "binary": (b"DKIM-Signature: \xff\xfe\x00d=\x80; s=\xc3(\r\n", DkimResult.PERMERROR),
    "leading-continuation": (b" folded line before any field\r\nDKIM-Signature: v=1\r\n", DkimResult.PERMERROR),
}


@pytest.mark.parametrize("header, expected", GARBAGE_SIGNATURES.values(), ids=GARBAGE_SIGNATURES.keys())
async def test_garbage_signature_is_not_pass_and_raises_nothing(published, header: bytes, expected: DkimResult) -> None:
    """A malformed DKIM-Signature ends as PERMERROR (or FAIL if it parses and just does not match), never an exception."""
    found = await check(header + MESSAGE, resolver=fake_resolver(published), timeout=TIMEOUT)
    assert found.result is expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_nor_pass(published, junk: bytes) -> None:
    """Any bytes, bare or after a DKIM-Signature field name, give some result other than PASS, without an exception."""
    for raw in (junk, b"DKIM-Signature: " + junk, b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; " + junk):
        found = asyncio.run(check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS))
        assert found.result is not DkimResult.PASS


@st.composite
def damaged(draw: st.DrawFn, signed: bytes) -> bytes:
    """``signed`` with a few bytes replaced, inserted or deleted anywhere (headers, signature, body)."""
    data = bytearray(signed)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        operation = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(b"\x00\r\n :;=\xff\tAb0+/"))
        if operation == "replace":
            data[at] = byte
        elif operation == "insert":
            data.insert(at, byte)
        else:
            del data[at]
    return bytes(data)


def test_damaged_signed_messages_never_raise(key_pair, published) -> None:
    """A signed message damaged anywhere gives some result without an exception."""
    signed = dkimpy_signed(MESSAGE, key_pair[0])

    @settings(max_examples=300, deadline=None)
    @given(raw=damaged(signed))
    def run(raw: bytes) -> None:
        found = asyncio.run(check(raw, resolver=fake_resolver(published), timeout=TIMEOUT))
        assert isinstance(found.result, DkimResult)

    run()


async def test_huge_message_is_checked(key_pair, published) -> None:
    """A 10 MiB body (the default message size limit) still gives an answer, here PASS; the timeout
    itself is checked by the hanging resolver's test, so the machine's speed cannot fail this one."""
    big = MESSAGE + b"x" * 998 + b"\r\n"
    big += (b"y" * 998 + b"\r\n") * (10 * 1024 * 1024 // 1000)
    raw = dkimpy_signed(big, key_pair[0])
    found = await check(raw, resolver=fake_resolver(published), timeout=120)
    assert found == DkimCheck(DkimResult.PASS, DOMAIN, "signature")


# --- Authentication-Results ------------------------------------------------------------


def with_headers(*headers: bytes, message: bytes = MESSAGE) -> bytes:
    return b"".join(h + b"\r\n" for h in headers) + message


async def test_our_authentication_results_are_trusted_without_verifying(published) -> None:
    """dkim=pass in an Authentication-Results with our authserv-id is PASS, though nothing is signed or looked up."""
    calls: list[tuple[bytes, float]] = []
    raw = with_headers(b"Authentication-Results: mx.bounces.example.org; dkim=pass header.d=example.org header.s=sel")
    found = await check(raw, resolver=fake_resolver(published, calls), timeout=TIMEOUT, authserv_id=OURS)
    assert found == DkimCheck(DkimResult.PASS, DOMAIN, "authentication-results")
    assert calls == []


async def test_authentication_results_of_another_authserv_id_are_ignored(published) -> None:
    """A dkim=pass from another authserv-id (anyone could have written it) counts for nothing: unsigned is NONE."""
    raw = with_headers(b"Authentication-Results: mx.evil.example; dkim=pass header.d=example.org")
    found = await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS)
    assert found == DkimCheck(DkimResult.NONE, None, "signature")


async def test_authentication_results_are_ignored_without_an_authserv_id(published) -> None:
    """With no authserv_id configured, no Authentication-Results is trusted, even one naming us."""
    raw = with_headers(b"Authentication-Results: mx.bounces.example.org; dkim=pass header.d=example.org")
    assert (await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT)).result is DkimResult.NONE


async def test_only_the_topmost_of_our_authentication_results_is_used(published) -> None:
    """Below our MTA's topmost header, another with our id (a forgery that got through) is ignored; other ids are skipped."""
    raw = with_headers(
        b"Authentication-Results: relay.internal.example; dkim=pass header.d=example.org",
        b"Authentication-Results: MX.Bounces.Example.ORG; dkim=fail header.d=example.org",
        b"Received: from mx.evil.example by mx.bounces.example.org",
        b"Authentication-Results: mx.bounces.example.org; dkim=pass header.d=example.org",
    )
    found = await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS)
    assert found == DkimCheck(DkimResult.FAIL, DOMAIN, "authentication-results")


AR_RESULTS = {
    "pass": DkimResult.PASS,
    "fail": DkimResult.FAIL,
    "none": DkimResult.NONE,
    "temperror": DkimResult.TEMPERROR,
    "permerror": DkimResult.PERMERROR,
    "neutral": DkimResult.PERMERROR,
    "policy": DkimResult.FAIL,
    "PASS": DkimResult.PASS,
}


@pytest.mark.parametrize("word, expected", AR_RESULTS.items(), ids=AR_RESULTS.keys())
async def test_authentication_results_dkim_words_map_to_results(published, word: str, expected: DkimResult) -> None:
    """Each RFC 8601 dkim= result maps to one DkimResult (neutral: unusable, policy: not accepted)."""
    raw = with_headers(f"Authentication-Results: mx.bounces.example.org; dkim={word} header.d=example.org".encode())
    assert (await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS)).result is expected


async def test_authentication_results_syntax_comments_quotes_and_folding(published) -> None:
    """Comments, a version, quoted values, folding and several dkim= entries are read as RFC 8601 writes them."""
    raw = with_headers(
        b'Authentication-Results: (our border) "mx.bounces.example.org" 1;\r\n'
        b"\tspf=pass smtp.mailfrom=example.org;\r\n"
        b'\tdkim=fail (bad; signature) header.d="lists.example.com";\r\n'
        b"\tdkim/1 = pass (2048-bit key) header.i=@Example.ORG header.s=sel"
    )
    found = await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS)
    assert found == DkimCheck(DkimResult.PASS, DOMAIN, "authentication-results")


async def test_our_authentication_results_without_dkim_fall_back_to_verifying(key_pair, published) -> None:
    """If our topmost header says nothing about DKIM (say, SPF only), the signatures are verified instead."""
    raw = with_headers(b"Authentication-Results: mx.bounces.example.org; spf=pass smtp.mailfrom=example.org", message=dkimpy_signed(MESSAGE, key_pair[0]))
    found = await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT, authserv_id=OURS)
    assert found == DkimCheck(DkimResult.PASS, DOMAIN, "signature")


# --- signing ---------------------------------------------------------------------------


async def test_signed_forward_verifies(signing, published) -> None:
    """sign() prepends an rsa-sha256, relaxed/relaxed signature of the present listed headers, and check() passes it."""
    raw = sign(MESSAGE, signing)
    assert raw.endswith(MESSAGE) and raw.startswith(b"DKIM-Signature: ")
    tags = dkimpy.util.parse_tag_value(raw[len(b"DKIM-Signature:") : raw.index(b"From: Wiki")])
    assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"d"] == b"example.org" and tags[b"s"] == b"sel"
    signed = [h.strip() for h in tags[b"h"].split(b":")]
    assert signed == [b"from", b"to", b"subject", b"date", b"message-id", b"auto-submitted", b"mime-version", b"content-type"]
    assert await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT) == DkimCheck(DkimResult.PASS, DOMAIN, "signature")


async def test_signing_signs_only_present_headers_and_keeps_lf_line_ends(signing, published) -> None:
    """A message with LF line ends and only From/Subject gets an LF-folded signature of those two, which verifies."""
    message = b"From: a@example.org\nSubject: hi\n\nbody\n"
    raw = sign(message, signing)
    assert b"\r" not in raw
    assert b"h=from : subject" in raw.replace(b"\n\t", b"").replace(b"\n ", b"")
    assert (await check(raw, resolver=fake_resolver(published), timeout=TIMEOUT)).result is DkimResult.PASS


def test_signing_without_from_is_refused(signing) -> None:
    """A message without From cannot be signed (RFC 6376 requires signing From): ValueError."""
    with pytest.raises(ValueError, match="From"):
        sign(b"Subject: hi\r\n\r\nbody\r\n", signing)


@pytest.mark.parametrize(
    "content", [None, b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"], ids=["missing", "garbage", "not-rsa"]
)
def test_signing_with_an_unusable_key_file_is_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    """A missing or non-RSA key file is a ConfigError naming dkim.sign_key_file."""
    key = tmp_path / "key.pem"
    if content is not None:
        key.write_bytes(content)
    with pytest.raises(ConfigError, match="dkim.sign_key_file"):
        sign(MESSAGE, DkimSigning(key, SELECTOR, DOMAIN))


async def test_verification_runs_in_its_own_threads_never_the_loops_default_executor(key_pair, published) -> None:
    """Parsing uses the default executor; resolvers that hang must not be able to take its threads."""
    import threading

    names: list[str] = []

    def resolve(name: bytes, timeout: float) -> bytes | None:
        names.append(threading.current_thread().name)
        return published.get(name)

    found = await check(dkimpy_signed(MESSAGE, key_pair[0]), resolver=resolve, timeout=TIMEOUT)
    assert found.result is DkimResult.PASS and names and all(n.startswith("verpd-dkim") for n in names)

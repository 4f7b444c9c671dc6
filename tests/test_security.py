"""Security: forgeries refused at RCPT, the allowlist not bypassed over HTTP, no header injection
into forwards, and a log audit that catches a secret or a raw message in any log line.

Each part drives the real thing over loopback: an in-process daemon's LMTP and HTTP
listeners, and a real SMTP relay that receives the forwards. The MediaWiki golden vectors
are read in place from the shared data (``vectors/mediawiki_verp.json``); without them
their rows are skipped, saying where to put the data.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.parser
import email.policy
import functools
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import structlog.testing
from aiosmtpd.smtp import SMTP

from tests import logaudit
from tests.conftest import REPO, TEST_SECRET, VERP_DOMAIN, FakeClock, lmtp_port, make_config, shared_file, verp_address
from tests.daemon_process import write_config_file
from tests.lmtp_client import LMTPClient, Reply
from tests.messages import auto_reply, complaint, dsn, not_a_bounce
from verpd import log
from verpd.config import Config, ForwardConfig, HostPort, LogConfig, Secret
from verpd.daemon import Daemon
from verpd.events import ActionKind, ForwardPayload
from verpd.notify import forward_message
from verpd.store import OutboxItem
from verpd.verp import Verp, VerpSet, base36, key_id

# The RCPT replies an operator reads in the MTA's log (README, "How verpd answers the MTA").
NOT_OURS = "550 5.1.1 Not a VERP address of this server"
BAD_SIGNATURE = "550 5.7.1 VERP address signature does not verify"
EXPIRED = "550 5.7.1 VERP address has expired"
FUTURE = "550 5.7.1 VERP address send time lies in the future"
# aiosmtpd refuses these before our handler sees the address.
MALFORMED = "553 5.1.3 Error: malformed address"
SYNTAX = "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]"
_REASONS = {NOT_OURS: "not_ours", BAD_SIGNATURE: "bad_signature", EXPIRED: "expired", FUTURE: "future"}


class JsonLog:
    """verpd's production logging (JSON lines, log.addresses = pseudonym) into a buffer the test reads."""

    def __init__(self, secret: bytes) -> None:
        self.stream = io.StringIO()
        log.configure(LogConfig("debug", "json", "pseudonym"), self.stream, key=log.pseudonym_key(secret))

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in map(json.loads, self.text.splitlines()) if e.get("event") == name]


async def rcpt_after_a_genuine_one(daemon: Daemon, genuine: str, address: str) -> Reply:
    """In one transaction: RCPT of ``genuine`` (must get 250: the rig works), then of ``address``."""
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    try:
        assert (await client.command("MAIL FROM:<> SMTPUTF8")).code == 250  # UTF-8 addresses reach verpd's own check
        control = await client.rcpt(genuine)
        assert control.code == 250, f"the genuine address was refused: {control}"
        return await client.rcpt(address)
    finally:
        await client.close()


def assert_refusal_logged_without_secrets(journal: JsonLog, expected: str, address: str, secrets: list[bytes], oracle: list[str]) -> None:
    """One rcpt.rejected line naming the reason; no line holds the local part, a secret or the tag that would have verified."""
    reason = _REASONS.get(expected)
    rejected = journal.events("rcpt.rejected")
    if reason is None:  # aiosmtpd refused the syntax: verpd never saw the address
        assert rejected == []
    else:
        assert [e["reason"] for e in rejected] == [reason]
    local = address.rpartition("@")[0].strip('"<> ')
    text = journal.text
    if len(local) >= 8:
        assert local not in text and local.lower() not in text, "the refused address is logged in full, not pseudonymised"
    for secret in secrets:
        assert secret.decode() not in text
    for tag in oracle:
        assert tag not in text, "a log line tells the forger the tag that would have verified"


# --- 1. forged or tampered VERP addresses at RCPT ------------------------------------------------------


@dataclass(frozen=True)
class Native:
    """A genuine native address of the test configuration, and the means to make variants of it."""

    verp: Verp
    address: str
    sent_at: int

    @property
    def local(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def segments(self) -> list[str]:
        return self.local.split("-")  # prefix, tenant, user36, time36, key id + tag

    def with_segments(self, *segments: str) -> str:
        return "-".join(segments) + "@" + VERP_DOMAIN

    def replace(self, index: int, value: str) -> str:
        parts = self.segments
        parts[index] = value
        return self.with_segments(*parts)

    def tail_of(self, tenant: str = "enwiki", user: int = 42, sent_at: int | None = None) -> str:
        """The key id and tag of another genuine address."""
        return self.verp.encode(tenant, user, self.sent_at if sent_at is None else sent_at).rpartition("@")[0].rpartition("-")[2]

    def signed(self, *segments: str) -> str:
        """An address whose tag is correct for ``segments`` (prefix, tenant, user36, time36): what only the secret can make."""
        secret = self.verp.config.secrets[0].value
        signed = "-".join(segments) + "-" + key_id(secret)
        return f"{signed}{self.verp._native_tag(secret, signed)}@{VERP_DOMAIN}"


def _other_char(c: str) -> str:
    return "b" if c == "a" else "a"


def _secret_with_key_id(wanted: bool) -> bytes:
    """A secret we do not hold whose key id equals (``wanted``) or differs from the test secret's."""
    mine = key_id(TEST_SECRET.encode())
    return next(s for s in (b"attacker-secret-%d-0123456789" % i for i in range(10_000)) if (key_id(s) == mine) == wanted)


def _foreign(secret: bytes) -> Callable[[Native], str]:
    def make(n: Native) -> str:
        config = n.verp.config
        return Verp(type(config)(config.format, config.prefix, config.domain, config.algorithm, (Secret(secret),),
                                 config.accept_time, config.clock_skew)).encode("enwiki", 42, n.sent_at)

    return make


def _lookalike_domain(n: Native) -> str:
    return n.local + "@" + "bounces." + "ex\u0430mple".encode("idna").decode() + ".org"  # Cyrillic а, as the punycode a registrar sells


_B36_MAX = base36(2**63)  # one more than the largest user id (signed 64-bit)

NATIVE_FORGERIES = [
    # The tag (MAC).
    pytest.param(lambda n: n.local[:-1] + _other_char(n.local[-1]) + "@" + VERP_DOMAIN, BAD_SIGNATURE, id="mac-last-char-changed"),
    pytest.param(lambda n: n.replace(4, n.segments[4][0] + _other_char(n.segments[4][1]) + n.segments[4][2:]), BAD_SIGNATURE, id="mac-first-char-changed"),
    pytest.param(lambda n: n.replace(4, n.segments[4][:-1]), BAD_SIGNATURE, id="mac-truncated"),
    pytest.param(lambda n: n.replace(4, n.segments[4] + "a"), BAD_SIGNATURE, id="mac-one-char-longer"),
    pytest.param(lambda n: n.replace(4, n.segments[4][:1]), BAD_SIGNATURE, id="mac-missing"),
    pytest.param(lambda n: n.replace(4, n.tail_of(user=43)), BAD_SIGNATURE, id="mac-of-another-user"),
    pytest.param(lambda n: n.replace(4, n.tail_of(sent_at=n.sent_at - 1)), BAD_SIGNATURE, id="mac-of-another-time"),
    pytest.param(lambda n: n.replace(4, n.tail_of(tenant="dewiki")), BAD_SIGNATURE, id="mac-of-another-tenant"),
    pytest.param(lambda n: n.replace(2, base36(43)), BAD_SIGNATURE, id="user-changed-mac-kept"),
    pytest.param(lambda n: n.replace(3, base36(n.sent_at + 86400)), BAD_SIGNATURE, id="time-moved-on-to-extend-life"),
    # The key id and the secret.
    pytest.param(lambda n: n.replace(4, _other_char(n.segments[4][0]) + n.segments[4][1:]), BAD_SIGNATURE, id="wrong-key-id"),
    pytest.param(_foreign(_secret_with_key_id(False)), BAD_SIGNATURE, id="unknown-key-id"),
    pytest.param(_foreign(_secret_with_key_id(True)), BAD_SIGNATURE, id="known-key-id-other-secret"),
    # Time.
    pytest.param(lambda n: n.verp.encode("enwiki", 42, n.sent_at + 60 - n.verp.config.accept_time), EXPIRED, id="expired"),
    pytest.param(lambda n: n.verp.encode("enwiki", 42, n.sent_at + 60 + n.verp.config.clock_skew + 1), FUTURE, id="from-the-future"),
    # Segments.
    pytest.param(lambda n: n.with_segments(*n.segments[:2], "x", *n.segments[2:]), NOT_OURS, id="extra-segment"),
    pytest.param(lambda n: n.with_segments(*n.segments, "x"), NOT_OURS, id="extra-trailing-segment"),
    pytest.param(lambda n: n.with_segments(*n.segments[:2], *n.segments[3:]), NOT_OURS, id="missing-segment"),
    pytest.param(lambda n: n.replace(1, ""), NOT_OURS, id="empty-tenant-segment"),
    pytest.param(lambda n: n.replace(2, ""), NOT_OURS, id="empty-user-segment"),
    pytest.param(lambda n: n.with_segments(*n.segments, ""), NOT_OURS, id="trailing-dash"),
    pytest.param(lambda n: n.with_segments("", *n.segments), NOT_OURS, id="leading-dash"),
    pytest.param(lambda n: n.replace(0, "wiki2"), NOT_OURS, id="wrong-prefix"),
    # Numbers.
    pytest.param(lambda n: n.replace(2, "0" + n.segments[2]), BAD_SIGNATURE, id="leading-zero-in-user"),
    pytest.param(lambda n: n.replace(3, "0" + n.segments[3]), BAD_SIGNATURE, id="leading-zero-in-time"),
    pytest.param(lambda n: n.replace(2, "+" + n.segments[2]), NOT_OURS, id="plus-sign-in-user"),
    pytest.param(lambda n: n.replace(2, "1" * 14), NOT_OURS, id="user-of-14-digits"),
    pytest.param(lambda n: n.signed(*n.segments[:2], _B36_MAX, n.segments[3]), NOT_OURS, id="signed-user-beyond-int64"),
    pytest.param(lambda n: n.signed(*n.segments[:3], "z" * 13), NOT_OURS, id="signed-time-beyond-year-9999"),
    pytest.param(lambda n: n.replace(2, "\uff14\uff12"), NOT_OURS, id="fullwidth-digits-in-user"),
    pytest.param(lambda n: n.replace(2, " " + n.segments[2]), NOT_OURS, id="space-before-user"),
    pytest.param(lambda n: n.replace(2, n.segments[2] + " "), NOT_OURS, id="space-after-user"),
    pytest.param(lambda n: n.replace(2, n.segments[2][:1] + " " + n.segments[2][1:]), NOT_OURS, id="space-inside-user"),
    pytest.param(lambda n: n.replace(3, "\t" + n.segments[3]), NOT_OURS, id="tab-before-time"),
    pytest.param(lambda n: n.replace(4, " " + n.segments[4]), NOT_OURS, id="space-before-tag"),
    # Look-alikes.
    pytest.param(lambda n: n.replace(0, "w\u0456ki"), NOT_OURS, id="cyrillic-i-in-prefix"),
    pytest.param(lambda n: n.replace(1, "enw\u0456ki"), NOT_OURS, id="cyrillic-i-in-tenant"),
    pytest.param(lambda n: n.replace(1, "enwi\u212ai"), NOT_OURS, id="kelvin-sign-in-tenant"),
    pytest.param(lambda n: n.local + "@bounces.ex\u0430mple.org", NOT_OURS, id="cyrillic-a-in-domain"),
    pytest.param(_lookalike_domain, NOT_OURS, id="punycode-lookalike-domain"),
    pytest.param(lambda n: n.local + "@\uff42ounces.example.org", NOT_OURS, id="fullwidth-letter-in-domain"),
    # The domain.
    pytest.param(lambda n: n.local + "@x." + VERP_DOMAIN, NOT_OURS, id="subdomain-of-ours"),
    pytest.param(lambda n: n.local + "@example.org", NOT_OURS, id="parent-domain"),
    pytest.param(lambda n: n.address + ".evil.example", NOT_OURS, id="our-domain-as-a-prefix"),
    pytest.param(lambda n: n.local + "@[127.0.0.1]", NOT_OURS, id="address-literal"),
    pytest.param(lambda n: n.address + ".", MALFORMED, id="trailing-dot-domain"),
    # Routing and sub-address tricks.
    pytest.param(lambda n: f"{n.local}%{VERP_DOMAIN}@{VERP_DOMAIN}", BAD_SIGNATURE, id="percent-hack-to-ours"),
    pytest.param(lambda n: f"{n.local}%{VERP_DOMAIN}@evil.example", NOT_OURS, id="percent-hack-via-a-foreign-domain"),
    pytest.param(lambda n: f"{n.local}+bounce@{VERP_DOMAIN}", BAD_SIGNATURE, id="plus-subaddress-appended"),
    pytest.param(lambda n: n.replace(0, "wiki+x"), NOT_OURS, id="plus-subaddress-in-prefix"),
    pytest.param(lambda n: f"{n.address}@{VERP_DOMAIN}", MALFORMED, id="second-at"),
    pytest.param(lambda n: f"<{n.address}>", MALFORMED, id="angle-brackets-inside"),
    pytest.param(lambda n: f'"{n.local[:-1]}{_other_char(n.local[-1])}"@{VERP_DOMAIN}', BAD_SIGNATURE, id="quoted-local-part-tampered"),
    pytest.param(lambda n: f"@{VERP_DOMAIN}:{n.local[:-1]}{_other_char(n.local[-1])}@{VERP_DOMAIN}", BAD_SIGNATURE, id="source-route-tampered"),
    pytest.param(lambda n: f"{n.local}\x00@{VERP_DOMAIN}", BAD_SIGNATURE, id="nul-in-local-part"),
]


@pytest.mark.parametrize(("forge", "expected"), NATIVE_FORGERIES)
async def test_a_forged_or_tampered_native_address_is_refused_at_rcpt(
    make_daemon, tmp_path: Path, clock: FakeClock, forge: Callable[[Native], str], expected: str
) -> None:
    """Each class of forgery of a native address gets its own refusal at RCPT, logged pseudonymised, with no secret and no
    tag that would have verified."""
    config = make_config(tmp_path)
    journal = JsonLog(TEST_SECRET.encode())
    daemon = await make_daemon(config)
    verp = Verp(config.verp)
    genuine = Native(verp, verp_address(config, clock), clock.unix - 60)
    address = forge(genuine)
    assert address != genuine.address
    reply = await rcpt_after_a_genuine_one(daemon, genuine.address, address)
    assert str(reply) == expected
    assert_refusal_logged_without_secrets(journal, expected, address, [TEST_SECRET.encode()], _native_oracle(verp, address))


def _native_oracle(verp: Verp, address: str) -> list[str]:
    """The tag that would make ``address``'s signed part verify (if it has that shape): never to be logged."""
    local = address.rpartition("@")[0].lower()
    if local.count("-") < 4 or len(local) < 17 or not local.isascii():
        return []
    secret = verp.config.secrets[0].value
    signed = local[:-16]
    return [verp._native_tag(secret, signed)]


async def test_a_retired_secret_no_longer_verifies_over_lmtp(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """After rotation (new secret first, old kept) both verify; once the old one is dropped, its addresses get 550 5.7.1."""
    old, new = "the-old-secret-being-retired-0123", "the-new-secret-after-rotation-0123"
    before = make_config(tmp_path, verp={"secrets": [old]})
    by_old = verp_address(before, clock)
    rotated = make_config(tmp_path, verp={"secrets": [new, old]})
    by_new = verp_address(rotated, clock)
    daemon = await make_daemon(rotated)
    assert str(await rcpt_after_a_genuine_one(daemon, by_new, by_old)).startswith("250 ")
    await daemon.stop()
    retired = await make_daemon(make_config(tmp_path, verp={"secrets": [new]}))
    assert str(await rcpt_after_a_genuine_one(retired, by_new, by_old)) == BAD_SIGNATURE


async def test_a_tenant_with_its_own_secret_cannot_be_forged_with_the_global_one(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """An address naming a tenant that has its own verp.secrets, signed with the global secret, gets 550 5.7.1 over LMTP."""
    config = make_config(tmp_path, tenants={"dewiki": {"verp": {"secrets": ["a-secret-only-dewiki-knows-0123"]}}})
    daemon = await make_daemon(config)
    forged = Verp(config.verp).encode("dewiki", 42, clock.unix - 60)  # the global secret signs for dewiki
    genuine = VerpSet(config.verp, {t: c.verp for t, c in config.tenants.items()}).encode("dewiki", 42, clock.unix - 60)  # dewiki's secret
    assert forged != genuine
    assert str(await rcpt_after_a_genuine_one(daemon, genuine, forged)) == BAD_SIGNATURE


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda local: f'"{local}"@{VERP_DOMAIN}', id="quoted-local-part"),
        pytest.param(lambda local: f"@relay.example.net:{local}@{VERP_DOMAIN}", id="source-route"),
        pytest.param(lambda local: f"@a.example.net,@b.example.net:{local}@{VERP_DOMAIN}", id="source-route-of-two-hops"),
        pytest.param(lambda local: f"{local}@{VERP_DOMAIN.upper()}", id="upper-case-domain"),
        pytest.param(lambda local: f"{local.upper()}@{VERP_DOMAIN}", id="upper-case-native-local-part"),
        pytest.param(lambda local: f" {local}@ {VERP_DOMAIN}", id="blanks-around-the-parts"),
    ],
)
async def test_another_spelling_of_a_genuine_address_is_that_address_and_no_other(
    make_daemon, tmp_path: Path, clock: FakeClock, variant: Callable[[str], str]
) -> None:
    """A spelling that names the same mailbox (RFC 5321: quoted, source-routed, other case; aiosmtpd also reads RFC 5322
    blanks around the parts) is accepted as that mailbox: the bounce is recorded under the canonical local part, so no
    spelling names an identity the secret did not sign."""
    config = make_config(tmp_path)
    daemon = await make_daemon(config)
    genuine = verp_address(config, clock, user=7)
    local = genuine.rpartition("@")[0]
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    (rcpt,), (data,) = await client.deliver(dsn(genuine), [variant(local)])
    await client.close()
    assert (rcpt.code, data.code) == (250, 250)
    assert [(r["verp_local"], r["user_id"]) for r in await daemon.store.list_bounces()] == [(local, 7)]


# The MediaWiki vectors' invalid[] addresses, as verpd answers them at RCPT. Tampered fields or a
# case-folded base64 tag break the HMAC (5.7.1); a '-' in the tag or the prefix, or too few
# segments, is no VERP shape at all (5.1.1); an upper-case base-36 segment is no base 36 (5.1.1);
# an address still wrapped in <> or a display name is no RFC 5321 path (aiosmtpd refuses it).
VECTOR_REPLIES = {
    "neg-1": BAD_SIGNATURE, "neg-2": BAD_SIGNATURE, "neg-3": BAD_SIGNATURE, "neg-4": BAD_SIGNATURE,
    "neg-5": BAD_SIGNATURE, "neg-6": NOT_OURS, "neg-7": BAD_SIGNATURE, "neg-8": BAD_SIGNATURE,
    "neg-9": BAD_SIGNATURE, "neg-10": NOT_OURS, "neg-11": MALFORMED, "neg-12": SYNTAX, "neg-13": NOT_OURS, "neg-14": NOT_OURS,
}
VECTOR_DOMAIN = "wiki.example.org"


@functools.cache
def _vector_file() -> dict[str, Any]:
    return json.loads(shared_file("vectors/mediawiki_verp.json").read_text("utf-8"))


def _invalid_vectors() -> list[Any]:
    try:
        entries = _vector_file()["invalid"]
    except pytest.skip.Exception as absent:
        return [pytest.param(None, id="invalid-unavailable", marks=pytest.mark.skip(reason=absent.msg))]
    return [pytest.param(entry, id=entry["id"]) for entry in entries]


def test_every_invalid_vector_has_an_expected_reply() -> None:
    """The table of replies covers the vector file's invalid[] exactly, so a new vector cannot go untested."""
    assert {entry["id"] for entry in _vector_file()["invalid"]} == set(VECTOR_REPLIES)


@pytest.mark.parametrize("entry", _invalid_vectors())
async def test_every_invalid_mediawiki_vector_is_refused_at_rcpt(make_daemon, tmp_path: Path, clock: FakeClock, entry: dict[str, Any]) -> None:
    """Each address Extension:BounceHandler refuses is refused at RCPT by a daemon configured as the vector says (secret,
    algorithm, accept_time, now), after the vector it derives from is accepted in the same session."""
    validation = entry["validation"]
    config = make_config(tmp_path, verp={"format": "mediawiki", "domain": VECTOR_DOMAIN, "secrets": [entry["secret"]],
                                         "algorithm": entry["algorithm"], "accept_time": validation["accept_time"]})
    clock.now = datetime.fromtimestamp(validation["now"], UTC)  # the daemon's clock
    journal = JsonLog(entry["secret"].encode())
    daemon = await make_daemon(config)
    genuine = Verp(config.verp).encode("enwiki", 1, validation["now"] - 60)
    reply = await rcpt_after_a_genuine_one(daemon, genuine, entry["address"])
    assert str(reply) == VECTOR_REPLIES[entry["id"]]
    assert_refusal_logged_without_secrets(journal, str(reply), entry["address"], [entry["secret"].encode()], [])


# --- 2. the HTTP intake's allowlist and X-Forwarded-For ---------------------------------------------------

API = "/w/api.php?action=bouncehandler&format=json"
OTHER_PEER = "127.0.0.2"  # a loopback address outside the default allowed_clients (127.0.0.1/32, ::1/128)
Headers = list[tuple[str, str]]


@pytest.fixture
async def from_other_peer() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose TCP connections come from 127.0.0.2."""
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=OTHER_PEER), timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture
async def from_loopback() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


async def http_daemon(make_daemon: Callable[[Config], Any], tmp_path: Path, trusted: list[str]) -> tuple[Daemon, Config]:
    """A daemon with the HTTP intake, the default allowed_clients, and ``trusted`` as http.trusted_proxies."""
    config = make_config(tmp_path, http={"listen": "127.0.0.1:0", "trusted_proxies": trusted})
    return await make_daemon(config), config


async def gate(client: httpx.AsyncClient, daemon: Daemon, raw: bytes, headers: Headers) -> tuple[str, int, int]:
    """What api.php answers ("job", "failure" or the error code), and the status of /metrics and /v1/subjects, with ``headers``."""
    base = f"http://127.0.0.1:{daemon.http.bound()[0].port}"
    body = b"email=" + urllib.parse.quote_from_bytes(raw, safe="").encode()
    response = await client.post(base + API, content=body, headers=[("Content-Type", "application/x-www-form-urlencoded"), *headers])
    assert response.status_code == 200, response.text
    answer = response.json()
    api = answer.get("bouncehandler", {}).get("submitted") or answer["error"]["code"]
    metrics = (await client.get(base + "/metrics", headers=headers)).status_code
    subjects = (await client.get(base + "/v1/subjects/enwiki/42", headers=headers)).status_code
    return api, metrics, subjects


SPOOFS = [
    pytest.param([("X-Forwarded-For", "127.0.0.1")], id="xff"),
    pytest.param([("X-Forwarded-For", "127.0.0.1, 127.0.0.1")], id="xff-comma-list"),
    pytest.param([("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", "127.0.0.1")], id="xff-two-headers"),
    pytest.param([("X-Forwarded-For", "127.0.0.1 ,\t 127.0.0.1")], id="xff-spaces-and-tab"),
    pytest.param([("X-Forwarded-For", "127.0.0.1:8080")], id="xff-with-port"),
    pytest.param([("X-Forwarded-For", "::1")], id="xff-ipv6-loopback"),
    pytest.param([("X-Forwarded-For", "[::1]:443")], id="xff-bracketed-ipv6"),
    pytest.param([("X-Forwarded-For", "::ffff:127.0.0.1")], id="xff-ipv4-mapped"),
    pytest.param([("Forwarded", "for=127.0.0.1")], id="forwarded"),
    pytest.param([("Forwarded", 'for="[::1]";proto=http, for=127.0.0.1')], id="forwarded-ipv6-list"),
    pytest.param([("X_Forwarded_For", "127.0.0.1")], id="xff-underscores"),
    pytest.param([(name, "127.0.0.1") for name in ("X-Real-IP", "X-Client-IP", "Client-IP", "True-Client-IP", "CF-Connecting-IP",
                                                   "X-Cluster-Client-IP", "X-Originating-IP", "X-Remote-Addr", "Fastly-Client-IP")],
                 id="every-other-client-ip-header"),
]


async def test_the_allowed_and_the_other_peer_are_told_apart(make_daemon, tmp_path: Path, clock: FakeClock,
                                                            from_loopback: httpx.AsyncClient, from_other_peer: httpx.AsyncClient) -> None:
    """The rig of the spoofing tests: 127.0.0.1 (allowed) gets its bounce recorded, 127.0.0.2 gets invalid-ip, 403 and 403."""
    daemon, config = await http_daemon(make_daemon, tmp_path, [])
    assert await gate(from_other_peer, daemon, dsn(verp_address(config, clock)), []) == ("invalid-ip", 403, 403)
    assert await gate(from_loopback, daemon, dsn(verp_address(config, clock)), []) == ("job", 200, 200)


@pytest.mark.parametrize("headers", SPOOFS)
async def test_an_untrusted_peer_cannot_claim_an_allowed_address_in_a_header(
    make_daemon, tmp_path: Path, clock: FakeClock, from_other_peer: httpx.AsyncClient, headers: Headers
) -> None:
    """With no trusted proxy, no header (X-Forwarded-For in any shape, Forwarded, X-Real-IP, ...) makes a peer outside
    allowed_clients an allowed one: api.php answers invalid-ip, /metrics and /v1 answer 403, nothing is stored."""
    daemon, config = await http_daemon(make_daemon, tmp_path, [])
    assert await gate(from_other_peer, daemon, dsn(verp_address(config, clock)), headers) == ("invalid-ip", 403, 403)
    assert await daemon.store.list_bounces() == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([("X-Forwarded-For", "127.0.0.1")], "job", id="proxy-vouches-for-an-allowed-client"),
        pytest.param([("X-Forwarded-For", "127.0.0.1, 192.0.2.7")], "invalid-ip", id="client-sent-xff-proxy-appended-the-real-one"),
        pytest.param([("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", "192.0.2.7")], "invalid-ip", id="proxy-added-a-second-header"),
        pytest.param([("X-Forwarded-For", "127.0.0.1, 127.0.0.2")], "job", id="a-trusted-hop-is-skipped"),
        pytest.param([("X-Forwarded-For", "127.0.0.1, unknown")], "invalid-ip", id="unparsable-rightmost-hop-is-not-skipped"),
        pytest.param([("X-Forwarded-For", "127.0.0.1,")], "invalid-ip", id="empty-rightmost-hop-is-not-skipped"),
        pytest.param([("X-Forwarded-For", "127.0.0.2")], "invalid-ip", id="only-trusted-hops-the-proxy-is-the-client"),
        pytest.param([("X-Forwarded-For", "::ffff:127.0.0.1")], "job", id="ipv4-mapped-is-that-ipv4"),
        pytest.param([("X-Forwarded-For", "[::1]:443")], "job", id="bracketed-ipv6-with-port"),
        pytest.param([("X-Forwarded-For", "127.1")], "invalid-ip", id="short-form-ipv4-refused"),
        pytest.param([("X-Forwarded-For", "0x7f.0.0.1")], "invalid-ip", id="hex-ipv4-refused"),
        pytest.param([("X-Forwarded-For", "2130706433")], "invalid-ip", id="integer-ipv4-refused"),
        pytest.param([("X-Forwarded-For", "127.000.000.001")], "invalid-ip", id="zero-padded-ipv4-refused"),
        pytest.param([("Forwarded", "for=127.0.0.1")], "invalid-ip", id="forwarded-header-is-not-read"),
        pytest.param([("X_Forwarded_For", "127.0.0.1")], "invalid-ip", id="underscore-spelling-is-not-read"),
        pytest.param([("X-Real-IP", "127.0.0.1")], "invalid-ip", id="x-real-ip-is-not-read"),
    ],
)
async def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop(
    make_daemon, tmp_path: Path, clock: FakeClock, from_other_peer: httpx.AsyncClient, headers: Headers, expected: str
) -> None:
    """With 127.0.0.2 a trusted proxy, the client is the rightmost X-Forwarded-For hop that is not a trusted proxy; a hop
    that is no canonical IP address ends the search unbelieved, and no other header is read."""
    daemon, config = await http_daemon(make_daemon, tmp_path, [f"{OTHER_PEER}/32"])
    api, metrics, subjects = await gate(from_other_peer, daemon, dsn(verp_address(config, clock)), headers)
    assert (api, metrics) == (expected, 200 if expected == "job" else 403)
    assert subjects == (200 if expected == "job" else 403)


# --- 3. no header injection into the forward to the admins ------------------------------------------------

FORWARD_HEADERS = ["Content-Type", "MIME-Version", "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted"]
ADMINS = ("postmaster@example.org", "ops@example.org")
EVIL = "evil@example.net"


def _crafted(headers: str, body: str = f"{logaudit.RAW_MARKER}: please review.\n") -> bytes:
    return f"From: Bob Example <bob@example.net>\n{headers}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}".encode(
        "utf-8", "surrogateescape")


def _q(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


CRAFTED_ORIGINALS = [
    pytest.param(_crafted(f"Subject: hello\nMessage-ID: {_q(f'<a@example.net>{chr(13)}{chr(10)}Bcc: {EVIL}')}\n"), id="encoded-crlf-in-message-id"),
    pytest.param(_crafted(f"Subject: {_q(f'hi{chr(13)}{chr(10)}Bcc: {EVIL}{chr(13)}{chr(10)}{chr(13)}{chr(10)}body')}\n"), id="encoded-crlf-in-subject"),
    pytest.param(_crafted("Subject: =?utf-8?q?hi=0D=0ABcc:_evil@example.net?=\nMessage-ID: =?utf-8?q?<a@b>=0D=0ABcc:_evil@example.net?=\n"), id="q-encoded-crlf"),
    pytest.param(_crafted(f"Subject: hi\rBcc: {EVIL}\nMessage-ID: <b@example.net>\rCc: {EVIL}\n"), id="bare-cr-in-headers"),
    pytest.param(_crafted("Subject: a\x00b\nMessage-ID: <nul\x00@example.net>\n", body="bo\x00dy\n"), id="nul-in-headers-and-body"),
    pytest.param(_crafted("Subject: " + "word " * 400 + "\nMessage-ID: <" + "x" * 5000 + "@example.net>\n"), id="very-long-header-lines"),
    pytest.param(_crafted("Subject: x\n", body="y" * 20000 + "\n"), id="very-long-body-line"),
    pytest.param(_crafted("Subject: caf\udcc3\udca9 \udcff\n", body="caf\udce9\n"), id="eight-bit-bytes"),
    pytest.param(b"not a header line\nSubject: x\nBcc: " + EVIL.encode() + b"\n\nbody\n", id="first-line-no-header"),
    pytest.param(_crafted("Subject: x\n", body="--===============0000000000000000000==--\nFrom the top\n.\n..\n"), id="boundary-like-lines-and-dots"),
    pytest.param(_crafted("Subject: x\nTo: =?utf-8?q?=0D=0ABcc:_evil@example.net?= <x@example.org>\n"), id="encoded-crlf-in-to"),
]


def attached_original(forward: bytes) -> bytes:
    """The bytes of the forward's attachment as sent: a message/rfc822 part's bytes between its part headers and the closing
    delimiter, or an original.eml part's base64 decoded."""
    boundary = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(forward, headersonly=True).get_boundary()
    part = forward.split(b"\r\n--" + boundary.encode())[2]
    head, _, body = part.partition(b"\r\n\r\n")
    if b"Content-Type: message/rfc822" in head:
        return body
    assert b'filename="original.eml"' in head and b"Content-Transfer-Encoding: base64" in head, head
    return base64.b64decode(body)


def assert_forward_is_clean(forward: bytes, subject: str, original: bytes) -> None:
    """The forward's own headers are exactly ours, once each; its explanation has its lines; the original is attached intact
    (as message/rfc822 unless a line is too long for SMTP)."""
    head = forward.split(b"\r\n\r\n", 1)[0].decode("ascii")
    starts = [line.split(":", 1)[0] for line in head.split("\r\n") if not line.startswith((" ", "\t"))]
    assert starts == FORWARD_HEADERS, "a header line that is not verpd's, or a continuation line that is no continuation"
    parsed = email.message_from_bytes(forward, policy=email.policy.default)
    assert (parsed["Subject"], parsed["To"], parsed["From"]) == (subject, ", ".join(ADMINS), "verpd <verpd@example.org>")
    assert parsed.defects == []
    explanation, attachment = parsed.iter_parts()
    fields = [line.split(":", 1)[0] for line in explanation.get_content().splitlines()[3:]]
    assert fields == ["VERP address", "Tenant", "User id", "Sent at", "Received at", "Message-ID"]
    sent = re.sub(rb"\r\n|\r|\n", b"\r\n", original)
    assert attached_original(forward) == sent
    fits = all(len(line) <= 998 for line in sent.split(b"\r\n"))
    assert attachment.get_content_type() == ("message/rfc822" if fits else "application/octet-stream")


def _forward_item(raw: bytes, verps: tuple[str, ...] = ("wiki-enwiki-16-toupac-a@bounces.example.org",), message_id: str | None = "<m@x>",
                  tenant: str = "enwiki") -> OutboxItem:
    sent = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    return OutboxItem(1, ActionKind.FORWARD, "k", ForwardPayload(verps, tenant, 42, sent, sent, message_id), raw, 0)


FORWARD_CONFIG = ForwardConfig(ADMINS, HostPort("127.0.0.1", 9), "verpd@example.org", False, 1, 4)


@pytest.mark.parametrize("original", CRAFTED_ORIGINALS)
def test_a_crafted_original_is_attached_intact_and_adds_no_header(original: bytes) -> None:
    """Whatever the original holds (encoded CRLF, bare CR, NUL, long or 8-bit lines, no header at all), the forward's headers
    are exactly verpd's and the attachment is the original's bytes, only the line ends made CRLF."""
    forward = forward_message(_forward_item(original), FORWARD_CONFIG, "verpd.test")
    assert_forward_is_clean(forward, "Unrecognized bounce for wiki-enwiki-16-toupac-a@bounces.example.org", original)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("verps", (f"wiki-x@bounces.example.org\r\nBcc: {EVIL}",), id="crlf-in-verp"),
        pytest.param("verps", (f"wiki-x@bounces.example.org\nBcc : {EVIL}",), id="lf-and-space-before-colon-in-verp"),
        pytest.param("verps", (f"wiki-x@bounces.example.org\r\n\r\nTenant: forged",), id="blank-line-in-verp"),
        pytest.param("message_id", f"<a@b>\r\nVERP address:  forged@{VERP_DOMAIN}", id="crlf-in-message-id"),
        pytest.param("message_id", "<a@b>\u2028Tenant: forged\x00", id="unicode-line-separator-and-nul"),
        pytest.param("tenant", "enwiki\nUser id: 1", id="lf-in-tenant"),
    ],
)
def test_values_carrying_line_breaks_stay_on_their_line(field: str, value: Any) -> None:
    """A forward whose payload carries CR, LF, NUL or a Unicode line separator (a tampered outbox row: the pipeline's values
    are verified addresses and one-line headers) gets no extra header and no extra line of explanation."""
    item = _forward_item(not_a_bounce("x@bounces.example.org"), **{field: value})
    forward = forward_message(item, FORWARD_CONFIG, "verpd.test")
    subject = email.message_from_bytes(forward, policy=email.policy.default)["Subject"]
    assert subject.startswith("Unrecognized bounce for wiki-") and "\n" not in subject
    assert_forward_is_clean(forward, subject, item.message)


class Relay:
    """A real SMTP server on loopback standing in for forward.relay; keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.arrived.set()
        return "250 2.0.0 OK"


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    sink = Relay()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(sink, hostname="relay.test"), "127.0.0.1", 0)
    yield sink, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("original", [p for p in CRAFTED_ORIGINALS if p.id in ("encoded-crlf-in-message-id", "encoded-crlf-in-subject",
                                                                                "bare-cr-in-headers", "very-long-header-lines", "first-line-no-header")])
async def test_a_crafted_bounce_forwarded_over_lmtp_and_smtp_adds_no_header(
    make_daemon, tmp_path: Path, clock: FakeClock, relay: tuple[Relay, int], original: bytes
) -> None:
    """End to end: a crafted message to a genuine VERP address, delivered over LMTP, reaches the admins through a real relay
    with exactly verpd's headers, null envelope sender, and the original attached as it arrived."""
    sink, port = relay
    config = make_config(tmp_path, forward={"to": list(ADMINS), "relay": f"127.0.0.1:{port}", "sender": "verpd@example.org"})
    daemon = await make_daemon(config)
    verp = verp_address(config, clock)
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    _, (reply,) = await client.deliver(original, [verp])
    await client.close()
    assert reply.code == 250 and "administrators" in reply.text
    await asyncio.wait_for(sink.arrived.wait(), 20)
    (mail_from, rcpts, forward), = sink.received
    assert (mail_from, rcpts) == ("<>", list(ADMINS))
    received = re.sub(rb"\r\n|\r|\n", b"\r\n", original.replace(b"\r\n", b"\n"))  # what LMTPClient sent: CRLF line ends
    assert_forward_is_clean(forward, f"Unrecognized bounce for {verp}", received)


# --- 4. the log audit (tests/logaudit.py) catches what it is meant to -------------------------------------


def test_log_audit_needles_occur_in_the_test_messages() -> None:
    """Each body sentence the audit looks for is in the message tests/messages.py builds, and the diagnostic in its DSN:
    the audit cannot silently look for text no test sends."""
    bodies = [dsn("v@x.example"), not_a_bounce("v@x.example"), complaint("v@x.example"), auto_reply("v@x.example"), _crafted("")]
    for marker, body in zip(logaudit.BODY_MARKERS, bodies, strict=True):
        assert marker.encode() in body
    assert all(marker.encode() in dsn("v@x.example") for marker in logaudit.DIAGNOSTIC_MARKERS)
    assert TEST_SECRET in logaudit.STATIC_SECRETS


def test_the_log_audit_flags_a_planted_leak_in_every_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A secret (raw, hex, base64, base64url) or raw message text logged through verpd's JSON logging, structlog's defaults,
    capture_logs, the logging module or a daemon's stderr is a finding that names the channel and masks the secret; clean
    lines are not."""
    planted, in_config = b"planted-secret-for-the-audit-???", "planted-config-secret-for-the-audit-0123"  # base64 has a /, base64url a _
    session_findings = len(logaudit.SESSION.findings)
    with logaudit.redirected(logaudit.standard()) as audit:
        Secret(planted)  # any Secret made during the run is watched for
        write_config_file(tmp_path, verp={"secrets": [in_config]})  # and any a subprocess will read
        logging.getLogger("some.library").warning("connecting with %s", base64.urlsafe_b64encode(planted).decode())
        structlog.reset_defaults()
        structlog.get_logger("t").info("defaults", key=planted.hex())
        with structlog.testing.capture_logs():
            structlog.get_logger("t").info("captured", key=base64.b64encode(planted).decode())
        journal = JsonLog(planted)
        structlog.get_logger("t").info("clean", rcpt="alice@example.org", user=42)
        structlog.get_logger("t").error("leak", secret=planted.decode())
        structlog.get_logger("t").info("body", excerpt=f"{logaudit.RAW_MARKER} and more")
        structlog.get_logger("t").info("diagnostic", said="550 5.1.1 Recipient address rejected: User unknown")
        logaudit.feed("daemon", json.dumps({"event": "config.loaded", "secrets": [in_config]}))
    capsys.readouterr()
    assert len(logaudit.SESSION.findings) == session_findings  # the planted leaks went to this audit only
    found = [(f.source, f.what) for f in audit.findings]
    assert found == [
        ("logging", "secret #2 (base64url)"),  # #1 is tests/conftest.py's TEST_SECRET
        ("structlog", "secret #2 (hex)"),
        ("capture_logs", "secret #2 (base64)"),
        ("structlog", "secret #2 (raw)"),
        ("structlog", "raw message body"),
        ("structlog", "diagnostic text"),
        ("daemon", "secret #3 (raw)"),
    ]
    assert audit.lines == 8 and '"event": "clean"' in journal.text
    assert not any(planted.decode() in f.excerpt or in_config in f.excerpt for f in audit.findings)


def test_a_leak_in_any_test_fails_the_whole_run(tmp_path: Path) -> None:
    """A run whose tests all pass fails (exit status 1) when one of them logged a secret, and the report names the test and
    the kind of leak without repeating the secret."""
    planted = "inner-planted-secret-0123456789"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import structlog
        from verpd.config import Secret

        def test_leaks():
            Secret({planted.encode()!r})
            structlog.get_logger().info("oops", value={planted!r})

        def test_clean():
            structlog.get_logger().info("fine", value=1)
    """))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.logaudit", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}", "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert re.search(r"secret #\d+ \(raw\) in a structlog line of test_inner.py::test_leaks:", done.stdout)
    assert "log audit FAILED: 1 of 2 log lines leak" in done.stdout
    assert planted not in done.stdout.replace(f"Secret({planted.encode()!r})", "")

"""Logs an operator can keep: addresses follow log.addresses in every line, at every level."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from tests.conftest import FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.lmtp_client import LMTPClient
from tests.messages import auto_reply, complaint, dsn, not_a_bounce
from verpd import log
from verpd.config import LogConfig

# Any address of the test messages' domains written out in full (a pseudonym "h:xxxxxxxx@" or "*@" is not).
FULL_ADDRESS = re.compile(r"(?<![:*\w.+-])[A-Za-z0-9._%+-]+@(?:[a-z0-9-]+\.)*example\.(?:com|org|net)", re.IGNORECASE)


async def test_a_load_run_logs_no_full_address_under_the_default(tmp_path: Path) -> None:
    """Bounces, duplicates, forgeries, complaints, auto-replies and unrecognized mail at log level debug: no address in full."""
    port = free_port()
    process = await Process.start(write_config(tmp_path, port, policy={"limit": 2, "act": True}))  # log.addresses left at its default
    config = make_config(tmp_path)
    clock = FakeClock(start=datetime.now(UTC))
    client = await LMTPClient.connect("127.0.0.1", port)
    try:
        for user in range(40):
            verp = verp_address(config, clock, user=user % 10)
            failed = f"person.{user}@example.com"
            message = [dsn(verp, failed=failed, diagnostic=f"550 5.1.1 <{failed}>: Recipient address rejected: User unknown"),
                       complaint(verp, complainant=f"reader{user}@example.net"), auto_reply(verp), not_a_bounce(verp)][user % 4]
            await client.deliver(message, [verp])
            await client.deliver(message, [verp])  # a duplicate
        forged = verp_address(config, clock, user=1).replace("enwiki", "dewiki")
        await client.rcpt(forged)
    finally:
        client.writer.close()
        process.proc.terminate()
        await process.finish()
    lines = [json.dumps(e) for e in process.events]
    assert any(e.get("event") == "bounce.recorded" for e in process.events) and any(e.get("event") == "subject.suppressed" for e in process.events)
    leaked = [m.group(0) for line in lines for m in FULL_ADDRESS.finditer(line)]
    assert not leaked, f"{len(leaked)} full addresses in the logs, e.g. {leaked[:3]}"
    assert any(re.search(r"h:[0-9a-f]{8}@example\.com", line) for line in lines)


def _logged(mode: str, **fields: object) -> dict:
    stream = io.StringIO()
    log.configure(LogConfig("debug", "json", mode), stream, key=log.pseudonym_key(b"a-secret-of-some-length"))
    structlog.get_logger("test").info("bounce.recorded", **fields)
    return json.loads(stream.getvalue())


def test_pseudonyms_are_stable_keyed_and_keep_the_domain() -> None:
    key = log.pseudonym_key(b"a-secret-of-some-length")
    first, again = log.pseudonym("alice@example.org", key), log.pseudonym("Alice@EXAMPLE.org", key)
    assert first == again and re.fullmatch(r"h:[0-9a-f]{8}@example\.org", first)
    assert log.pseudonym("alice@example.org", log.pseudonym_key(b"another-secret-entirely")) != first


def test_addresses_inside_any_field_follow_the_setting() -> None:
    fields = {"address": "alice@example.org", "diagnostic": "550 5.1.1 <alice@example.org>: User unknown", "addresses": ["bob@example.net"]}
    hidden = _logged("pseudonym", **fields)
    assert "alice@" not in json.dumps(hidden) and "bob@" not in json.dumps(hidden)
    assert hidden["diagnostic"] == f"550 5.1.1 <{hidden['address']}>: User unknown"
    assert _logged("domain", **fields)["addresses"] == ["*@example.net"]
    assert _logged("full", **fields)["address"] == "alice@example.org"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("jöhn.smith@example.com", id="smtputf8-local-part"),
        pytest.param("jo\u0308hn@example.com", id="combining-mark-in-local-part"),
        pytest.param("用户@例子.广告", id="smtputf8-local-part-and-domain"),
        pytest.param("user@münchen.de", id="idn-domain"),
        pytest.param('"john smith"@example.com', id="quoted-local-part"),
        pytest.param('"j@s"@example.com', id="quoted-local-part-with-at"),
        pytest.param("user@[192.0.2.1]", id="address-literal"),
        pytest.param("user@xn--80akhbyknj4f.xn--p1ai", id="punycode-domain"),
        pytest.param("a" * 70 + "@example.com", id="local-part-over-64"),
    ],
)
def test_every_form_of_an_address_is_pseudonymised_whole(address: str) -> None:
    """A UTF-8 (RFC 6531), quoted or over-long local part and a UTF-8, punycode or literal domain are matched whole: no part
    of the local part reaches the log line, under "pseudonym" and "domain" alike."""
    local, _, domain = address.rpartition("@")
    for mode, shown in (("pseudonym", r"h:[0-9a-f]{8}"), ("domain", r"\*")):
        diagnostic = _logged(mode, diagnostic=f"550 5.1.1 <{address}>: User unknown")["diagnostic"]
        assert re.fullmatch(rf"550 5\.1\.1 <{shown}@{re.escape(domain.lower())}>: User unknown", diagnostic), diagnostic


def test_a_url_with_a_user_at_an_ip_address_is_left_alone() -> None:
    """"user@" before an IP address and port (a database URL) is no mail address: the URL is logged as it is."""
    url = "postgresql+asyncpg://verpd@127.0.0.1:5432/verpd"
    assert _logged("pseudonym", database=url)["database"] == url

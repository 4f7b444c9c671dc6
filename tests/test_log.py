"""Logs an operator can keep: addresses follow log.addresses in every line, at every level; what a client
can repeat at will is rate-limited, with a count of what was left out."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter
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


# --- rate limiting ----------------------------------------------------------------------


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limited_log(ticks: Ticks) -> io.StringIO:
    stream = io.StringIO()
    log.configure(LogConfig("debug", "json", "full"), stream, key=log.pseudonym_key(b"a-secret-of-some-length"), clock=ticks)
    return stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_identical_events_beyond_the_burst_become_one_count_when_the_interval_ends() -> None:
    """25 rcpt.rejected of one reason from one client in an interval: RATE_BURST lines, then, once the interval
    is over, one log.suppressed line with the event's name, its kind and the count of the rest."""
    ticks = Ticks()
    stream = _limited_log(ticks)
    logger = structlog.get_logger("test")
    for n in range(25):
        logger.info("rcpt.rejected", reason="not_ours", client="192.0.2.7", rcpt=f"x{n}@example.net")
    log.flush_suppressed()  # the interval is not over: nothing yet
    assert [e["event"] for e in _lines(stream)] == ["rcpt.rejected"] * log.RATE_BURST
    ticks.now += log.RATE_INTERVAL
    log.flush_suppressed()
    summary = _lines(stream)[-1]
    assert {k: summary[k] for k in ("event", "level", "suppressed", "count", "reason", "client")} == {
        "event": "log.suppressed", "level": "info", "suppressed": "rcpt.rejected", "count": 25 - log.RATE_BURST,
        "reason": "not_ours", "client": "192.0.2.7"}


def test_the_count_comes_before_the_next_line_of_its_kind() -> None:
    """Without a flush, the first line of a kind after its interval is preceded by that kind's log.suppressed line."""
    ticks = Ticks()
    stream = _limited_log(ticks)
    logger = structlog.get_logger("test")
    for _ in range(log.RATE_BURST + 3):
        logger.warning("session.limited", limit="max_errors", client="192.0.2.7")
    ticks.now += log.RATE_INTERVAL + 1
    logger.warning("session.limited", limit="max_errors", client="192.0.2.7")
    tail = _lines(stream)[log.RATE_BURST:]
    assert [(e["event"], e.get("count")) for e in tail] == [("log.suppressed", 3), ("session.limited", None)]


def test_kinds_are_limited_apart_and_other_events_never() -> None:
    """Another reason, another client or another level is another kind; an event outside RATE_LIMITED
    (a recorded bounce) is always written."""
    stream = _limited_log(Ticks())
    logger = structlog.get_logger("test")
    for _ in range(2 * log.RATE_BURST):
        logger.info("rcpt.rejected", reason="not_ours", client="192.0.2.7")
        logger.info("rcpt.rejected", reason="expired", client="192.0.2.7")
        logger.info("rcpt.rejected", reason="not_ours", client="192.0.2.8")
        logger.warning("rcpt.rejected", reason="not_ours", client="192.0.2.7")
        logger.info("bounce.recorded", tenant="enwiki", user=1)
    found = Counter((e["event"], e.get("reason"), e.get("client"), e["level"]) for e in _lines(stream))
    assert found == {
        ("rcpt.rejected", "not_ours", "192.0.2.7", "info"): log.RATE_BURST,
        ("rcpt.rejected", "expired", "192.0.2.7", "info"): log.RATE_BURST,
        ("rcpt.rejected", "not_ours", "192.0.2.8", "info"): log.RATE_BURST,
        ("rcpt.rejected", "not_ours", "192.0.2.7", "warning"): log.RATE_BURST,
        ("bounce.recorded", None, None, "info"): 2 * log.RATE_BURST,
    }


def test_a_library_warning_is_one_kind_per_message_template_whatever_its_arguments() -> None:
    """aiosmtpd's "%r unrecognised: %s" with a new peer and command each time is still one kind; the template
    only keys the limit and is not written."""
    import logging

    ticks = Ticks()
    stream = _limited_log(ticks)
    for n in range(3 * log.RATE_BURST):
        logging.getLogger("mail.log").warning("%r unrecognised: %s", ("192.0.2.7", 40000 + n), f"XYZZY{n}")
    ticks.now += log.RATE_INTERVAL
    log.flush_suppressed()
    lines = _lines(stream)
    assert [e["event"] for e in lines] == ["library.log"] * log.RATE_BURST + ["log.suppressed"]
    assert lines[0]["message"] == "('192.0.2.7', 40000) unrecognised: XYZZY0" and "_template" not in lines[0]
    assert (lines[-1]["suppressed"], lines[-1]["count"], lines[-1]["logger"]) == ("library.log", 2 * log.RATE_BURST, "mail.log")

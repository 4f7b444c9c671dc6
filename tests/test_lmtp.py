"""The LMTP intake: reply codes at RCPT and one reply per recipient at DATA (RFC 2033)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import VERP_DOMAIN, FakeClock, lmtp_port, make_config, verp_address
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from verpd.config import Config
from verpd.daemon import Daemon


async def connect(daemon: Daemon) -> LMTPClient:
    return await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))


async def bounce_count(daemon: Daemon) -> int:
    return len(await daemon.store.list_bounces())


# --- RCPT -----------------------------------------------------------------------------


async def test_valid_verp_recipient_is_accepted_at_rcpt(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """A VERP address we signed, within accept_time, gets 250 2.1.5 at RCPT."""
    client = await connect(daemon)
    await client.mail()
    reply = await client.rcpt(verp_address(config, clock))
    assert (reply.code, reply.text[:5]) == (250, "2.1.5")
    await client.close()


@pytest.mark.parametrize(
    ("make_rcpt", "expected"),
    [
        pytest.param(lambda a: a.replace(VERP_DOMAIN, "example.net"), "550 5.1.1", id="foreign-domain"),
        pytest.param(lambda a: "postmaster@" + VERP_DOMAIN, "550 5.1.1", id="not-a-verp-local-part"),
        pytest.param(lambda a: "other-" + a, "550 5.1.1", id="wrong-prefix"),
        pytest.param(lambda a: a.replace("-enwiki-", "-dewiki-"), "550 5.7.1 VERP address signature", id="tampered-tenant"),
        pytest.param(lambda a: a.split("@")[0][:-1] + "a@" + VERP_DOMAIN if not a.split("@")[0].endswith("a") else a.split("@")[0][:-1] + "b@" + VERP_DOMAIN, "550 5.7.1 VERP address signature", id="bad-tag"),
    ],
)
async def test_recipient_that_is_not_our_verp_is_refused_with_its_class(
    daemon: Daemon, config: Config, clock: FakeClock, make_rcpt, expected: str
) -> None:
    """Wrong domain or not a VERP → 550 5.1.1; a bad signature → 550 5.7.1."""
    client = await connect(daemon)
    await client.mail()
    reply = await client.rcpt(make_rcpt(verp_address(config, clock)))
    assert str(reply).startswith(expected), reply
    await client.close()


async def test_expired_verp_is_refused_with_its_own_text(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """A VERP address older than verp.accept_time gets 550 5.7.1 saying it expired."""
    client = await connect(daemon)
    await client.mail()
    reply = await client.rcpt(verp_address(config, clock, sent_ago=config.verp.accept_time))
    assert str(reply).startswith("550 5.7.1") and "expired" in reply.text
    await client.close()


async def test_verp_from_the_future_is_refused(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """A send time beyond verp.clock_skew in the future gets 550 5.7.1 saying so."""
    client = await connect(daemon)
    await client.mail()
    reply = await client.rcpt(verp_address(config, clock, sent_ago=-(config.verp.clock_skew + 60)))
    assert str(reply).startswith("550 5.7.1") and "future" in reply.text
    await client.close()


async def test_client_outside_allowed_clients_is_refused_at_rcpt(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """A client whose address is not in server.allowed_clients gets 554 5.7.1, even for a valid VERP."""
    config = make_config(tmp_path, server={"allowed_clients": ["192.0.2.0/24"]})
    daemon = await make_daemon(config)
    client = await connect(daemon)
    await client.mail()
    reply = await client.rcpt(verp_address(config, clock))
    assert str(reply).startswith("554 5.7.1")
    await client.close()


async def test_recipients_beyond_max_recipients_get_452_and_the_rest_are_delivered(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """RFC 5321 §4.5.3.1.8: past server.max_recipients a RCPT gets 452 4.5.3 (the MTA sends it again later);
    the accepted ones are delivered, one reply each."""
    config = make_config(tmp_path, server={"max_recipients": 3})
    daemon = await make_daemon(config)
    client = await connect(daemon)
    verps = [verp_address(config, clock, user=u) for u in range(5)]
    await client.mail()
    replies = [await client.rcpt(v) for v in verps]
    assert [r.code for r in replies] == [250, 250, 250, 452, 452] and str(replies[3]).startswith("452 4.5.3")
    data = await client.data(dsn(verps[0]), 3)
    assert [r.code for r in data] == [250, 250, 250]
    await client.close()
    assert sorted(r["user_id"] for r in await daemon.store.list_bounces()) == [0, 1, 2]


async def test_ipv6_loopback_client_is_accepted_when_allowed(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """verpd listens on ::1 when configured, and ::1/128 in allowed_clients lets it deliver."""
    config = make_config(tmp_path, server={"lmtp": "[::1]:0"})
    try:
        daemon = await make_daemon(config)
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    client = await LMTPClient.connect("::1", lmtp_port(daemon))
    (rcpt,), (data,) = await client.deliver(dsn(verp_address(config, clock)), [verp_address(config, clock)])
    assert (rcpt.code, data.code) == (250, 250)
    await client.close()


# --- DATA -----------------------------------------------------------------------------


async def test_bounce_is_recorded_before_250(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """DATA gets 250 2.0.0 and the bounce is already in the database when the reply arrives."""
    verp = verp_address(config, clock, user=7)
    client = await connect(daemon)
    _, (reply,) = await client.deliver(dsn(verp), [verp])
    assert (reply.code, reply.text[:5]) == (250, "2.0.0")
    (row,) = await daemon.store.list_bounces()
    assert (row["tenant"], row["user_id"], row["address"], row["status"], row["severity"]) == (
        "enwiki", 7, "alice@example.com", "5.1.1", "hard"
    )
    assert row["verp_local"] == verp.split("@")[0]
    await client.close()


async def test_multi_recipient_transaction_gets_one_reply_per_accepted_recipient(
    daemon: Daemon, config: Config, clock: FakeClock
) -> None:
    """Three RCPTs with one refused → exactly two DATA replies, each 250, each recorded."""
    good = [verp_address(config, clock, user=1), verp_address(config, clock, user=2)]
    forged = good[0].replace("-enwiki-", "-dewiki-")
    client = await connect(daemon)
    rcpts, datas = await client.deliver(dsn(good[0]), [good[0], forged, good[1]])
    assert [r.code for r in rcpts] == [250, 550, 250]
    assert [r.code for r in datas] == [250, 250]
    # The session is still in step: a NOOP gets its own reply, not a leftover one.
    assert (await client.command("NOOP")).code == 250
    assert sorted(r["user_id"] for r in await daemon.store.list_bounces()) == [1, 2]
    await client.close()


async def test_resent_bounce_is_stored_once(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """The same bounce delivered twice (an MTA retry after a lost 250) is stored once and acknowledged twice."""
    verp = verp_address(config, clock)
    client = await connect(daemon)
    _, first = await client.deliver(dsn(verp), [verp])
    _, second = await client.deliver(dsn(verp, message_id="<dsn.2@mx2.example.com>"), [verp])
    assert [r.code for r in first + second] == [250, 250]
    assert "already" in second[0].text
    assert await bounce_count(daemon) == 1
    await client.close()


async def test_oversized_message_gets_552_per_recipient(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """A message over server.max_message_size gets 552 5.3.4 once per recipient, and the session stays usable."""
    config = make_config(tmp_path, server={"max_message_size": "4KiB"})
    daemon = await make_daemon(config)
    verps = [verp_address(config, clock, user=u) for u in (1, 2)]
    big = dsn(verps[0]) + b"X" * 80 + (b"\n" + b"Y" * 76) * 100
    client = await connect(daemon)
    _, replies = await client.deliver(big, verps)
    assert [str(r)[:9] for r in replies] == ["552 5.3.4", "552 5.3.4"]
    assert (await client.command("NOOP")).code == 250
    assert await bounce_count(daemon) == 0
    await client.close()


async def test_very_long_line_is_accepted(daemon: Daemon, config: Config, clock: FakeClock) -> None:
    """A line longer than SMTP's 1000 octets (sloppy MTAs send them) does not break the transaction."""
    verp = verp_address(config, clock)
    message = dsn(verp).replace(b"Please", b"P" * 5000) + b"Z" * 5000 + b"\n"
    client = await connect(daemon)
    _, (reply,) = await client.deliver(message, [verp])
    assert reply.code == 250
    await client.close()


async def test_database_failure_answers_451_per_recipient_then_recovers(
    daemon: Daemon, config: Config, clock: FakeClock
) -> None:
    """While the database cannot be written every recipient gets 451 4.3.0; once it can, the retry gets 250."""
    verps = [verp_address(config, clock, user=u) for u in (1, 2)]
    database = config.database.url.split("///", 1)[1]
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    client = await connect(daemon)
    try:
        _, replies = await client.deliver(dsn(verps[0]), verps)
        assert [str(r)[:9] for r in replies] == ["451 4.3.0", "451 4.3.0"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await bounce_count(daemon) == 0
    _, replies = await client.deliver(dsn(verps[0]), verps)
    assert [r.code for r in replies] == [250, 250]
    assert await bounce_count(daemon) == 2
    await client.close()


async def test_data_without_accepted_recipient_is_refused_once(daemon: Daemon) -> None:
    """DATA with no accepted recipient gets a single 503, as RFC 2033 requires."""
    client = await connect(daemon)
    await client.mail()
    await client.rcpt("nobody@example.net")
    reply = await client.command("DATA")
    assert reply.code == 503
    assert (await client.command("NOOP")).code == 250
    await client.close()


async def test_helo_is_refused_because_lmtp_uses_lhlo(daemon: Daemon) -> None:
    """The listener speaks LMTP: HELO/EHLO are refused, LHLO works."""
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon), lhlo=False)
    assert (await client.command("EHLO client.example.org")).code == 500
    assert (await client.command("LHLO client.example.org")).code == 250
    await client.close()


async def test_plain_smtp_listener_records_bounces_with_one_reply_per_message(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """With server.smtp set, an SMTP client (EHLO, one DATA reply) can deliver; forgeries are refused at RCPT there too."""
    import asyncio
    import smtplib

    config = make_config(tmp_path, server={"smtp": "127.0.0.1:0"})
    daemon = await make_daemon(config)
    smtp_port = daemon.bound()[1].port
    verp = verp_address(config, clock, user=8)

    def send() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="client.example.org") as smtp:
            smtp.ehlo()
            smtp.mail("")
            forged = smtp.rcpt(verp.replace("-enwiki-", "-dewiki-"))
            smtp.rcpt(verp)
            return forged, smtp.data(dsn(verp))

    forged, data = await asyncio.to_thread(send)
    assert (forged[0], forged[1][:5]) == (550, b"5.7.1")
    assert (data[0], data[1][:5]) == (250, b"2.0.0")
    assert [r["user_id"] for r in await daemon.store.list_bounces()] == [8]


# --- limits (tests/test_hostile.py attacks them; these pin down the rules) -----------------


async def greeting(port: int) -> list[str]:
    """Every line a new connection to ``port`` is sent before verpd closes it (or the greeting, if it stays open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [(await reader.readline()).decode().rstrip("\r\n")]
    if lines[0].startswith("421"):
        lines.append((await reader.readline()).decode())  # "" once verpd has closed it
    writer.close()
    return lines


async def test_max_connections_counts_the_lmtp_and_smtp_listeners_together(make_daemon, tmp_path: Path) -> None:
    """With one LMTP and one SMTP connection open and max_connections = 2, a third on either listener gets
    421 4.3.2 and is closed; once one closes, a new connection is greeted."""
    config = make_config(tmp_path, server={"smtp": "127.0.0.1:0", "max_connections": 2})
    daemon = await make_daemon(config)
    lmtp_port_, smtp_port = daemon.bound()[0].port, daemon.bound()[1].port
    held = [await asyncio.open_connection("127.0.0.1", port) for port in (lmtp_port_, smtp_port)]
    for reader, _ in held:
        assert (await reader.readline()).startswith(b"220")
    refused = ["421 4.3.2 Too many connections, try again later", ""]
    assert await greeting(lmtp_port_) == refused and await greeting(smtp_port) == refused
    held[0][1].close()
    await held[0][1].wait_closed()
    while daemon.connections.open == 2:  # verpd notices the close on its next turn of the loop
        await asyncio.sleep(0.01)
    assert (await greeting(smtp_port))[0].startswith("220")
    held[1][1].close()


async def test_error_replies_count_toward_max_errors_until_a_message_is_delivered(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """max_errors counts error replies since the last delivered message (Postfix's "without delivering mail"):
    a delivery starts the count again, and the error that reaches it is followed by 421 4.7.0."""
    config = make_config(tmp_path, server={"max_errors": 3})
    daemon = await make_daemon(config)
    verp = verp_address(config, clock)
    client = await connect(daemon)
    rcpts, data = await client.deliver(dsn(verp), ["nobody@example.net", "nobody@example.org", verp])
    assert [r.code for r in rcpts] == [550, 550, 250] and [r.code for r in data] == [250]
    await client.mail()
    assert [(await client.rcpt("nobody@example.net")).code for _ in range(2)] == [550, 550]
    assert (await client.command("NOOP")).code == 250
    assert (await client.rcpt("nobody@example.net")).code == 550
    assert str(await client.read_reply()).startswith("421 4.7.0")
    with pytest.raises(ConnectionError):
        await client.read_reply()
    client.writer.close()


async def test_a_database_failure_at_data_is_not_the_clients_error(daemon_with_one_error: tuple[Daemon, Config], clock: FakeClock) -> None:
    """451 4.3.0 for our own failure never counts toward max_errors: an MTA is not disconnected for a database outage."""
    daemon, config = daemon_with_one_error
    verp = verp_address(config, clock)
    blocker = sqlite3.connect(config.database.url.split("///", 1)[1], isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    client = await connect(daemon)
    try:
        _, replies = await client.deliver(dsn(verp), [verp])
        assert [str(r)[:9] for r in replies] == ["451 4.3.0"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await client.command("NOOP")).code == 250
    await client.close()


@pytest.fixture
async def daemon_with_one_error(make_daemon, tmp_path: Path) -> tuple[Daemon, Config]:
    config = make_config(tmp_path, server={"max_errors": 1})
    return await make_daemon(config), config


async def test_connection_lifetime_lets_the_transaction_under_way_finish(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """Past connection_lifetime the message in progress is still delivered; the next command outside a
    transaction gets 421 4.4.2 and the connection is closed."""
    config = make_config(tmp_path, server={"connection_lifetime": "1s"})
    daemon = await make_daemon(config)
    verp = verp_address(config, clock)
    client = await connect(daemon)
    assert (await client.mail()).code == 250 and (await client.rcpt(verp)).code == 250
    await asyncio.sleep(1.2)  # the lifetime runs out between RCPT and DATA
    assert [r.code for r in await client.data(dsn(verp), 1)] == [250]
    reply = await client.mail()
    assert str(reply).startswith("421 4.4.2") and "too long" in reply.text
    client.writer.close()
    assert await bounce_count(daemon) == 1


def test_the_readme_reply_table_names_every_reply_verpd_gives() -> None:
    """Each reply in verpd.lmtp (code and enhanced status) has a row in README's "How verpd answers the MTA"."""
    import re

    from tests.conftest import REPO
    from verpd import lmtp

    readme = (REPO / "README.md").read_text()
    table = readme.split("## How verpd answers the MTA", 1)[1].split("\n\n", 2)[1]
    replies = {v for v in vars(lmtp).values() if isinstance(v, str) and re.match(r"\d{3} \d\.", v)}
    replies |= set(lmtp._RCPT_REJECTIONS.values()) | set(lmtp._DATA_OK.values()) | set(lmtp._ENGINE_REPLIES.values())
    codes = {" ".join(reply.split()[:2]) for reply in replies}
    assert len(codes) >= 12 and [c for c in sorted(codes) if f"`{c}" not in table] == []


async def test_an_unknown_command_is_never_echoed_back_unprintable_or_over_512_octets(make_daemon, tmp_path: Path) -> None:
    """aiosmtpd quotes an unknown command in its 500 reply: verpd sends that line as printable ASCII of at most
    512 octets with its CRLF (RFC 5321 §4.2, §4.5.3.1.5), whatever the client sent (a bare CR, NUL, 8-bit, 500 bytes)."""
    daemon = await make_daemon(make_config(tmp_path))
    port = daemon.bound()[0].port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()  # greeting
        writer.write(b"XYZZY a\rb\x00c\xc3\xa9" + b"d" * 500 + b"\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.startswith(b"500 ") and line.endswith(b"\r\n") and len(line) <= 512, line
        assert all(0x20 <= byte <= 0x7E for byte in line[:-2]), line
    finally:
        writer.close()

"""A real Exim delivering bounces to a real ``verpd serve`` over LMTP (and plain SMTP).

Exim runs on the README's "Connecting Exim" snippets, read from README.md itself,
with only the port 8024 made the test daemon's. For the plain SMTP variant the
transport loses its ``protocol = lmtp`` line and gets verpd's SMTP port, as the
README says. Exim runs as a private daemon on 127.0.0.1
(tests/integration/exim_instance.py); the system's Exim configuration is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import smtplib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import VERP_DOMAIN, FakeClock, make_config, unavailable, verp_address
from tests.daemon_process import Process, free_port, write_config_file
from tests.integration import readme
from tests.integration.exim_instance import EximInstance, exim_available
from tests.integration.processes import instance_directory
from tests.messages import dsn

pytestmark = pytest.mark.integration

LMTP_LINE = "  protocol = lmtp\n"


def readme_exim(port: int, *, lmtp: bool = True) -> dict[str, str]:
    """The README's main, ACL, router and transport snippets, delivering to ``port``.

    With ``lmtp=False`` the transport speaks plain SMTP: its ``protocol = lmtp``
    line is dropped, as the README's SMTP variant says.
    """
    transports = readme.with_port(readme.snippet("exim-transport"), port)
    if not lmtp:
        assert LMTP_LINE in transports, "the README's transport no longer has its protocol = lmtp line"
        transports = transports.replace(LMTP_LINE, "")
    return {
        "main": readme.snippet("exim-main"),
        "acl": readme.snippet("exim-acl"),
        "routers": readme.snippet("exim-router"),
        "transports": transports,
    }


class Setup:
    def __init__(self, tmp_path: Path, process: Process, exim: EximInstance) -> None:
        self.tmp_path = tmp_path
        self.process = process
        self.exim = exim
        self.config = make_config(tmp_path)
        self.clock = FakeClock(datetime.now(UTC))

    def verp(self, user: int) -> str:
        return verp_address(self.config, self.clock, user=user)

    async def send(self, rcpt_to: list[str], message: bytes, mail_from: str = "") -> str:
        return await asyncio.to_thread(self.exim.send, mail_from=mail_from, rcpt_to=rcpt_to, message=message)

    async def log(self, pattern: str) -> re.Match[str]:
        return await asyncio.to_thread(self.exim.wait_for_log, pattern, 30.0)

    def bounces(self) -> list[tuple]:
        with sqlite3.connect(self.tmp_path / "verpd.sqlite3") as db:
            return db.execute("SELECT user_id, address, status, severity FROM bounces ORDER BY user_id").fetchall()


MakeSetup = Callable[..., Awaitable[Setup]]


@pytest.fixture
async def make_setup(tmp_path: Path) -> AsyncIterator[MakeSetup]:
    """Start verpd and an Exim relaying to it over LMTP, or over SMTP with ``lmtp=False``."""
    if reason := exim_available():
        unavailable(reason)
    started: list[tuple[Process, EximInstance]] = []

    async def start(*, lmtp: bool = True) -> Setup:
        lmtp_port, smtp_port = free_port(), free_port()
        server = {"lmtp": f"127.0.0.1:{lmtp_port}", "smtp": f"127.0.0.1:{smtp_port}"}
        process = await Process.start(write_config_file(tmp_path, server=server))
        exim = EximInstance.create(
            directories.enter_context(instance_directory("verpd-exim-")),
            smtp_port=free_port(),
            **readme_exim(lmtp_port if lmtp else smtp_port, lmtp=lmtp),
        )
        started.append((process, exim))
        await asyncio.to_thread(exim.start)
        return Setup(tmp_path, process, exim)

    with contextlib.ExitStack() as directories:
        yield start
        panics = ""
        for process, exim in started:
            await asyncio.to_thread(exim.stop)
            panics += exim.paniclog()
            if process.proc.returncode is None:
                process.proc.terminate()
                await process.finish()
        assert panics == "", f"Exim wrote to its panic log:\n{panics}"


def delivered(message_id: str, verp: str, transport: str, reply: str) -> str:
    return (
        rf"{message_id} [=-]> {re.escape(verp)} R=verpd T={transport} "
        rf"H=127\.0\.0\.1 \[127\.0\.0\.1\].* C=\"{re.escape(reply)}\""
    )


async def test_exim_verifies_by_lmtp_callout_then_delivers_a_dsn_and_verpd_records_it(make_setup: MakeSetup) -> None:
    """Exim accepts the RCPT once verpd's LMTP callout says 250, relays the DSN over LMTP, and verpd records it."""
    setup = await make_setup()
    verp = setup.verp(201)
    message_id = await setup.send([verp], dsn(verp))
    await setup.log(delivered(message_id, verp, "verpd_lmtp", "250 2.0.0 Bounce recorded"))
    await setup.log(rf"{message_id} Completed")
    assert setup.bounces() == [(201, "alice@example.com", "5.1.1", "hard")]


async def test_forged_verp_is_refused_at_exim_rcpt_and_nothing_is_queued(make_setup: MakeSetup) -> None:
    """A bad signature gets 550 at Exim's own RCPT, quoting verpd's answer to the callout; nothing is queued, so no backscatter."""
    setup = await make_setup()
    forged = setup.verp(202).replace("-enwiki-", "-dewiki-")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        # A forged sender too: a bounce to it would be backscatter.
        await setup.send([forged], dsn(forged), mail_from="victim@example.net")
    code, reply = refused.value.recipients[forged]
    assert code == 550, reply
    assert b"550 5.7.1" in reply  # verpd's own RCPT reply, passed on by Exim
    await setup.log(rf"F=<victim@example\.net> rejected RCPT <{re.escape(forged)}>: .*550 5\.7\.1")
    # The callout reached verpd's LMTP listener, which answers nothing but LHLO as a greeting.
    assert [e["reason"] for e in setup.process.events if e["event"] == "rcpt.rejected"] == ["bad_signature"]
    assert setup.exim.queue_size() == 0
    assert "victim@example.net" not in setup.exim.mainlog().replace("F=<victim@example.net>", "")
    assert setup.bounces() == []


async def test_while_verpd_is_down_exim_answers_451_at_rcpt(make_setup: MakeSetup) -> None:
    """A callout that cannot reach verpd is a temporary failure: 451 at RCPT, the sender keeps the bounce, Exim queues nothing."""
    setup = await make_setup()
    setup.process.proc.terminate()
    await setup.process.finish()
    verp = setup.verp(208)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await setup.send([verp], dsn(verp))
    code, reply = refused.value.recipients[verp]
    assert code == 451, reply
    assert setup.exim.queue_size() == 0


async def test_one_message_to_two_verp_addresses_is_recorded_for_each(make_setup: MakeSetup) -> None:
    """Exim puts both recipients in one LMTP transaction; each gets its own 250 and its own record."""
    setup = await make_setup()
    first, second = setup.verp(203), setup.verp(204)
    message_id = await setup.send([first, second], dsn(first))
    await setup.log(delivered(message_id, first, "verpd_lmtp", "250 2.0.0 Bounce recorded"))
    await setup.log(delivered(message_id, second, "verpd_lmtp", "250 2.0.0 Bounce recorded"))
    assert [row[0] for row in setup.bounces()] == [203, 204]


async def test_exim_keeps_and_retries_a_bounce_verpd_answered_451(make_setup: MakeSetup) -> None:
    """While verpd cannot write its database Exim is told 451 and keeps the bounce; its next queue run delivers it."""
    setup = await make_setup()
    verp = setup.verp(205)
    blocker = sqlite3.connect(setup.tmp_path / "verpd.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        message_id = await setup.send([verp], dsn(verp))
        await setup.log(rf"{message_id} == {re.escape(verp)} R=verpd T=verpd_lmtp defer .*451 4\.3\.0")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert setup.bounces() == []
    await setup.log(delivered(message_id, verp, "verpd_lmtp", "250 2.0.0 Bounce recorded"))
    assert setup.bounces() == [(205, "alice@example.com", "5.1.1", "hard")]


async def test_exim_over_plain_smtp_delivers_to_verpd_and_refuses_forgeries_at_rcpt(make_setup: MakeSetup) -> None:
    """With the README's SMTP variant the callout and the delivery go to verpd's SMTP listener: forged refused, valid recorded."""
    setup = await make_setup(lmtp=False)
    forged = setup.verp(206).replace("-enwiki-", "-dewiki-")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await setup.send([forged], dsn(forged))
    assert refused.value.recipients[forged][0] == 550
    verp = setup.verp(207)
    message_id = await setup.send([verp], dsn(verp))
    await setup.log(delivered(message_id, verp, "verpd_lmtp", "250 2.0.0 Bounce recorded"))
    assert setup.exim.queue_size() == 0
    assert setup.bounces() == [(207, "alice@example.com", "5.1.1", "hard")]


def test_readme_snippets_relay_the_verp_domain_to_lmtp_on_loopback_with_a_callout() -> None:
    """The README relays the VERP domain over LMTP to 127.0.0.1:8024 and verifies recipients there, uncached."""
    snippets = readme_exim(8024)
    assert snippets["main"].split() == ["domainlist", "relay_to_domains", "=", VERP_DOMAIN]
    transport = dict(line.strip().partition(" = ")[::2] for line in snippets["transports"].splitlines()[1:])
    assert transport == {
        "driver": "smtp", "protocol": "lmtp", "hosts": "127.0.0.1", "port": "8024",
        "hosts_override": "", "allow_localhost": "",
    }
    assert f"domains = {VERP_DOMAIN}" in snippets["routers"] and "transport = verpd_lmtp" in snippets["routers"]
    assert f"domains = {VERP_DOMAIN}" in snippets["acl"] and "!verify = recipient/callout=" in snippets["acl"]
    assert "no_cache" in snippets["acl"] and "defer_ok" not in snippets["acl"]

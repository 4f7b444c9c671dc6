"""A real Postfix delivering bounces to a real ``verpd serve`` over LMTP.

Postfix is set up the way the README's "Connecting Postfix" says, from README.md
itself: its two tables are written where their first line says (with
``/etc/postfix/`` made the instance's own directory and port 8024 made the test
daemon's), and its ``postconf`` commands run against an instance that already has
settings of its own, as a real one would. Postfix runs as a private instance on
127.0.0.1 (tests/integration/postfix_instance.py); the system's is never touched.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import VERP_DOMAIN, FakeClock, make_config, unavailable, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.integration import readme
from tests.integration.postfix_instance import PostfixInstance, postfix_available
from tests.integration.processes import instance_directory
from tests.messages import dsn

pytestmark = pytest.mark.integration

README_DIR = "/etc/postfix/"

# What the instance holds before the README's commands run: they must add to it.
EXISTING_MAIN_CF = {
    "relay_domains": "relay.example.net",
    "transport_maps": "texthash:{config_dir}/transport",
    "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
}
EXISTING_TABLES = {"transport": "relay.example.net  error:5.1.2 relay.example.net is not reachable from a test\n"}

# smtpd asks the verify service for a probe's result every second for up to 10 s,
# not every 3 s up to 6 s: quicker, and a busy machine cannot turn a slow probe into 450.
PROBE_POLLING = {"address_verify_poll_delay": "1s", "address_verify_poll_count": "11"}


def local(text: str) -> str:
    """README text with ``/etc/postfix/`` replaced by the instance's directory."""
    return text.replace(README_DIR, "{config_dir}/")


def readme_postfix(lmtp_port: int) -> tuple[dict[str, str], str]:
    """(tables by file name, main.cf commands) from the README, made local to a test instance."""
    tables = {}
    for marker in ("postfix-transport", "postfix-recipient-access"):
        path, content = readme.table(marker)
        assert path.startswith(README_DIR), f"the {marker} table should live in {README_DIR}"
        tables[path.removeprefix(README_DIR)] = content
    tables["verpd_transport"] = readme.with_port(tables["verpd_transport"], lmtp_port)
    return tables, local(readme.snippet("postfix-main.cf"))


class Setup:
    def __init__(self, tmp_path: Path, process: Process, postfix: PostfixInstance) -> None:
        self.tmp_path = tmp_path
        self.process = process
        self.postfix = postfix
        self.config = make_config(tmp_path)
        self.clock = FakeClock(datetime.now(UTC))

    def verp(self, user: int) -> str:
        return verp_address(self.config, self.clock, user=user)

    async def send(self, rcpt_to: list[str], message: bytes, mail_from: str = "") -> str:
        return await asyncio.to_thread(self.postfix.send, mail_from=mail_from, rcpt_to=rcpt_to, message=message)

    async def log(self, pattern: str) -> re.Match[str]:
        return await asyncio.to_thread(self.postfix.wait_for_log, pattern, 30.0)

    def bounces(self) -> list[tuple]:
        with sqlite3.connect(self.tmp_path / "verpd.sqlite3") as db:
            return db.execute("SELECT user_id, address, status, severity FROM bounces ORDER BY user_id").fetchall()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    if reason := postfix_available():
        unavailable(reason)
    lmtp_port = free_port()
    process = await Process.start(write_config(tmp_path, lmtp_port))
    tables, commands = readme_postfix(lmtp_port)
    with instance_directory("verpd-postfix-") as root:
        postfix = PostfixInstance.create(
            root,
            smtp_port=free_port(),
            main_cf={**EXISTING_MAIN_CF, **PROBE_POLLING},
            tables={**EXISTING_TABLES, **tables},
            commands=commands,
        )
        try:
            await asyncio.to_thread(postfix.start)
            yield Setup(tmp_path, process, postfix)
        finally:
            await asyncio.to_thread(postfix.stop)
            if process.proc.returncode is None:
                process.proc.terminate()
                await process.finish()


def sent(verp: str, reply: str) -> str:
    return rf"to=<{re.escape(verp)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.*status=sent \({re.escape(reply)}"


async def test_readme_commands_add_to_the_settings_postfix_already_has(setup: Setup) -> None:
    """The README's postconf commands put its tables first and keep every existing entry."""
    config_dir = setup.postfix.config_dir

    def value(name: str) -> list[str]:
        return setup.postfix.postconf("-h", name).replace(",", " ").split()

    assert value("relay_domains") == ["relay.example.net", VERP_DOMAIN]
    assert value("transport_maps") == [f"texthash:{config_dir}/verpd_transport", f"texthash:{config_dir}/transport"]
    assert value("smtpd_recipient_restrictions") == [
        "check_recipient_access", f"texthash:{config_dir}/verpd_recipient_access",
        "permit_mynetworks", "reject_unauth_destination",
    ]
    assert value("unverified_recipient_reject_code") == ["550"]


async def test_postfix_verifies_then_delivers_a_dsn_over_lmtp_and_verpd_records_it(setup: Setup) -> None:
    """Postfix probes the VERP address over LMTP at RCPT, then relays the DSN there; verpd records it, Postfix logs 250."""
    verp = setup.verp(101)
    queue_id = await setup.send([verp], dsn(verp))
    await setup.log(rf"to=<{re.escape(verp)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.*status=deliverable \(250 2\.1\.5")
    await setup.log(rf"{queue_id}: " + sent(verp, "250 2.0.0 Bounce recorded"))
    assert setup.bounces() == [(101, "alice@example.com", "5.1.1", "hard")]


async def test_forged_verp_is_refused_at_postfix_rcpt_and_nothing_is_queued(setup: Setup) -> None:
    """A bad signature gets 550 at Postfix's own RCPT, even from a permitted network: nothing is queued, so no backscatter."""
    forged = setup.verp(102).replace("-enwiki-", "-dewiki-")
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        # A forged sender too: a bounce to it would be backscatter.
        await setup.send([forged], dsn(forged), mail_from="victim@example.net")
    code, reply = refused.value.recipients[forged]
    assert code == 550, reply
    assert b"Recipient address rejected: undeliverable address" in reply
    assert b"said: 550 5.7.1" in reply  # verpd's own answer to the probe, quoted
    assert time.monotonic() - started < 10
    await setup.log(rf"NOQUEUE: reject: RCPT from \S+: 550 .*; from=<victim@example\.net> to=<{re.escape(forged)}>")
    probe = await setup.log(rf"(\w+): to=<{re.escape(forged)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.*status=undeliverable \(host .* said: 550 5\.7\.1")
    await setup.log(rf"{probe[1]}: removed")
    assert [e["reason"] for e in setup.process.events if e["event"] == "rcpt.rejected"] == ["bad_signature"]
    assert setup.postfix.queue() == []
    assert "victim@example.net>" not in setup.postfix.maillog().replace("from=<victim@example.net>", "")
    assert setup.bounces() == []


async def test_while_verpd_is_down_postfix_answers_450_at_rcpt(setup: Setup) -> None:
    """A probe that cannot reach verpd leaves the address unverified: 450 at RCPT, the sender keeps the bounce."""
    setup.process.proc.terminate()
    await setup.process.finish()
    verp = setup.verp(106)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await setup.send([verp], dsn(verp))
    code, reply = refused.value.recipients[verp]
    assert code == 450, reply
    assert b"Recipient address rejected: unverified address" in reply


async def test_one_message_to_two_verp_addresses_is_recorded_for_each(setup: Setup) -> None:
    """Postfix puts both recipients in one LMTP transaction; each gets its own 250 and its own record."""
    first, second = setup.verp(103), setup.verp(104)
    queue_id = await setup.send([first, second], dsn(first))
    await setup.log(rf"{queue_id}: " + sent(first, "250 2.0.0 Bounce recorded"))
    await setup.log(rf"{queue_id}: " + sent(second, "250 2.0.0 Bounce recorded"))
    assert [row[0] for row in setup.bounces()] == [103, 104]


async def test_postfix_keeps_and_retries_a_bounce_verpd_answered_451(setup: Setup) -> None:
    """While verpd cannot write its database Postfix is told 451 and defers; after that it retries and the bounce is recorded."""
    verp = setup.verp(105)
    blocker = sqlite3.connect(setup.tmp_path / "verpd.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        queue_id = await setup.send([verp], dsn(verp))
        await setup.log(rf"{queue_id}: to=<{re.escape(verp)}>.*status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.3\.0")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert setup.bounces() == []
    await asyncio.to_thread(setup.postfix.flush)
    await setup.log(rf"{queue_id}: " + sent(verp, "250 2.0.0 Bounce recorded"))
    assert setup.bounces() == [(105, "alice@example.com", "5.1.1", "hard")]


def test_readme_snippets_route_and_verify_the_verp_domain_on_loopback() -> None:
    """The README relays the VERP domain to lmtp:inet on 127.0.0.1 and verifies its recipients with a 550 for bad ones."""
    tables, commands = readme_postfix(8024)
    assert tables["verpd_transport"].split() == [VERP_DOMAIN, "lmtp:inet:127.0.0.1:8024"]
    assert tables["verpd_recipient_access"].split() == [VERP_DOMAIN, "reject_unverified_recipient"]
    assert "unverified_recipient_reject_code = 550" in commands
    assert README_DIR not in commands

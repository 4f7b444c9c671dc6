"""A real Postfix delivering bounces to a real ``verpd serve`` over LMTP.

The Postfix settings are the README's snippet, read from README.md itself, with
only its paths and port changed, so the documentation is what is tested. Postfix
runs as a private instance on 127.0.0.1 (tests/integration/postfix_instance.py).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, VERP_DOMAIN, FakeClock, make_config, unavailable, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.integration.postfix_instance import PostfixInstance, postfix_available
from tests.messages import dsn

pytestmark = pytest.mark.integration


def readme_block(marker: str) -> list[str]:
    """The non-comment lines of the fenced block after ``<!-- marker -->`` in README.md."""
    text = (REPO / "README.md").read_text()
    assert f"<!-- {marker} -->" in text, f"README.md lost its {marker} snippet"
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```", 2)[1]
    return [line.strip() for line in block.splitlines()[1:] if line.strip() and not line.lstrip().startswith("#")]


def readme_postfix_settings(lmtp_port: int) -> tuple[dict[str, str], str]:
    """(main.cf settings, transport table) from the README, with paths and port made local."""
    main_cf = {}
    for line in readme_block("postfix:main.cf"):
        key, _, value = line.partition("=")
        main_cf[key.strip()] = value.strip().replace("/etc/postfix/verpd_transport", "{config_dir}/transport")
    transport = "\n".join(readme_block("postfix:transport")) + "\n"
    assert ":8024" in transport, "README's transport line no longer uses the default port 8024"
    return main_cf, transport.replace(":8024", f":{lmtp_port}")


class Setup:
    def __init__(self, tmp_path: Path, process: Process, postfix: PostfixInstance, lmtp_port: int) -> None:
        self.tmp_path = tmp_path
        self.process = process
        self.postfix = postfix
        self.lmtp_port = lmtp_port
        self.config = make_config(tmp_path)
        self.clock = FakeClock(datetime.now(UTC))

    def verp(self, user: int) -> str:
        return verp_address(self.config, self.clock, user=user)

    async def send(self, rcpt_to: list[str], message: bytes) -> str:
        return await asyncio.to_thread(self.postfix.send, mail_from="", rcpt_to=rcpt_to, message=message)

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
    main_cf, transport = readme_postfix_settings(lmtp_port)
    postfix = PostfixInstance.create(tmp_path / "postfix", smtp_port=free_port(), main_cf=main_cf, transport=transport)
    try:
        await asyncio.to_thread(postfix.start)
        yield Setup(tmp_path, process, postfix, lmtp_port)
    finally:
        await asyncio.to_thread(postfix.stop)
        process.proc.terminate()
        await process.finish()


def sent(verp: str, reply: str) -> str:
    return rf"to=<{re.escape(verp)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+,.*status=sent \({re.escape(reply)}"


async def test_postfix_delivers_a_dsn_over_lmtp_and_verpd_records_it(setup: Setup) -> None:
    """A DSN to a VERP address, relayed by Postfix through the README's transport_maps, is recorded; Postfix logs 250."""
    verp = setup.verp(101)
    queue_id = await setup.send([verp], dsn(verp))
    await setup.log(rf"{queue_id}: " + sent(verp, "250 2.0.0 Bounce recorded"))
    assert setup.bounces() == [(101, "alice@example.com", "5.1.1", "hard")]


async def test_forged_verp_is_refused_at_rcpt_and_not_recorded(setup: Setup) -> None:
    """A VERP address with a bad signature gets 550 5.7.1 at RCPT; Postfix drops the bounce and nothing is recorded."""
    forged = setup.verp(102).replace("-enwiki-", "-dewiki-")
    queue_id = await setup.send([forged], dsn(forged))
    await setup.log(rf"{queue_id}: to=<{re.escape(forged)}>.*status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 .*in reply to RCPT TO command")
    await setup.log(rf"{queue_id}: removed")
    assert setup.bounces() == []


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


def test_readme_snippet_routes_the_verp_domain_to_lmtp_on_loopback() -> None:
    """The README's snippet relays the VERP domain and routes it to lmtp:inet on 127.0.0.1."""
    main_cf, transport = readme_postfix_settings(8024)
    assert VERP_DOMAIN in main_cf["relay_domains"]
    assert main_cf["transport_maps"].startswith("texthash:")
    assert transport.split() == [VERP_DOMAIN, "lmtp:inet:127.0.0.1:8024"]

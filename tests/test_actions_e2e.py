"""Decisions reach the application: over LMTP, through the outbox, to a real HTTP receiver and a wiki's database."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import FakeClock, lmtp_port, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config, write_config_file
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from tests.test_mediawiki import CONFIRMED, Wiki
from tests.webhook_receiver import HANG, Receiver, receiving
from tests.test_cli_commands import verpd
from verpd.actions.webhook import SIGNATURE_HEADER, verify
from verpd.daemon import Daemon
from verpd.store import Store, create_engine
from verpd.verp import Verp

SECRET = "a-webhook-secret-of-some-length"


async def deliver_bounces(port: int, verps: list[str], failed: str = "alice@example.org") -> list[int]:
    client = await LMTPClient.connect("127.0.0.1", port)
    codes = []
    try:
        for verp in verps:
            _, (reply,) = await client.deliver(dsn(verp, failed=failed), [verp])
            codes.append(reply.code)
    finally:
        client.writer.close()
    return codes


async def until(condition, timeout: float = 20.0) -> None:
    """Wait for ``condition()`` (a plain or an async function) to be true."""

    async def met() -> bool:
        value = condition()
        return await value if inspect.isawaitable(value) else value

    deadline = time.monotonic() + timeout
    while not await met():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)



async def test_limit_hard_bounces_over_lmtp_send_one_signed_webhook_unconfirm_the_wiki_user_and_are_explained(
    tmp_path: Path, make_daemon, clock: FakeClock, database_url: str
) -> None:
    wiki = Wiki(tmp_path)
    with receiving() as receiver:
        sections = {
            "database": {"url": database_url},
            "policy": {"limit": 3, "act": True},
            "webhook": {"url": receiver.url, "secret": SECRET, "events": ["subject.suppressed", "subject.reset"]},
            "mediawiki": {"database_url": f"sqlite+aiosqlite:///{wiki.path}"},
        }
        config = make_config(tmp_path, **sections)
        daemon: Daemon = await make_daemon(config)
        verps = [verp_address(config, clock, user=42, sent_ago=60 + i) for i in range(4)]
        assert await deliver_bounces(lmtp_port(daemon), verps) == [250] * 4

        (request,) = await asyncio.to_thread(receiver.wait_for, 1)
        await until(lambda: wiki.user(42)["user_email_authenticated"] is None)
        await asyncio.sleep(0.3)  # nothing else is on its way
        assert len(receiver.requests) == 1
    verify(SECRET.encode(), request.headers[SIGNATURE_HEADER], request.body, int(clock.now.timestamp()))
    body = json.loads(request.body)
    assert (body["event"], body["tenant"], body["user"], body["addresses"], body["rule"]) == (
        "subject.suppressed", "enwiki", 42, ["alice@example.org"], "limit")
    assert len(body["evidence"]) == 3 and request.headers["X-Verpd-Id"] == body["id"]
    assert wiki.user(43)["user_email_authenticated"] == CONFIRMED  # nobody else touched

    shown = await asyncio.to_thread(verpd, "--config", str(write_config_file(tmp_path, **sections)), "subjects", "show", "enwiki", "42")
    out = shown.stdout.decode()
    assert shown.returncode == 0 and "enwiki user 42: suppressed" in out and "rule limit" in out
    assert out.count("counted:") == 3 and all(v.split("@")[0] in out for v in verps[:3])


async def test_outbox_survives_kill_9_between_commit_and_send_then_sends_exactly_once(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    with receiving() as receiver:
        receiver.plan = [HANG]  # the first attempt reaches the receiver and is never answered
        config_path = write_config(tmp_path, port, database={"url": database_url}, policy={"limit": 1, "act": True},
                                   outbox={"lease": "3s"}, webhook={"url": receiver.url, "secret": SECRET, "timeout": "2s"})
        process = await Process.start(config_path)
        try:
            verp = verp_address(make_config(tmp_path), FakeClock(start=datetime.now(UTC)), user=7)
            assert await deliver_bounces(port, [verp]) == [250]
            await asyncio.to_thread(receiver.wait_for, 1)  # committed, and the send is in flight
        finally:
            process.proc.kill()  # SIGKILL: no chance to record anything about the send
            await process.finish()
        # claimed, never marked
        assert [(r["done_at"], r["attempts"]) for r in await outbox_rows(database_url)] == [(None, 0)]

        process = await Process.start(config_path)  # the row is found and sent once the dead daemon's claim (outbox.lease) ends
        await process.wait_for_event("outbox.sent")
        process.proc.terminate()
        assert await process.finish() == 0
        process = await Process.start(config_path)  # and never again
        await asyncio.sleep(1.0)
        process.proc.terminate()
        assert await process.finish() == 0
        requests = list(receiver.requests)
    assert [r.answered for r in requests] == [None, 200]
    assert requests[0].headers["X-Verpd-Id"] == requests[1].headers["X-Verpd-Id"]  # the receiver can drop the repeat
    ((done_at, attempts),) = [(r["done_at"], r["attempts"]) for r in await outbox_rows(database_url)]
    assert done_at is not None and attempts == 1


async def test_a_receiver_down_then_up_gets_the_webhook_once(tmp_path: Path, make_daemon, clock: FakeClock, database_url: str) -> None:
    port = free_port()  # nothing listens here yet
    config = make_config(tmp_path, database={"url": database_url}, policy={"limit": 1, "act": True}, outbox={"retry_min": "1s", "retry_max": "1s"},
                         webhook={"url": f"http://127.0.0.1:{port}/hooks/verpd", "secret": SECRET})
    daemon: Daemon = await make_daemon(config)
    verp = verp_address(config, clock, user=7)
    assert await deliver_bounces(lmtp_port(daemon), [verp]) == [250]
    await until(lambda: _outbox_row(daemon.store, lambda r: r["attempts"] >= 1))  # the first attempt was refused
    assert not await _done(daemon.store)
    with receiving(port) as receiver:
        clock.advance(seconds=2)
        daemon.outbox.wake()
        await asyncio.to_thread(receiver.wait_for, 1)
        await until(lambda: _done(daemon.store))
        await asyncio.sleep(0.3)
        assert [r.answered for r in receiver.requests] == [200]


async def test_dead_letter_after_max_attempts_then_outbox_retry_delivers(
    tmp_path: Path, make_daemon, clock: FakeClock, database_url: str
) -> None:
    with receiving() as receiver:
        receiver.plan = [500, 503]
        config = make_config(tmp_path, database={"url": database_url}, policy={"limit": 1, "act": True}, outbox={"retry_min": "1s", "retry_max": "1s", "max_attempts": 2},
                             webhook={"url": receiver.url, "secret": SECRET})
        daemon: Daemon = await make_daemon(config)
        assert await deliver_bounces(lmtp_port(daemon), [verp_address(config, clock, user=7)]) == [250]
        await asyncio.to_thread(receiver.wait_for, 1)
        await until(lambda: _outbox_row(daemon.store, lambda r: r["attempts"] == 1))
        clock.advance(seconds=2)
        daemon.outbox.wake()
        await asyncio.to_thread(receiver.wait_for, 2)
        await until(lambda: _dead(daemon.store))
        clock.advance(seconds=60)
        daemon.outbox.wake()
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 2  # dead: no more attempts

        assert await daemon.store.retry_outbox(clock.now) == 1
        daemon.outbox.wake()
        await asyncio.to_thread(receiver.wait_for, 3)
        await until(lambda: _done(daemon.store))
    assert [r.answered for r in receiver.requests] == [500, 503, 200]


async def outbox_rows(url: str) -> list[dict]:
    """The outbox as a fresh connection sees it (what survived the daemon)."""
    engine = create_engine(url)
    try:
        return await Store(engine).list_outbox()
    finally:
        await engine.dispose()


async def _row(store: Store) -> dict:
    rows = await store.list_outbox()
    return rows[0] if rows else {"attempts": 0, "done_at": None, "dead_at": None}


async def _outbox_row(store: Store, test) -> bool:
    return test(await _row(store))


async def _done(store: Store) -> bool:
    return await _outbox_row(store, lambda r: r["done_at"] is not None)


async def _dead(store: Store) -> bool:
    return await _outbox_row(store, lambda r: r["dead_at"] is not None)

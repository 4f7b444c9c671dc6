"""Retention: records older than policy.max_age are deleted in bounded batches."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from tests.conftest import FakeClock, make_config
from verpd.model import BounceRecord, Severity
from verpd.prune import prune
from verpd.store import Store, Transaction, create_engine, init_schema


def record(n: int, received_at) -> BounceRecord:
    return BounceRecord(
        tenant="enwiki", user=n, verp_local=f"wiki-enwiki-{n}-x-y", sent_at=received_at, received_at=received_at,
        address=f"user{n}@example.com", action="failed", status="5.1.1", reply_code=550, reason="userunknown",
        severity=Severity.HARD, diagnostic=None, remote_mta=None, reporting_mta=None, detector="dsn", message_id=None,
    )


async def test_prune_deletes_only_records_older_than_max_age_in_batches(tmp_path: Path, clock: FakeClock, database_url: str) -> None:
    """Seven old bounces go (in DELETEs of at most 3 rows), two recent ones stay."""
    config = make_config(tmp_path, database={"url": database_url}, policy={"max_age": "60d", "prune_batch": 3})
    engine = create_engine(config.database.url)
    await init_schema(engine)
    store = Store(engine)
    old = clock.now - timedelta(days=61)
    recent = clock.now - timedelta(days=59)
    def work(tx: Transaction) -> None:
        for n in range(7):
            tx.add_bounce(record(n, old))
        for n in (100, 101):
            tx.add_bounce(record(n, recent))

    await store.run(work)

    assert await store.prune_bounces(clock.now - timedelta(days=60), 3) == 3  # one batch is bounded
    assert await prune(store, config.policy, clock.now) == 4
    assert sorted(r["user_id"] for r in await store.list_bounces()) == [100, 101]
    await engine.dispose()


async def test_max_age_zero_keeps_everything(tmp_path: Path, clock: FakeClock, database_url: str) -> None:
    """policy.max_age = 0 disables pruning."""
    config = make_config(tmp_path, database={"url": database_url}, policy={"max_age": 0})
    engine = create_engine(config.database.url)
    await init_schema(engine)
    store = Store(engine)
    await store.run(lambda tx: tx.add_bounce(record(1, clock.now - timedelta(days=3650))))
    assert await prune(store, replace(config.policy), clock.now) == 0
    assert len(await store.list_bounces()) == 1
    await engine.dispose()


async def test_daemon_prunes_on_start_without_an_lmtp_delivery(make_daemon, tmp_path: Path, clock: FakeClock, database_url: str) -> None:
    """The pruning task runs on its own schedule (first sweep at start), off the LMTP path."""
    config = make_config(tmp_path, database={"url": database_url}, policy={"max_age": "1d"})
    engine = create_engine(config.database.url)
    await init_schema(engine)
    store = Store(engine)
    await store.run(lambda tx: tx.add_bounce(record(1, clock.now - timedelta(days=2))))
    await store.close()
    await engine.dispose()
    daemon = await make_daemon(config)
    for _ in range(100):
        if not await daemon.store.list_bounces():
            break
        await asyncio.sleep(0.02)
    assert await daemon.store.list_bounces() == []

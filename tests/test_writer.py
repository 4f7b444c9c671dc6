"""The write path: group commit on SQLite (verpd.writer), its failure rules, its busy bound, its shutdown.

Units of work that arrive while a commit is in progress share the next transaction;
a unit's own exception fails it alone; a database failure fails its whole batch;
a unit not started within ``server.write_wait`` is withdrawn (LMTP ``451 4.3.2``);
cancellation, ``Store.close()`` and a dropped store leave no caller waiting and no
thread behind. The rules that hold on every backend run on each (``database_url``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.conftest import REPO, FakeClock, lmtp_port, make_config, verp_address
from tests.lmtp_client import LMTPClient, Reply
from tests.messages import dsn
from verpd import metrics
from verpd import prune as prune_module
from verpd.daemon import Daemon
from verpd.errors import StoreError, WriteBusy
from verpd.model import BounceRecord, Severity
from verpd.store import Added, Store, Transaction, create_engine, init_schema, subjects

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BATCHES = "verpd_db_write_batch_units_count"  # transactions the group-commit writer started
UNITS = "verpd_db_write_batch_units_sum"  # units taken into them
COMMITS = "verpd_db_commit_seconds_count"  # write transactions committed
BUSY = "verpd_db_write_busy_total"  # units withdrawn after server.write_wait


def value(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


class Delta:
    """How far some of our metrics moved since it was made."""

    def __init__(self) -> None:
        self.before = {name: value(name) for name in (BATCHES, UNITS, COMMITS, BUSY)}

    def __getitem__(self, name: str) -> float:
        return value(name) - self.before[name]


def record(user: int) -> BounceRecord:
    return BounceRecord(
        tenant="enwiki", user=user, verp_local=f"wiki-enwiki-{user}-x-y", sent_at=NOW, received_at=NOW,
        address=f"user{user}@example.com", action="failed", status="5.1.1", reply_code=550, reason="userunknown",
        severity=Severity.HARD, diagnostic=None, remote_mta=None, reporting_mta=None, detector="dsn", message_id=None,
    )


def bounce(user: int) -> Callable[[Transaction], int]:
    """A unit that stores one bounce of ``user`` and answers ``user`` (its own result)."""

    def work(tx: Transaction) -> int:
        assert tx.add_bounce(record(user)) is Added.NEW
        return user

    return work


async def stored_users(store: Store) -> list[int]:
    return sorted(row["user_id"] for row in await store.list_bounces())


class Gate:
    """A unit that holds its batch's transaction open, in the writer thread, until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, tx: Transaction) -> str:
        self.entered.set()
        if not self.release.wait(30):
            raise RuntimeError("the test never released the gate")
        return "gate"

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "the gate unit never started"


@contextlib.asynccontextmanager
async def held(store: Store) -> AsyncIterator[tuple[Gate, asyncio.Task[Any]]]:
    """A batch in progress (a gate unit holding it open); released on leaving, whatever happened."""
    gate = Gate()
    task = asyncio.create_task(store.run(gate))
    try:
        await gate.wait_entered()
        yield gate, task
    finally:
        gate.release.set()


async def queued(*works: Callable[[Transaction], Any], store: Store, wait: float | None = None) -> list[asyncio.Task[Any]]:
    """Start one caller per unit and return once each unit is queued (``Store.run`` enqueues before its first wait)."""
    tasks = [asyncio.create_task(store.run(work, wait=wait)) for work in works]
    await asyncio.sleep(0)  # each new task runs up to its first await, its unit queued, before this one resumes
    return tasks


def writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("verpd-writer")}


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


@contextlib.contextmanager
def sqlite_lock(url: str) -> Iterator[None]:
    """Another program holds the SQLite database's write lock (readers still read: WAL)."""
    other = sqlite3.connect(sqlite_path(url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@contextlib.asynccontextmanager
async def write_lock(url: str) -> AsyncIterator[None]:
    """Another client blocks every write of a bounce: SQLite's write lock, or PostgreSQL's EXCLUSIVE lock on ``bounces``."""
    if url.startswith("sqlite"):
        with sqlite_lock(url):
            yield
        return
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("LOCK TABLE bounces IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                await conn.rollback()
    finally:
        await engine.dispose()


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (no event exists for it) until true; fail saying ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3"


@contextlib.asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store]:
    """A store whose SQLite lock waits end after 1 s (busy_timeout)."""
    engine = create_engine(url, busy_timeout=1)
    await init_schema(engine)
    store = Store(engine)
    try:
        yield store
    finally:
        await store.close()
        await engine.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store on each backend (overrides conftest's: SQLite lock waits end after 1 s)."""
    async with open_store(database_url) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    """A store on SQLite only: the group-commit writer's own rules."""
    async with open_store(sqlite_url) as opened:
        yield opened


# --- group commit ------------------------------------------------------------------------


async def test_units_that_arrive_during_a_commit_share_the_next_transaction(sqlite_store: Store) -> None:
    """While one batch is in progress, three more units queue; they are then committed together in one transaction."""
    delta = Delta()
    async with held(sqlite_store) as (_, first):
        callers = await queued(bounce(1), bounce(2), bounce(3), store=sqlite_store)
    assert await first == "gate"
    assert await asyncio.gather(*callers) == [1, 2, 3]  # each caller gets its own unit's result
    assert (delta[BATCHES], delta[UNITS], delta[COMMITS]) == (2, 4, 2)  # [gate], then [1, 2, 3]: two BEGIN..COMMIT
    assert await stored_users(sqlite_store) == [1, 2, 3]


async def test_a_lone_unit_is_committed_at_once_without_waiting_for_company(sqlite_store: Store) -> None:
    """Nothing waits for a batch to fill: one unit alone is one transaction of one unit."""
    delta = Delta()
    assert await sqlite_store.run(bounce(1)) == 1
    assert (delta[BATCHES], delta[UNITS], delta[COMMITS]) == (1, 1, 1)


async def test_each_caller_gets_its_result_only_after_the_commit(sqlite_store: Store, sqlite_url: str) -> None:
    """No caller of a batch resumes before its COMMIT: when a caller gets its result, another connection already reads its row."""
    commits: list[float] = []

    def slow_commit(conn: sa.Connection) -> None:  # just before the writer's COMMIT is sent
        if threading.current_thread().name.startswith("verpd-writer"):
            commits.append(time.monotonic())
            time.sleep(0.3)  # a result handed out before the COMMIT would be seen in this window

    async def caller(user: int) -> tuple[int, float, bool]:
        result = await sqlite_store.run(bounce(user))
        with contextlib.closing(sqlite3.connect(sqlite_path(sqlite_url))) as other:
            visible = other.execute("SELECT count(*) FROM bounces WHERE user_id = ?", (user,)).fetchone()[0] == 1
        return result, time.monotonic(), visible

    delta = Delta()
    event.listen(sa.Engine, "commit", slow_commit)
    try:
        answers = await asyncio.gather(*(caller(user) for user in (1, 2, 3)))
    finally:
        event.remove(sa.Engine, "commit", slow_commit)
    assert delta[BATCHES] == 1 and len(commits) == 1  # the three shared one transaction
    assert [result for result, _, _ in answers] == [1, 2, 3]
    assert all(visible for _, _, visible in answers), answers
    assert all(resumed >= commits[0] + 0.3 for _, resumed, _ in answers)


# --- failures --------------------------------------------------------------------------


def buggy(user: int) -> Callable[[Transaction], int]:
    """A unit that writes, then hits a bug."""

    def work(tx: Transaction) -> int:
        tx.add_bounce(record(user))
        raise RuntimeError("bug in a unit of work")

    return work


async def test_a_unit_that_raises_fails_alone_and_the_rest_of_its_batch_commits(store: Store, database_url: str) -> None:
    """A unit's own exception reaches its caller as it is; the other units' callers get their results; the unit's own writes are not stored."""
    delta = Delta()
    results = await asyncio.gather(store.run(bounce(1)), store.run(buggy(2)), store.run(bounce(3)), return_exceptions=True)
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "bug in a unit of work"
    assert await stored_users(store) == [1, 3]
    if database_url.startswith("sqlite"):  # one batch of three, committed once (the good units ran again without the bad one)
        assert (delta[BATCHES], delta[UNITS], delta[COMMITS]) == (1, 3, 1)


def duplicate_subject(tx: Transaction) -> None:
    """A unit that breaks a constraint: the same subject (primary key) inserted twice."""
    row = {"tenant": "enwiki", "user_id": 9, "state": "active", "first_bounce_at": NOW, "last_bounce_at": NOW}
    tx.conn.execute(subjects.insert().values(row))
    tx.conn.execute(subjects.insert().values(row))


async def test_a_unit_that_breaks_a_constraint_fails_alone_with_a_store_error(store: Store) -> None:
    """A database error raised by one unit (here a unique-key violation) is a StoreError for that unit alone, on every backend."""
    results = await asyncio.gather(store.run(bounce(1)), store.run(duplicate_subject), store.run(bounce(3)), return_exceptions=True)
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], StoreError) and not isinstance(results[1], WriteBusy), repr(results[1])
    assert await stored_users(store) == [1, 3]
    assert await store.list_subjects() == []


def impatient(user: int) -> Callable[[Transaction], int]:
    """``bounce(user)``, with PostgreSQL's lock wait cut to 0.3 s (SQLite's is the store's busy_timeout, 1 s)."""

    def work(tx: Transaction) -> int:
        if tx.conn.dialect.name == "postgresql":
            tx.conn.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
        return bounce(user)(tx)

    return work


async def test_a_database_failure_fails_every_unit_of_the_batch_and_the_next_units_succeed(store: Store, database_url: str) -> None:
    """Locked by another client past the lock wait, every unit fails with StoreError and stores nothing; once the lock is gone, new units commit on the same store."""
    delta = Delta()
    async with write_lock(database_url):
        results = await asyncio.gather(*(store.run(impatient(user)) for user in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(r, StoreError) and not isinstance(r, WriteBusy) for r in results), results
    assert await stored_users(store) == []
    if database_url.startswith("sqlite"):
        assert "locked" in str(results[0])
        assert (delta[BATCHES], delta[UNITS], delta[COMMITS]) == (1, 3, 0)  # one batch, failed as a whole
    assert await asyncio.gather(*(store.run(bounce(user)) for user in (4, 5, 6))) == [4, 5, 6]
    assert await stored_users(store) == [4, 5, 6]


def fill_the_disk(tx: Transaction) -> None:
    """A unit during which the database file cannot grow (SQLITE_FULL, as on a full disk)."""
    pages = tx.conn.exec_driver_sql("PRAGMA page_count").scalar()
    tx.conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")  # this connection's limit, until set again
    tx.store_raw(b"x" * 200_000, NOW)


def free_the_disk(tx: Transaction) -> None:
    tx.conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")


async def test_a_full_disk_in_the_middle_of_a_batch_fails_the_units_before_it_too(sqlite_store: Store) -> None:
    """A database failure while the batch runs rolls back the units that already ran: all four callers get StoreError, nothing is stored."""
    delta = Delta()
    async with held(sqlite_store):
        callers = await queued(bounce(1), bounce(2), fill_the_disk, bounce(4), store=sqlite_store)
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, StoreError) and "full" in str(r) for r in results), results
    assert await stored_users(sqlite_store) == []
    assert (delta[BATCHES], delta[UNITS], delta[COMMITS]) == (2, 5, 1)  # only the gate's batch committed
    await sqlite_store.run(free_the_disk)
    assert await sqlite_store.run(bounce(5)) == 5


# --- the busy bound (server.write_wait) ----------------------------------------------------


async def test_a_unit_not_started_within_its_wait_is_withdrawn_and_never_runs(sqlite_store: Store) -> None:
    """A unit still queued when its wait ends gets WriteBusy at once, and is not run when the write path frees up."""
    delta = Delta()
    async with held(sqlite_store) as (_, first):
        (late,) = await queued(bounce(1), store=sqlite_store, wait=0.2)
        with pytest.raises(WriteBusy, match="write_wait"):
            await asyncio.wait_for(late, 10)
    assert await first == "gate"
    assert await sqlite_store.run(bounce(2)) == 2
    assert await stored_users(sqlite_store) == [2]
    assert delta[BUSY] == 1


async def test_a_unit_already_in_a_batch_is_not_withdrawn_when_its_wait_ends(sqlite_store: Store) -> None:
    """Once its batch started, a unit's answer is its commit's, however long that takes: no WriteBusy for a write that may be committed."""
    delta = Delta()
    gate = Gate()
    task = asyncio.create_task(sqlite_store.run(gate, wait=0.1))
    await gate.wait_entered()
    await asyncio.sleep(0.3)  # its wait is over while the batch still runs
    gate.release.set()
    assert await asyncio.wait_for(task, 10) == "gate"
    assert delta[BUSY] == 0


# --- cancellation ----------------------------------------------------------------------------


async def test_a_caller_cancelled_while_its_unit_is_in_a_batch_leaves_the_writer_working(sqlite_store: Store) -> None:
    """Cancelling one caller abandons its wait, not the write: its batch commits, the others get their results, later units still run."""
    gate = Gate()
    first, impatient, patient = await queued(gate, bounce(1), bounce(2), store=sqlite_store)  # one batch, held open by its first unit
    try:
        await gate.wait_entered()
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(impatient), 10)  # at once, while its batch still runs
        assert not patient.done()
    finally:
        gate.release.set()
    assert await first == "gate" and await patient == 2
    assert await sqlite_store.run(bounce(3)) == 3
    assert await stored_users(sqlite_store) == [1, 2, 3]  # 1 was committed: its caller only stopped waiting


async def test_a_caller_cancelled_just_as_its_result_arrives_is_cancelled(sqlite_store: Store) -> None:
    """A cancellation that meets the result is not swallowed (3.11's wait_for would return the result and the caller would run on, e.g. an outbox worker that never stops)."""
    async with held(sqlite_store):
        (task,) = await queued(bounce(1), store=sqlite_store)
        unit = sqlite_store._writer._queue[-1]  # type: ignore[union-attr]  # the one hook between "result set" and "caller resumed"
        unit.future.add_done_callback(lambda _: task.cancel())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 10)
    assert task.cancelled()
    assert await stored_users(sqlite_store) == [1]  # the write itself was committed


async def test_a_postgresql_server_that_does_not_answer_within_statement_timeout_is_a_store_error(
    request: pytest.FixtureRequest, database_url: str
) -> None:
    """A statement the client gives up on (asyncpg's command_timeout = database.statement_timeout) fails its unit with StoreError, like any database failure."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no client-side statement timeout")

    def waits_past_the_client(tx: Transaction) -> int:  # only the client's timeout (1 s) can end this wait
        tx.conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        tx.conn.exec_driver_sql("SET LOCAL statement_timeout = '10s'")
        return bounce(1)(tx)

    engine = create_engine(database_url, statement_timeout=1)
    await init_schema(engine)
    try:
        async with write_lock(database_url):
            with pytest.raises(StoreError):
                await Store(engine).run(waits_past_the_client)
    finally:
        await engine.dispose()


# --- LMTP: "451 4.3.2" at once instead of a queue behind busy_timeout ----------------------------


async def connect(daemon: Daemon) -> LMTPClient:
    return await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))


async def send(client: LMTPClient, verp: str) -> None:
    """One transaction up to the end of the message, without reading the DATA reply."""
    assert (await client.mail()).code == 250
    assert (await client.rcpt(verp)).code == 250
    assert (await client.command("DATA")).code == 354
    await client.send_message_body(dsn(verp))


async def timed_reply(client: LMTPClient, verp: str) -> tuple[Reply, float]:
    await send(client, verp)
    started = time.monotonic()
    reply = await client.read_reply(timeout=60)
    return reply, time.monotonic() - started


async def test_messages_queued_behind_a_held_write_lock_get_451_4_3_2_after_write_wait_not_busy_timeout(
    make_daemon: Callable[..., Any], tmp_path: Path, clock: FakeClock, idle: Idle
) -> None:
    """With another program holding the write lock, the message already in a batch waits; the ones queued behind it get
    "451 4.3.2" after server.write_wait (1 s), not busy_timeout (30 s); once the lock is gone, the first gets 250 and the retries 250, each stored once."""
    config = make_config(tmp_path, server={"write_wait": "1s"}, database={"busy_timeout": "30s"})
    daemon = await make_daemon(config)
    verps = [verp_address(config, clock, user=user) for user in (1, 2, 3, 4)]
    first, *others = [await connect(daemon) for _ in verps]
    await idle.wait()
    delta = Delta()
    with sqlite_lock(config.database.url):
        await send(first, verps[0])
        first_reply = asyncio.create_task(first.read_reply(timeout=60))
        await until(lambda: delta[BATCHES] == 1, "the first message's unit is in a batch, waiting for the lock")
        answers = await asyncio.gather(*(timed_reply(client, verp) for client, verp in zip(others, verps[1:])))
        for reply, elapsed in answers:
            assert str(reply) == "451 4.3.2 Busy recording other messages, please try again later"
            assert 0.95 <= elapsed < 10, elapsed  # write_wait, give or take a loaded machine; far from busy_timeout's 30 s
        assert not first_reply.done(), first_reply.result()  # its commit decides its answer: it is still waiting for the lock
        assert delta[BUSY] == 3
    assert (await asyncio.wait_for(first_reply, 20)).code == 250
    for client, verp in zip(others, verps[1:]):
        assert (await timed_reply(client, verp))[0].code == 250
        await client.close()
    await first.close()
    rows = await daemon.store.list_bounces()
    assert sorted((row["user_id"], row["seen_count"]) for row in rows) == [(1, 1), (2, 1), (3, 1), (4, 1)]  # a withdrawn message wrote nothing


# --- shutdown -------------------------------------------------------------------------------------


class Idle:
    """Events a started daemon's background tasks set once their start-up writes are done."""

    def __init__(self) -> None:
        self.outbox = asyncio.Event()  # the outbox worker looked for due items and waits (to be woken, or for IDLE_POLL)
        self.pruner = asyncio.Event()  # the pruner's first sweep is over: it sleeps for policy.prune_interval

    async def wait(self) -> None:
        await asyncio.wait_for(asyncio.gather(self.outbox.wait(), self.pruner.wait()), 10)


@pytest.fixture
def idle(monkeypatch: pytest.MonkeyPatch) -> Idle:
    """Lets a test wait until a daemon's background tasks are idle, so the next write it sees is its own."""
    found = Idle()
    next_outbox_due, sweep = Store.next_outbox_due, prune_module.prune

    async def looked(self: Store) -> datetime | None:
        try:
            return await next_outbox_due(self)
        finally:
            found.outbox.set()

    async def swept(*args: Any, **kwargs: Any) -> int:
        try:
            return await sweep(*args, **kwargs)
        finally:
            found.pruner.set()

    monkeypatch.setattr(Store, "next_outbox_due", looked)
    monkeypatch.setattr(prune_module, "prune", swept)
    return found


async def test_daemon_stop_ends_the_outbox_and_pruner_at_once_while_a_write_waits_for_the_lock(
    make_daemon: Callable[..., Any], tmp_path: Path, idle: Idle
) -> None:
    """Daemon.stop ends the background tasks while their write waits for a lock another program holds; it finishes once that write does, and no writer thread is left."""
    config = make_config(tmp_path, database={"busy_timeout": "30s"})
    threads_before = writer_threads()
    daemon = await make_daemon(config)
    await idle.wait()
    delta = Delta()
    with sqlite_lock(config.database.url):
        daemon.outbox.wake()
        await until(lambda: delta[BATCHES] == 1, "the outbox's claim is in a batch, waiting for the lock")
        stopping = asyncio.create_task(daemon.stop())
        done, pending = await asyncio.wait(daemon.tasks, timeout=5)
        assert not pending, pending
        assert not stopping.done()  # Store.close() lets the write in flight finish
    await asyncio.wait_for(stopping, 20)
    for thread in writer_threads() - threads_before:
        thread.join(5)
        assert not thread.is_alive()


async def test_daemon_stops_when_the_outbox_is_woken_as_it_is_cancelled(
    make_daemon: Callable[..., Any], config: Any, idle: Idle
) -> None:
    """A wake (a commit that queued an action) in the same moment as the stop's cancellation does not keep the outbox worker running (3.11's wait_for swallowed that cancellation: stop hung)."""
    daemon = await make_daemon(config)
    await idle.wait()
    daemon.outbox.wake()
    await asyncio.wait_for(daemon.stop(), 10)
    assert all(task.done() for task in daemon.tasks)


async def test_store_close_finishes_the_queued_units_then_ends_the_writer_thread(sqlite_url: str) -> None:
    """Store.close() lets the batch in progress and the queued units commit, refuses new ones, then stops the writer thread."""
    threads_before = writer_threads()
    engine = create_engine(sqlite_url)
    await init_schema(engine)
    store = Store(engine)
    try:
        async with held(store) as (_, first):
            callers = await queued(bounce(1), bounce(2), store=store)
            closing = asyncio.create_task(store.close())
            await asyncio.sleep(0)  # close() has begun: it waits for the writer
            with pytest.raises(StoreError, match="closed"):
                await store.run(bounce(3))
            (thread,) = writer_threads() - threads_before
        await asyncio.wait_for(closing, 10)
        assert all(caller.done() for caller in callers)  # answered before close() returned
        assert await first == "gate" and await asyncio.gather(*callers) == [1, 2]
        thread.join(5)
        assert not thread.is_alive()
        assert await stored_users(store) == [1, 2]
    finally:
        await engine.dispose()


async def test_a_store_dropped_without_close_frees_its_writer_thread(sqlite_url: str) -> None:
    """A Store nobody closed frees its writer thread (and the thread's connection) once it is garbage."""
    threads_before = writer_threads()
    engine = create_engine(sqlite_url)
    await init_schema(engine)
    store = Store(engine)
    assert await store.run(bounce(1)) == 1
    (thread,) = writer_threads() - threads_before
    del store
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
    await engine.dispose()


def test_a_store_left_open_at_interpreter_exit_exits_quietly(tmp_path: Path) -> None:
    """A process that ends with an unclosed Store still alive exits 0 with nothing on stderr (no traceback from the writer's finalizer)."""
    script = f"""
import asyncio
from verpd.store import Store, create_engine, init_schema

KEPT = []

async def main():
    engine = create_engine("sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3")
    await init_schema(engine)
    store = Store(engine)
    await store.run(lambda tx: tx.conn.exec_driver_sql("SELECT 1"))
    KEPT.append(store)  # alive until the interpreter exits

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


async def test_sqlite_reads_do_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """While another program holds SQLite's write lock, reads (the CLI's listings, /healthz, the watchdog's SELECT 1)
    answer at once: they begin deferred, never BEGIN IMMEDIATE."""
    url = f"sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3"
    engine = create_engine(url, busy_timeout=5)
    await init_schema(engine)
    store = Store(engine)
    try:
        async with write_lock(url):
            started = time.monotonic()
            assert await store.list_bounces() == []
            await store.ping()
            assert time.monotonic() - started < 2.5  # a locked BEGIN IMMEDIATE would wait busy_timeout (5 s)
    finally:
        await store.close()
        await engine.dispose()

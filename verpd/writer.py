"""Group commit: the write transactions of one process, batched into few durable commits.

SQLite lets one writer at a time commit, and each commit of WAL + ``synchronous=FULL``
costs an fsync; run through aiosqlite, every statement is also a round trip to its
thread. So the writes of a SQLite store go through one :class:`GroupWriter`: a unit of
work is a plain function of a synchronous SQLAlchemy ``Connection``; the units that
arrive while a commit is in progress are run, one after another, in the next single
transaction, in one thread of its own, with one hand-off each way per batch (not per
statement). Nothing waits for a batch to fill: a unit alone is committed at once.

Every unit still commits or fails on its own terms:

- a unit's own exception (a bug, a constraint it broke) rolls the batch back, fails that
  unit alone and runs the others again in a fresh transaction; a database error of its own
  (``IntegrityError``...) reaches its caller as :class:`~verpd.errors.StoreError`, as on PostgreSQL;
- a failure of the database itself (locked past ``busy_timeout``, disk full, I/O error:
  SQLAlchemy's ``OperationalError``) or of the COMMIT fails the whole batch: nothing of it
  was written, each caller answers 451 and the MTA retries;
- a unit that waited longer than its ``wait`` bound without being started is withdrawn
  (:class:`~verpd.errors.WriteBusy`, a quick 451) instead of queueing behind a lock.

A caller's result is set only after the COMMIT returned: a 250 built on it is durable.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from verpd import metrics
from verpd.errors import StoreError, WriteBusy

T = TypeVar("T")
Work = Callable[[sa.Connection], T]

MAX_BATCH = 64  # units per transaction: bounds how long one batch holds the write lock


@dataclass(eq=False)
class _Unit(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T]
    taken: bool = False  # in a batch: only its commit can answer now
    withdrawn: bool = False  # its caller gave up waiting before it was taken
    queued_at: float = field(default_factory=time.monotonic)


class _UnitFailed(Exception):
    def __init__(self, index: int, error: BaseException) -> None:
        self.index = index
        self.error = error


def describe(error: SQLAlchemyError) -> str:
    """The first line of the database's own message (no SQL, no parameters)."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def _own_error(error: BaseException) -> BaseException:
    """What the caller of a unit that failed alone gets: a database error as StoreError (every store error is one), anything else as it is."""
    if not isinstance(error, SQLAlchemyError):
        return error
    wrapped = StoreError(describe(error))
    wrapped.__cause__ = error
    return wrapped


class GroupWriter:
    """Runs units of work on ``engine`` in batched transactions, in one thread."""

    def __init__(self, engine: sa.Engine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: collections.deque[_Unit[Any]] = collections.deque()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verpd-writer")
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False  # no new units
        self._released = False  # the thread and the connection are gone

    async def run(self, work: Work[T], wait: float) -> T:
        """``work(connection)`` inside a committed transaction; its result once durable.

        Raises :class:`WriteBusy` if the unit was not started within ``wait`` seconds,
        :class:`StoreError` if the database failed it, or the unit's own exception.
        """
        if self._closed:
            raise StoreError("the store is closed")
        unit: _Unit[T] = _Unit(work, asyncio.get_running_loop().create_future())
        self._queue.append(unit)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="verpd-writer")
        try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that meets a result
            async with asyncio.timeout(wait):
                return await asyncio.shield(unit.future)
        except TimeoutError:
            if unit.taken:  # too late to withdraw: the commit in progress decides
                return await unit.future
            unit.withdrawn = True
            metrics.WRITE_BUSY.inc()
            raise WriteBusy(f"the database write path stayed busy for {wait:g}s (server.write_wait)") from None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch: list[_Unit[Any]] = []
            while self._queue and len(batch) < self.max_batch:
                unit = self._queue.popleft()
                if not unit.withdrawn:
                    unit.taken = True
                    batch.append(unit)
            if not batch:
                continue
            metrics.WRITE_BATCH.observe(len(batch))
            try:
                results = await loop.run_in_executor(self._thread, self._commit, [u.work for u in batch])
            except BaseException as e:  # the thread is gone or this task was cancelled: no caller may wait forever
                error = StoreError(f"the write path failed: {type(e).__name__}: {e}")
                for unit in [*batch, *self._queue]:
                    if not unit.future.done():
                        unit.future.set_exception(error)
                self._queue.clear()
                raise
            for unit, (ok, value) in zip(batch, results):
                if unit.future.done():
                    continue
                if ok:
                    unit.future.set_result(value)
                else:
                    unit.future.set_exception(value)

    def _commit(self, works: list[Work[Any]]) -> list[tuple[bool, Any]]:
        """In the writer thread: run ``works`` in one transaction; (ok, result or exception) for each."""
        results: list[tuple[bool, Any]] = [(False, None)] * len(works)
        pending = list(range(len(works)))
        while pending:
            started = time.perf_counter()
            try:
                with self.engine.begin() as conn:
                    for index in pending:
                        try:
                            results[index] = (True, works[index](conn))
                        except OperationalError:
                            raise  # the database, not the unit: the whole batch fails
                        except Exception as e:  # this unit's own failure: the others run again without it
                            raise _UnitFailed(index, e) from e
            except _UnitFailed as failed:
                results[failed.index] = (False, _own_error(failed.error))
                pending.remove(failed.index)
                continue
            except SQLAlchemyError as e:
                error = StoreError(describe(e))
                error.__cause__ = e
                for index in pending:
                    results[index] = (False, error)
                return results
            metrics.DB_COMMIT_SECONDS.observe(time.perf_counter() - started)
            return results
        return results

    def abandon(self) -> None:
        """Free the thread and the connection without waiting (the owner is gone; nothing can be queued)."""
        if self._released:
            return
        self._closed = self._released = True
        try:
            self._thread.submit(self.engine.dispose)
        except RuntimeError:  # called at interpreter exit: the thread is already stopped, and the process closes the file
            pass
        self._thread.shutdown(wait=False)

    async def close(self) -> None:
        """Finish the queued units, then stop the thread and close the connections."""
        self._closed = True
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._released:
            return
        self._released = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=True)

"""The worker that carries out durable side effects queued in the ``outbox`` table.

Items are written in the same transaction as the decision or bounce that caused
them, so a crash between commit and send loses nothing: the worker finds them on
the next start. An item is marked done as soon as its send succeeds; a crash in
between the two sends it again (at least once: every payload carries an idempotency
key, ``X-Verpd-Id`` for webhooks, so a receiver drops the repeat). A failed attempt
is retried with exponential backoff between ``outbox.retry_min`` and
``outbox.retry_max``; after ``outbox.max_attempts`` the item is dead-lettered
(``outbox.dead``) until ``verpd outbox retry`` revives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import structlog

from verpd import metrics
from verpd.errors import StoreError
from verpd.events import ActionKind
from verpd.store import OutboxItem, Store

log = structlog.get_logger("verpd.outbox")

Sender = Callable[[OutboxItem], Awaitable[None]]
BATCH = 20
IDLE_POLL = 60.0  # seconds between checks when nothing is due and nobody wakes us


class OutboxWorker:
    """Drains due outbox items through the sender registered for their kind."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[ActionKind, Sender],
        *,
        retry_min: int,
        retry_max: int,
        clock: Callable[[], datetime],
        max_attempts: int = 12,
        lease: int = 120,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.lease = lease
        self.clock = clock
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()  # one attempt per item at a time

    def wake(self) -> None:
        """Look for due items now (called after a commit that queued one)."""
        self._wake.set()

    def backoff(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        return min(self.retry_max, self.retry_min * 2 ** min(attempts - 1, 30))

    async def drain(self) -> int:
        """Attempt every item due now; returns how many were attempted."""
        async with self._draining:
            items = await self.store.claim_outbox(self.clock(), BATCH, self.lease)
            for item in items:
                await self._attempt(item)
            return len(items)

    async def _attempt(self, item: OutboxItem) -> None:
        sender = self.senders.get(item.kind)
        try:
            if sender is None:
                raise LookupError(f"no action configured for outbox items of kind {item.kind.value!r} (was it removed from the configuration?)")
            await sender(item)
        except Exception as e:
            attempts = item.attempts + 1
            delay = self.backoff(attempts)
            error = f"{type(e).__name__}: {e}"
            now = self.clock()
            if attempts >= self.max_attempts:
                await self.store.outbox_failed(item.id, error, now, dead_at=now)
                metrics.OUTBOX_ATTEMPTS.labels(item.kind.value, "dead").inc()
                log.error("outbox.dead", id=item.id, kind=item.kind.value, attempts=attempts, error=error,
                          fix=f"fix the cause, then: verpd outbox retry {item.id}")
            else:
                await self.store.outbox_failed(item.id, error, now + timedelta(seconds=delay))
                metrics.OUTBOX_ATTEMPTS.labels(item.kind.value, "retry").inc()
                log.warning("outbox.retry", id=item.id, kind=item.kind.value, attempts=attempts, retry_in_s=delay, error=error)
        else:
            await self.store.outbox_done(item.id, self.clock())
            metrics.OUTBOX_ATTEMPTS.labels(item.kind.value, "sent").inc()
            log.info("outbox.sent", id=item.id, kind=item.kind.value, attempts=item.attempts + 1)

    async def run(self) -> None:
        """Drain forever: when woken, when an item falls due, or every IDLE_POLL seconds."""
        while True:
            self._wake.clear()
            try:
                if await self.drain() == BATCH:
                    continue
                due = await self.store.next_outbox_due()
            except StoreError as e:
                log.error("outbox.store_error", error=str(e))
                due = None
            timeout = IDLE_POLL if due is None else max(0.0, (due - self.clock()).total_seconds())
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancellation that meets a wake, and stop() would hang
                async with asyncio.timeout(min(timeout, IDLE_POLL)):
                    await self._wake.wait()
            except TimeoutError:
                pass

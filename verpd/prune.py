"""Retention: delete records older than ``policy.max_age`` and raw messages older than
``policy.raw_retention``, off the LMTP path. Decisions are kept: they explain a
subject's state (``verpd subjects show``), and each needs ``limit`` signed mails.

Deletes run in bounded batches (``policy.prune_batch`` rows per transaction),
yielding to the event loop between batches so deliveries are never held up for
long; a task repeats the sweep every ``policy.prune_interval``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from verpd.config import PolicyConfig
from verpd.errors import StoreError
from verpd.store import Store

log = structlog.get_logger("verpd.prune")


async def prune(store: Store, config: PolicyConfig, now: datetime, progress: Callable[[int], None] | None = None) -> int:
    """Delete every bounce, complaint and finished outbox item older than ``max_age``, and every raw
    message older than ``raw_retention``; returns the count."""
    sweeps = []
    if config.max_age > 0:
        cutoff = now - timedelta(seconds=config.max_age)
        sweeps += [(store.prune_bounces, cutoff), (store.prune_complaints, cutoff), (store.prune_outbox, cutoff)]
    sweeps.append((store.prune_raw, now - timedelta(seconds=config.raw_retention)))
    total = 0
    for sweep, cutoff in sweeps:
        while True:
            deleted = await sweep(cutoff, config.prune_batch)
            total += deleted
            if progress is not None and deleted:
                progress(deleted)
            if deleted < config.prune_batch:
                break
            await asyncio.sleep(0)
    return total


async def run_pruner(store: Store, config: PolicyConfig, clock: Callable[[], datetime]) -> None:
    """Prune now and then every ``prune_interval`` seconds, forever."""
    while True:
        try:
            deleted = await prune(store, config, clock())
            if deleted:
                log.info("prune.done", deleted=deleted, max_age_s=config.max_age)
        except StoreError as e:
            log.error("prune.failed", error=str(e))
        await asyncio.sleep(config.prune_interval)

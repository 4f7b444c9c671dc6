"""The outbox shared by several daemons: a due item is claimed by one, and freed when its holder dies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from verpd.events import ActionKind, Event, EventType
from verpd.store import Store, Transaction, outbox_key

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def queue(store: Store, n: int) -> None:
    def work(tx: Transaction) -> None:
        for i in range(n):
            event = Event(f"ev{i}", EventType.SUBJECT_SUPPRESSED, "enwiki", i, NOW, ("user@example.org",))
            tx.enqueue(ActionKind.WEBHOOK, outbox_key(ActionKind.WEBHOOK, event.id), event, b"", NOW, tenant="enwiki")

    await store.run(work)


async def test_concurrent_claims_never_hand_out_one_item_twice(store: Store) -> None:
    await queue(store, 30)
    claims = await asyncio.gather(*(store.claim_outbox(NOW, 7, lease=60) for _ in range(6)))
    ids = [item.id for claim in claims for item in claim]
    assert len(ids) == len(set(ids)) == 30


async def test_a_claim_is_held_for_the_lease_then_freed(store: Store) -> None:
    await queue(store, 1)
    (item,) = await store.claim_outbox(NOW, 10, lease=60)
    assert await store.claim_outbox(NOW + timedelta(seconds=59), 10, lease=60) == []  # its holder is (maybe) still working
    (again,) = await store.claim_outbox(NOW + timedelta(seconds=61), 10, lease=60)  # the holder died: another takes over
    assert again.id == item.id and again.attempts == 0


async def test_dead_and_done_items_are_never_claimed(store: Store) -> None:
    await queue(store, 3)
    first, second, _ = await store.claim_outbox(NOW, 10, lease=1)
    await store.outbox_done(first.id, NOW)
    await store.outbox_failed(second.id, "ActionError: refused", NOW, dead_at=NOW)
    later = await store.claim_outbox(NOW + timedelta(seconds=5), 10, lease=1)
    assert [i.id for i in later] == [3]

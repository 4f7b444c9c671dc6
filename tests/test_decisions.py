"""Decisions end to end through the pipeline and the store: counted once, explained, undone, queued once per action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.conftest import FakeClock, make_config
from tests.messages import complaint, dsn
from verpd.config import Config
from verpd.errors import VerpError, VerpErrorKind
from verpd.events import ActionKind, Event, EventType, decode_payload
from verpd.model import VerpAddress
from verpd.pipeline import Outcome, Pipeline
from verpd.store import Store
from verpd.verp import VerpSet

WEBHOOK = {"url": "http://127.0.0.1:9/hook", "secret": "a-webhook-secret-of-some-length"}
BLOCKED = "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


def pipeline_with(tmp_path: Path, store: Store, **sections) -> Pipeline:
    sections.setdefault("policy", {"limit": 3, "act": True})
    return Pipeline(make_config(tmp_path, **sections), store)


def recipient(config: Config, user: int, sent: datetime, tenant: str = "enwiki") -> tuple[str, VerpAddress]:
    verps = VerpSet(config.verp, {t: c.verp for t, c in config.tenants.items()})
    address = verps.encode(tenant, user, int(sent.timestamp()))
    return address, verps.verify(address, int(sent.timestamp()) + 1)


async def bounce(pipeline: Pipeline, user: int, clock: FakeClock, *, failed: str = "alice@example.com", tenant: str = "enwiki", **dsn_args) -> Outcome:
    """One bounce of a fresh message (a new VERP address) for ``user``."""
    clock.advance(seconds=1)
    address, rcpt = recipient(pipeline.config, user, clock.now - timedelta(seconds=30), tenant)
    (outcome,) = await pipeline.deliver(dsn(address, failed=failed, **dsn_args), [rcpt], clock.now)
    return outcome


async def queued(store: Store) -> list[tuple[ActionKind, Event]]:
    found = []
    for row in await store.list_outbox():
        kind = ActionKind(row["kind"])
        payload = decode_payload(kind, row["payload"])
        assert isinstance(payload, Event)
        found.append((kind, payload))
    return found


async def test_one_verp_replayed_twenty_times_counts_once_and_leaves_one_row(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 2, "act": True})
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    outcomes = [(await pipeline.deliver(dsn(address), [rcpt], clock.now + timedelta(minutes=i)))[0] for i in range(20)]
    assert outcomes == [Outcome.RECORDED] + [Outcome.DUPLICATE] * 19
    (row,) = await store.list_bounces()
    assert row["seen_count"] == 20
    (subject,) = await store.list_subjects()
    assert subject["state"] == "active"  # one sent message is one bounce, however often it comes back


async def test_a_delay_notice_then_the_failure_of_one_message_is_one_hard_bounce(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    delayed = dsn(address, status="4.4.1", action="delayed", diagnostic="connect to mail.example.com[192.0.2.25]:25: Connection timed out")
    await pipeline.deliver(delayed, [rcpt], clock.now)
    with capture_logs() as logs:
        assert await pipeline.deliver(dsn(address), [rcpt], clock.now + timedelta(hours=1)) == [Outcome.RECORDED]
    (row,) = await store.list_bounces()
    assert (row["severity"], row["reason"], row["seen_count"]) == ("hard", "userunknown", 2)
    assert [e["harder"] for e in logs if e["event"] == "bounce.recorded"] == [True]


async def test_reaching_the_limit_suppresses_once_queues_one_webhook_and_explains_itself(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, webhook=WEBHOOK)
    for _ in range(5):
        await bounce(pipeline, 5, clock)
    (subject,) = await store.list_subjects()
    assert subject["state"] == "suppressed"
    ((kind, event),) = await queued(store)
    assert (kind, event.type, event.tenant, event.user, event.rule) == (ActionKind.WEBHOOK, EventType.SUBJECT_SUPPRESSED, "enwiki", 5, "limit")
    assert event.addresses == ("alice@example.com",) and len(event.bounces) == 3
    assert {b.evidence for b in event.bounces} == {"status 5.1.1"}
    explained = await store.explain("enwiki", 5)
    assert explained is not None
    (decision,) = explained["decisions"]
    assert (decision["action"], decision["rule"]) == ("suppress", "limit")
    assert [b["verp"] for b in decision["counted"]] == [b.verp for b in event.bounces]
    assert decision["why"].startswith("3 hard bounces of different messages")


async def test_act_off_queues_one_would_suppress_and_changes_no_state(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 3, "act": False}, webhook=WEBHOOK)
    for _ in range(6):
        await bounce(pipeline, 5, clock)
    (subject,) = await store.list_subjects()
    assert subject["state"] == "active" and subject["flagged_at"] is not None
    assert [e.type for _, e in await queued(store)] == [EventType.SUBJECT_WOULD_SUPPRESS]


async def test_bounce_hard_is_queued_for_every_counted_hard_bounce_only_when_subscribed(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 10}, webhook={**WEBHOOK, "events": ["bounce.hard"]})
    await bounce(pipeline, 5, clock)
    await bounce(pipeline, 5, clock, status="5.2.2", diagnostic="552 5.2.2 Mailbox full")
    ((kind, event),) = await queued(store)
    assert event.type is EventType.BOUNCE_HARD and event.addresses == ("alice@example.com",) and event.reason == "userunknown"


async def test_an_abuse_complaint_acts_at_once(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, webhook=WEBHOOK, mediawiki={"database_url": f"sqlite:///{tmp_path}/wiki.db"})
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    assert await pipeline.deliver(complaint(address), [rcpt], clock.now) == [Outcome.COMPLAINT]
    assert (await store.list_subjects())[0]["state"] == "suppressed"
    got = [(k, e.type) for k, e in await queued(store)]
    assert got == [(ActionKind.WEBHOOK, EventType.COMPLAINT_RECEIVED), (ActionKind.WEBHOOK, EventType.SUBJECT_SUPPRESSED),
                   (ActionKind.MEDIAWIKI, EventType.SUBJECT_SUPPRESSED)]
    assert all(e.addresses == ("carol@example.net",) for _, e in await queued(store))


async def test_a_complaint_without_a_dkim_pass_does_not_act_when_dkim_is_required(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    async def failing(raw: bytes) -> str:
        return "fail"

    config = make_config(tmp_path, policy={"limit": 3, "act": True}, dkim={"require_for_complaints": True})
    pipeline = Pipeline(config, store, dkim=failing)
    address, rcpt = recipient(config, 5, clock.now)
    await pipeline.deliver(complaint(address), [rcpt], clock.now)
    (row,) = await store.list_complaints()
    assert row["dkim"] == "fail"
    assert (await store.list_subjects())[0]["state"] == "active"


async def test_a_suppressed_subject_does_not_fire_again_and_reset_starts_over(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, webhook=WEBHOOK)
    for _ in range(6):
        await bounce(pipeline, 5, clock)
    assert [e.type for _, e in await queued(store)] == [EventType.SUBJECT_SUPPRESSED]

    clock.advance(seconds=10)
    decision = await pipeline.reset("enwiki", 5, clock.now, by="test")
    assert decision is not None and decision.action.value == "reset"
    (subject,) = await store.list_subjects()
    assert subject["state"] == "active" and subject["reset_at"] == clock.now
    for _ in range(2):
        await bounce(pipeline, 5, clock)
    assert (await store.list_subjects())[0]["state"] == "active"  # the six earlier bounces no longer count
    await bounce(pipeline, 5, clock)
    types = [e.type for _, e in await queued(store)]
    assert types == [EventType.SUBJECT_SUPPRESSED, EventType.SUBJECT_RESET, EventType.SUBJECT_SUPPRESSED]
    ids = [e.id for _, e in await queued(store)]
    assert len(set(ids)) == 3  # a new episode is a new event


async def test_reset_of_an_unknown_subject_changes_nothing(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store, webhook=WEBHOOK)
    assert await pipeline.reset("enwiki", 404, clock.now) is None
    assert await store.list_subjects() == [] and await store.list_outbox() == []


async def test_a_burst_of_blocks_from_one_domain_emits_one_sender_trouble_and_counts_against_nobody(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 1, "act": True, "soft_weight": 1.0}, webhook=WEBHOOK,
                             trouble={"min_count": 5, "share": 0.5, "window": "1h"})
    with capture_logs() as logs:
        for user in range(30):
            await bounce(pipeline, user, clock, failed=f"user{user}@example.net", status="5.7.1", diagnostic=BLOCKED)
    assert {s["state"] for s in await store.list_subjects()} == {"active"}
    ((kind, event),) = await queued(store)
    assert event.type is EventType.SENDER_TROUBLE and event.user is None and event.trouble is not None
    assert (event.trouble.domain, event.trouble.reason, event.trouble.count) == ("example.net", "blocked", 5)
    (line,) = [e for e in logs if e["event"] == "sender.trouble"]
    assert line["summary"] == "example.net: 5 blocked in 1 h (of 5 failures)"

    clock.advance(seconds=2 * 3600)  # the episode ended: a new burst is a new episode
    for user in range(5):
        await bounce(pipeline, user, clock, failed=f"user{user}@example.net", status="5.7.1", diagnostic=BLOCKED)
    assert [e.type for _, e in await queued(store)] == [EventType.SENDER_TROUBLE] * 2


async def test_raw_messages_are_kept_for_review_and_a_bounce_shows_them(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pipeline = pipeline_with(tmp_path, store)
    await bounce(pipeline, 5, clock)
    (row,) = await store.list_bounces()
    shown = await store.bounce(row["id"])
    assert shown is not None and shown["raw"].startswith(b"Return-Path: <>")
    assert await store.prune_raw(clock.now + timedelta(seconds=1), 100) == 1
    shown = await store.bounce(row["id"])
    assert shown is not None and shown["raw"] is None and shown["reason"] == "userunknown"


async def test_a_tenant_runs_with_its_own_policy_and_its_own_secret(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    tenants = {"dewiki": {"policy": {"limit": 1}, "verp": {"secrets": ["a-secret-only-dewiki-knows"]}}}
    pipeline = pipeline_with(tmp_path, store, tenants=tenants)
    await bounce(pipeline, 5, clock, tenant="dewiki")
    await bounce(pipeline, 5, clock, tenant="enwiki")
    states = {(s["tenant"], s["state"]) for s in await store.list_subjects()}
    assert states == {("dewiki", "suppressed"), ("enwiki", "active")}
    # the global secret cannot sign for dewiki, nor dewiki's for another tenant
    global_only = VerpSet(pipeline.config.verp)
    forged = global_only.encode("dewiki", 5, int(clock.now.timestamp()))
    with pytest.raises(VerpError) as raised:
        pipeline.check_recipient(forged, clock.now)
    assert raised.value.kind is VerpErrorKind.BAD_SIGNATURE
    dewiki_only = VerpSet(pipeline.config.tenant("dewiki").verp)
    with pytest.raises(VerpError):
        pipeline.check_recipient(dewiki_only.encode("enwiki", 5, int(clock.now.timestamp())), clock.now)


async def test_each_bounce_records_its_dkim_result_as_a_signal_not_a_gate(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    async def failing(raw: bytes) -> str:
        return "fail"

    config = make_config(tmp_path, policy={"limit": 1, "act": True})
    pipeline = Pipeline(config, store, dkim=failing)
    await bounce(pipeline, 5, clock)
    (row,) = await store.list_bounces()
    assert row["dkim"] == "fail"
    assert (await store.list_subjects())[0]["state"] == "suppressed"  # a failed signature does not stop a bounce from counting


async def test_one_sent_message_stores_at_most_max_failed_per_message_addresses(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """Someone who holds one VERP address cannot grow the bounces table without bound by naming new addresses."""
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 100, "max_failed_per_message": 3})
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    with capture_logs() as logs:
        for i in range(10):
            await pipeline.deliver(dsn(address, failed=f"user{i}@example.net"), [rcpt], clock.now)
        await pipeline.deliver(dsn(address, failed="user0@example.net"), [rcpt], clock.now)  # a stored address still updates
    rows = await store.list_bounces()
    assert sorted(r["address"] for r in rows) == ["user0@example.net", "user1@example.net", "user2@example.net"]
    assert [r["seen_count"] for r in rows if r["address"] == "user0@example.net"] == [2]
    assert sum(e["dropped"] for e in logs if e["event"] == "bounce.excess") == 7


async def test_one_sent_message_takes_complaints_from_at_most_max_failed_per_message_addresses(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 3, "act": False, "max_failed_per_message": 2}, webhook=WEBHOOK)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    with capture_logs() as logs:
        for i in range(6):
            await pipeline.deliver(complaint(address, complainant=f"user{i}@example.net"), [rcpt], clock.now)
    assert len(await store.list_complaints()) == 2
    assert [e.type for _, e in await queued(store)].count(EventType.COMPLAINT_RECEIVED) == 2
    assert len([e for e in logs if e["event"] == "complaint.excess"]) == 4


async def test_stats_by_day_put_each_record_on_its_utc_day(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """`stats --by day` counts bounces, suppressions and complaints on their UTC day, whatever the database server's time zone."""
    pipeline = pipeline_with(tmp_path, store, policy={"limit": 2, "act": True})
    clock.now = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # already the 22nd in most of Asia and Oceania
    await bounce(pipeline, 5, clock)
    await bounce(pipeline, 5, clock)  # the limit: one suppression
    address, rcpt = recipient(pipeline.config, 6, clock.now - timedelta(minutes=1))
    await pipeline.deliver(complaint(address), [rcpt], clock.now)  # an abuse complaint: a suppression too
    clock.now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    await bounce(pipeline, 7, clock)
    assert await store.stats(datetime(2026, 11, 20, tzinfo=UTC), "day") == [
        {"day": "2026-11-21", "bounces": 2, "hard": 2, "suppressed": 2, "complaints": 1},
        {"day": "2026-11-22", "bounces": 1, "hard": 1, "suppressed": 0, "complaints": 0},
    ]

"""The pipeline: records, dedup, the threshold policy and what is not understood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from tests.conftest import TEST_SECRET, FakeClock, make_config
from tests.messages import complaint, dsn, not_a_bounce
from verpd.config import Config
from verpd.model import VerpAddress
from verpd.pipeline import Outcome, Pipeline
from verpd.store import Store, create_engine, init_schema
from verpd.verp import Verp


def recipient(config: Config, user: int, sent: datetime) -> tuple[str, VerpAddress]:
    verp = Verp(config.verp)
    address = verp.encode("enwiki", user, int(sent.timestamp()))
    return address, verp.verify(address, int(sent.timestamp()) + 1)


async def bounce(pipeline: Pipeline, user: int, clock: FakeClock, status: str = "5.1.1", **dsn_args) -> Outcome:
    """Deliver one bounce of a fresh message (new VERP address) for ``user`` at the clock's time."""
    clock.advance(seconds=1)
    address, rcpt = recipient(pipeline.config, user, clock.now - timedelta(seconds=30))
    (outcome,) = await pipeline.deliver(dsn(address, status=status, **dsn_args), [rcpt], clock.now)
    return outcome


def events(logs: list[dict], name: str) -> list[dict]:
    return [e for e in logs if e["event"] == name]


async def test_limit_reached_with_act_on_suppresses_the_subject_once(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """With act=true the 3rd hard bounce (limit 3) suppresses the subject; a 4th does not fire again."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 3, "act": True}), store)
    with capture_logs() as logs:
        for _ in range(2):
            await bounce(pipeline, 5, clock)
        assert (await store.list_subjects())[0]["state"] == "active"
        await bounce(pipeline, 5, clock)
        await bounce(pipeline, 5, clock)
    (subject,) = await store.list_subjects()
    assert subject["state"] == "suppressed"
    assert "3 hard bounces" in subject["state_reason"]
    (fired,) = events(logs, "subject.suppressed")
    assert (fired["tenant"], fired["user"], fired["hard_bounces"]) == ("enwiki", 5, 3)


async def test_limit_reached_with_act_off_only_logs_would_suppress_once(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """With act=false the subject stays active and subject.would_suppress is logged once."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 3, "act": False}), store)
    with capture_logs() as logs:
        for _ in range(5):
            await bounce(pipeline, 5, clock)
    (subject,) = await store.list_subjects()
    assert subject["state"] == "active" and subject["flagged_at"] is not None
    assert len(events(logs, "subject.would_suppress")) == 1
    assert not events(logs, "subject.suppressed")


async def test_soft_bounces_never_count_toward_the_limit(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """4.x.x failures are recorded as soft and never suppress the subject."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 2, "act": True}), store)
    for _ in range(4):
        await bounce(pipeline, 5, clock, status="4.2.2", action="delayed", diagnostic="452 4.2.2 Mailbox full")
    assert {r["severity"] for r in await store.list_bounces()} == {"soft"}
    assert (await store.list_subjects())[0]["state"] == "active"


async def test_hard_bounces_older_than_the_period_do_not_count(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """Only hard bounces received within policy.period count toward the limit."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 2, "period": "7d", "act": True}), store)
    await bounce(pipeline, 5, clock)
    clock.advance(days=8)
    await bounce(pipeline, 5, clock)
    assert (await store.list_subjects())[0]["state"] == "active"
    await bounce(pipeline, 5, clock)
    assert (await store.list_subjects())[0]["state"] == "suppressed"


async def test_duplicate_bounces_do_not_count_twice(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """The same bounce delivered twice counts once toward the limit."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 2, "act": True}), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    first = await pipeline.deliver(dsn(address), [rcpt], clock.now)
    second = await pipeline.deliver(dsn(address), [rcpt], clock.now + timedelta(minutes=5))
    assert (first, second) == ([Outcome.RECORDED], [Outcome.DUPLICATE])
    assert (await store.list_subjects())[0]["state"] == "active"


async def test_subjects_are_independent_per_tenant_and_user(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """Bounces of one user never count toward another user's limit."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 2, "act": True}), store)
    await bounce(pipeline, 1, clock)
    await bounce(pipeline, 2, clock)
    assert {s["state"] for s in await store.list_subjects()} == {"active"}


async def test_message_without_failure_is_queued_for_forwarding_when_configured(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    """A valid VERP message with no failure in it is queued (once) for forward.to, and no bounce is recorded."""
    pipeline = Pipeline(make_config(tmp_path, forward={"to": ["postmaster@example.org"]}), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    assert await pipeline.deliver(not_a_bounce(address), [rcpt], clock.now) == [Outcome.FORWARDED]
    assert await pipeline.deliver(not_a_bounce(address), [rcpt], clock.now) == [Outcome.FORWARDED]
    (item,) = await store.list_outbox()
    assert item["kind"] == "forward" and item["message"] == not_a_bounce(address)
    assert await store.list_bounces() == []


async def test_message_without_failure_is_only_logged_when_forward_to_is_empty(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    """With forward.to = [] (MediaWiki's default) an unrecognized message is logged, not queued."""
    pipeline = Pipeline(make_config(tmp_path), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    with capture_logs() as logs:
        assert await pipeline.deliver(not_a_bounce(address), [rcpt], clock.now) == [Outcome.UNRECOGNIZED]
    assert events(logs, "bounce.unrecognized")[0]["forwarded"] is False
    assert await store.list_outbox() == []


async def test_parser_bug_degrades_to_unrecognized(tmp_path: Path, store: Store, clock: FakeClock, monkeypatch) -> None:
    """If the parser raises, the message is treated as not understood (forwarded), never lost or rejected."""
    import verpd.pipeline

    def broken(raw: bytes):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(verpd.pipeline, "parse", broken)
    pipeline = Pipeline(make_config(tmp_path, forward={"to": ["postmaster@example.org"]}), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    with capture_logs() as logs:
        assert await pipeline.deliver(dsn(address), [rcpt], clock.now) == [Outcome.FORWARDED]
    assert events(logs, "parse.failed")


async def test_logs_never_contain_the_raw_message_or_a_secret(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """No log event carries message bodies or the VERP secret."""
    pipeline = Pipeline(make_config(tmp_path, forward={"to": ["postmaster@example.org"]}), store)
    with capture_logs() as logs:
        await bounce(pipeline, 5, clock, diagnostic="550 5.1.1 unknown")
        address, rcpt = recipient(pipeline.config, 6, clock.now)
        await pipeline.deliver(not_a_bounce(address), [rcpt], clock.now)
    text = repr(logs)
    assert logs
    assert "Please stop sending me these" not in text and "This is the mail system" not in text
    assert TEST_SECRET not in text


def test_records_carry_aware_utc_times(tmp_path: Path) -> None:
    """Decoded send times are aware UTC datetimes (never naive)."""
    config = make_config(tmp_path)
    _, rcpt = recipient(config, 1, datetime(2026, 1, 1, tzinfo=UTC))
    assert rcpt.sent_at.tzinfo is UTC


async def test_complaint_is_recorded_as_a_complaint_not_a_bounce(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """An ARF report is stored once in complaints (with its feedback type), never as a bounce."""
    from tests.messages import complaint

    pipeline = Pipeline(make_config(tmp_path), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    with capture_logs() as logs:
        assert await pipeline.deliver(complaint(address), [rcpt], clock.now) == [Outcome.COMPLAINT]
        assert await pipeline.deliver(complaint(address), [rcpt], clock.now) == [Outcome.COMPLAINT]
    (row,) = await store.list_complaints()
    assert (row["tenant"], row["user_id"], row["address"], row["feedback_type"]) == ("enwiki", 5, "carol@example.net", "abuse")
    assert await store.list_bounces() == []
    assert len(events(logs, "complaint.recorded")) == 1


async def test_auto_reply_is_never_a_bounce_and_is_forwarded_only_if_configured(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """An out-of-office reply records nothing; with forward.autoreplies it is queued for the admins."""
    from tests.messages import auto_reply

    quiet = Pipeline(make_config(tmp_path, forward={"to": ["postmaster@example.org"]}), store)
    address, rcpt = recipient(quiet.config, 5, clock.now)
    assert await quiet.deliver(auto_reply(address), [rcpt], clock.now) == [Outcome.AUTOREPLY]
    assert await store.list_outbox() == [] and await store.list_bounces() == []

    forwarding = Pipeline(make_config(tmp_path, forward={"to": ["postmaster@example.org"], "autoreplies": True}), store)
    assert await forwarding.deliver(auto_reply(address), [rcpt], clock.now) == [Outcome.FORWARDED]
    assert len(await store.list_outbox()) == 1 and await store.list_bounces() == []


async def test_full_mailbox_with_a_5xx_code_is_soft_and_never_counts(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """A 552 5.2.2 mailbox-full is recorded as soft (Sisimai 5): the address is alive, the limit is not approached."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 2, "act": True}), store)
    for _ in range(3):
        await bounce(pipeline, 5, clock, status="5.2.2", diagnostic="552 5.2.2 Mailbox full")
    assert {(r["reason"], r["severity"]) for r in await store.list_bounces()} == {("mailboxfull", "soft")}
    assert (await store.list_subjects())[0]["state"] == "active"


async def test_delivered_only_report_records_nothing(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """A DSN reporting only successful delivery is not a failure: nothing recorded, treated as not understood."""
    pipeline = Pipeline(make_config(tmp_path), store)
    address, rcpt = recipient(pipeline.config, 5, clock.now)
    raw = dsn(address, status="2.0.0", action="delivered", diagnostic="250 2.0.0 OK")
    assert await pipeline.deliver(raw, [rcpt], clock.now) == [Outcome.UNRECOGNIZED]
    assert await store.list_bounces() == []


async def test_each_bounce_is_stored_with_the_evidence_of_its_verdict(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """The stored bounce says which detector read it and which rule decided its reason, with the rule's provenance."""
    pipeline = Pipeline(make_config(tmp_path), store)
    await bounce(pipeline, 7, clock, status="5.0.0", diagnostic="550 5.0.0 <alice@example.com>: Recipient address rejected: User unknown in local recipient table")
    (row,) = await store.list_bounces()
    assert (row["reason"], row["severity"], row["detector"]) == ("userunknown", "hard", "dsn")
    evidence = row["evidence"]
    assert evidence["rule"] == "phrase" and evidence["detector"] == "dsn"
    assert evidence["ref"].startswith("userunknown#") and "Postfix" in evidence["source"]


async def test_an_older_database_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    """A bounces table written before evidence and final_address existed is extended in place, its rows intact."""
    import sqlalchemy as sa

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE bounces (id INTEGER PRIMARY KEY, tenant VARCHAR(255) NOT NULL, user_id BIGINT NOT NULL,"
            " verp_local VARCHAR(255) NOT NULL, sent_at DATETIME NOT NULL, received_at DATETIME NOT NULL,"
            " address VARCHAR(998) NOT NULL, action VARCHAR(32), status VARCHAR(16), reply_code INTEGER,"
            " reason VARCHAR(32) NOT NULL, severity VARCHAR(8) NOT NULL, diagnostic TEXT, remote_mta VARCHAR(255),"
            " reporting_mta VARCHAR(255), detector VARCHAR(32), message_id VARCHAR(998), dedup_key VARCHAR(64) NOT NULL UNIQUE)"
        )
        await conn.exec_driver_sql(
            "INSERT INTO bounces (tenant, user_id, verp_local, sent_at, received_at, address, reason, severity, dedup_key)"
            " VALUES ('enwiki', 1, 'wiki-enwiki-1-x', '2026-01-01 00:00:00', '2026-01-01 00:00:01', 'old@example.com', 'userunknown', 'hard', 'k1')"
        )
    await init_schema(engine)
    async with engine.connect() as conn:
        columns = {c["name"] for c in await conn.run_sync(lambda c: sa.inspect(c).get_columns("bounces"))}
    (row,) = await Store(engine).list_bounces()
    await engine.dispose()
    assert {"evidence", "final_address"} <= columns
    assert (row["address"], row["reason"], row["evidence"]) == ("old@example.com", "userunknown", None)


async def test_parse_max_recipients_reaches_the_parser(tmp_path: Path, store: Store, clock: FakeClock, monkeypatch) -> None:
    """The pipeline parses each message with the configured parse.max_recipients."""
    import verpd.pipeline

    seen: list[int] = []
    real = verpd.pipeline.parse

    def spy(raw: bytes, *, max_recipients: int):
        seen.append(max_recipients)
        return real(raw, max_recipients=max_recipients)

    monkeypatch.setattr(verpd.pipeline, "parse", spy)
    pipeline = Pipeline(make_config(tmp_path, parse={"max_recipients": 7}), store)
    assert await bounce(pipeline, 5, clock) == Outcome.RECORDED
    assert seen == [7]


async def test_fields_too_long_for_their_columns_or_holding_nul_are_stored_cut_never_refused(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    """A report whose fields outgrow their columns or carry NUL is recorded cut to size and without NUL on every backend,
    where PostgreSQL would refuse the row and the MTA would retry the report for days."""
    pipeline = Pipeline(make_config(tmp_path, policy={"limit": 1, "act": True}), store)
    address, rcpt = recipient(pipeline.config, 1, clock.now - timedelta(minutes=1))
    long_action = "failed " + "x" * 60
    message = dsn(address, action=long_action, failed="alice@example.com", diagnostic="550 5.1.1 user\x00 unknown")
    message = message.replace(b"Remote-MTA: dns; mail.example.com", b"Remote-MTA: dns; " + b"m" * 300)
    assert await pipeline.deliver(message, [rcpt], clock.now) == [Outcome.RECORDED]
    (row,) = await store.list_bounces()
    assert (row["action"], row["remote_mta"], row["diagnostic"]) == (long_action[:32], "m" * 255, "550 5.1.1 user unknown")
    assert (await store.list_subjects())[0]["state"] == "suppressed"

    address, rcpt = recipient(pipeline.config, 2, clock.now - timedelta(minutes=1))
    assert await pipeline.deliver(complaint(address, feedback_type="y" * 50), [rcpt], clock.now) == [Outcome.COMPLAINT]
    assert [c["feedback_type"] for c in await store.list_complaints()] == ["y" * 32]

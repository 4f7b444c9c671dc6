"""Metrics: our own registry, and each counter moves when (and only when) its thing happens."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import prometheus_client
import pytest

from tests.conftest import FakeClock, lmtp_port, make_config, verp_address
from tests.lmtp_client import LMTPClient
from tests.messages import dsn, not_a_bounce
from verpd import metrics
from verpd.config import Config
from verpd.daemon import Daemon
from verpd.events import ActionKind, ForwardPayload
from verpd.model import VerpAddress
from verpd.outbox import OutboxWorker
from verpd.pipeline import Pipeline
from verpd.store import OutboxItem, Store, Transaction
from verpd.verp import Verp

BLOCKED = "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


def value(name: str, **labels: str) -> float:
    """The current value of one sample of our registry (0 when it has not been created yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Remembers samples at creation; ``of`` says how much one moved since."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.before = {(name, tuple(sorted(labels.items()))): value(name, **labels) for name, labels in samples}

    def of(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self.before[(name, tuple(sorted(labels.items())))]


def recipient(config: Config, user: int, sent: datetime) -> tuple[str, VerpAddress]:
    verp = Verp(config.verp)
    address = verp.encode("enwiki", user, int(sent.timestamp()))
    return address, verp.verify(address, int(sent.timestamp()) + 1)


def test_metrics_live_in_a_registry_of_their_own() -> None:
    """verpd's metrics are registered in verpd.metrics.REGISTRY, never in prometheus-client's global registry."""
    assert metrics.REGISTRY is not prometheus_client.REGISTRY
    ours = {m.name for m in metrics.REGISTRY.collect()}
    assert {"verpd_bounces_recorded", "verpd_db_commit_seconds", "verpd_parse_seconds"} <= ours
    assert not {m.name for m in prometheus_client.REGISTRY.collect()} & ours


async def test_a_recorded_bounce_counts_by_reason_and_severity_after_commit(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """One new hard bounce moves bounces_recorded{userunknown,hard}, messages{recorded}, the commit and parse histograms; its repeat counts as a duplicate."""
    pipeline = Pipeline(make_config(tmp_path), store)
    delta = Delta(
        ("verpd_bounces_recorded_total", {"reason": "userunknown", "severity": "hard"}),
        ("verpd_bounces_duplicate_total", {}),
        ("verpd_messages_total", {"outcome": "recorded"}),
        ("verpd_messages_total", {"outcome": "duplicate"}),
        ("verpd_db_commit_seconds_count", {}),
        ("verpd_parse_seconds_count", {}),
    )
    address, rcpt = recipient(pipeline.config, 5, clock.now - timedelta(seconds=30))
    await pipeline.deliver(dsn(address), [rcpt], clock.now)
    await pipeline.deliver(dsn(address), [rcpt], clock.now)
    assert delta.of("verpd_bounces_recorded_total", reason="userunknown", severity="hard") == 1
    assert delta.of("verpd_bounces_duplicate_total") == 1
    assert (delta.of("verpd_messages_total", outcome="recorded"), delta.of("verpd_messages_total", outcome="duplicate")) == (1, 1)
    assert delta.of("verpd_db_commit_seconds_count") >= 2
    assert delta.of("verpd_parse_seconds_count") == 2


async def test_a_failed_transaction_counts_no_bounce(tmp_path: Path, store: Store, clock: FakeClock, monkeypatch) -> None:
    """A bounce whose transaction fails is neither counted as recorded nor as a commit."""
    delta = Delta(("verpd_bounces_recorded_total", {"reason": "userunknown", "severity": "hard"}), ("verpd_db_commit_seconds_count", {}))

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(Pipeline, "_apply", broken)
    config = make_config(tmp_path, policy={"limit": 1, "act": True})
    pipeline = Pipeline(config, store)
    address, rcpt = recipient(config, 6, clock.now - timedelta(seconds=30))
    with pytest.raises(RuntimeError):
        await pipeline.deliver(dsn(address), [rcpt], clock.now)
    assert delta.of("verpd_bounces_recorded_total", reason="userunknown", severity="hard") == 0
    assert delta.of("verpd_db_commit_seconds_count") == 0


async def test_suppression_unrecognized_and_sender_trouble_are_counted(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    """A suppression counts decisions{suppress}; a message with no failure counts unrecognized; a burst of blocks one sender_trouble{blocked}."""
    config = make_config(tmp_path, policy={"limit": 1, "act": True}, trouble={"min_count": 3, "share": 0.5, "window": "1h"})
    pipeline = Pipeline(config, store)
    delta = Delta(
        ("verpd_decisions_total", {"action": "suppress"}),
        ("verpd_unrecognized_total", {"forwarded": "false"}),
        ("verpd_sender_trouble_total", {"reason": "blocked"}),
    )
    address, rcpt = recipient(config, 7, clock.now - timedelta(seconds=30))
    await pipeline.deliver(dsn(address), [rcpt], clock.now)
    assert delta.of("verpd_decisions_total", action="suppress") == 1
    address, rcpt = recipient(config, 8, clock.now - timedelta(seconds=30))
    await pipeline.deliver(not_a_bounce(address), [rcpt], clock.now)
    assert delta.of("verpd_unrecognized_total", forwarded="false") == 1
    for user in range(3):
        address, rcpt = recipient(config, 100 + user, clock.now - timedelta(seconds=30))
        await pipeline.deliver(dsn(address, failed=f"u{user}@example.net", status="5.7.1", diagnostic=BLOCKED), [rcpt], clock.now)
    assert delta.of("verpd_sender_trouble_total", reason="blocked") == 1


async def test_lmtp_sessions_and_recipient_outcomes_are_counted(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """An LMTP session moves sessions_opened and the open gauge (back down on QUIT); each RCPT counts its outcome."""
    config = make_config(tmp_path)
    daemon: Daemon = await make_daemon(config)
    delta = Delta(
        ("verpd_sessions_opened_total", {"protocol": "lmtp"}),
        ("verpd_sessions_open", {"protocol": "lmtp"}),
        ("verpd_recipients_total", {"intake": "lmtp", "outcome": "accepted"}),
        ("verpd_recipients_total", {"intake": "lmtp", "outcome": "bad_signature"}),
        ("verpd_recipients_total", {"intake": "lmtp", "outcome": "not_ours"}),
    )
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    assert (delta.of("verpd_sessions_opened_total", protocol="lmtp"), delta.of("verpd_sessions_open", protocol="lmtp")) == (1, 1)
    verp = verp_address(config, clock)
    await client.mail()
    await client.rcpt(verp)
    await client.rcpt(verp.replace("-enwiki-", "-dewiki-"))
    await client.rcpt("postmaster@example.net")
    await client.close()
    assert delta.of("verpd_recipients_total", intake="lmtp", outcome="accepted") == 1
    assert delta.of("verpd_recipients_total", intake="lmtp", outcome="bad_signature") == 1
    assert delta.of("verpd_recipients_total", intake="lmtp", outcome="not_ours") == 1
    for _ in range(100):  # connection_lost runs once the server sees the close
        if delta.of("verpd_sessions_open", protocol="lmtp") == 0:
            break
        await asyncio.sleep(0.01)
    assert delta.of("verpd_sessions_open", protocol="lmtp") == 0


async def test_refused_client_is_counted_at_rcpt(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """A client outside server.allowed_clients counts recipients{refused_client}."""
    config = make_config(tmp_path, server={"allowed_clients": ["192.0.2.0/24"]})
    daemon: Daemon = await make_daemon(config)
    delta = Delta(("verpd_recipients_total", {"intake": "lmtp", "outcome": "refused_client"}))
    client = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    await client.mail()
    assert (await client.rcpt(verp_address(config, clock))).code == 554
    await client.close()
    assert delta.of("verpd_recipients_total", intake="lmtp", outcome="refused_client") == 1


async def test_outbox_attempts_count_sent_retry_and_dead(store: Store, clock: FakeClock) -> None:
    """Each outbox attempt counts its result: sent, retry, and dead once max_attempts is reached."""
    def work(tx: Transaction) -> None:
        for n in range(2):
            payload = ForwardPayload((f"v{n}@example.org",), "enwiki", n, clock.now, clock.now, None)
            tx.enqueue(ActionKind.FORWARD, f"key-{n}", payload, b"raw", clock.now)

    await store.run(work)

    async def send(item: OutboxItem) -> None:
        if item.key == "key-1":
            raise OSError("relay down")

    worker = OutboxWorker(store, {ActionKind.FORWARD: send}, retry_min=1, retry_max=1, clock=clock, max_attempts=2)
    labels = [("verpd_outbox_attempts_total", {"kind": "forward", "result": r}) for r in ("sent", "retry", "dead")]
    delta = Delta(*labels)
    await worker.drain()
    clock.advance(seconds=2)
    await worker.drain()
    assert [delta.of(name, **lbl) for name, lbl in labels] == [1, 1, 1]

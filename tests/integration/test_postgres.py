"""``verpd serve`` with ``database.url = postgresql+asyncpg://...``: a real daemon process on a real PostgreSQL.

The cluster is the session's private one (tests/integration/postgres_instance.py);
the rows are read back with ``psql``, not through verpd's own store code.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.integration.postgres_instance import PostgresInstance
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from tests.test_cli_commands import verpd

pytestmark = pytest.mark.integration


async def test_serve_on_postgresql_records_bounces_delivered_over_lmtp(tmp_path: Path, postgres: PostgresInstance) -> None:
    """A daemon configured with a postgresql+asyncpg URL creates its schema, answers 250 per bounce, stores each one
    durably (found after it stopped) and says at start which database it uses, without the password."""
    postgres.create_database("verpd_serve")
    url = postgres.url("verpd_serve")
    port = free_port()
    config_path = write_config(tmp_path, port, database={"url": url}, policy={"limit": 2, "act": True})
    check = await asyncio.to_thread(verpd, "--config", str(config_path), "check-config", "--no-bind")
    assert check.returncode == 0 and b"database postgresql usable" in check.stdout, check.stderr

    clock = FakeClock(datetime.now(UTC))
    config = make_config(tmp_path)
    process = await Process.start(config_path)
    try:
        started = await process.wait_for_event("server.started")
        assert started["database"].startswith("postgresql+asyncpg://verpd@127.0.0.1:")
        client = await LMTPClient.connect("127.0.0.1", port)
        try:
            for user, sent_ago in ((201, 60), (202, 60), (202, 120)):
                verp = verp_address(config, clock, user=user, sent_ago=sent_ago)
                _, (reply,) = await client.deliver(dsn(verp, failed=f"user{user}@example.com"), [verp])
                assert reply.code == 250, reply
        finally:
            client.writer.close()
    finally:
        process.proc.terminate()
        assert await process.finish() == 0
    rows = postgres.sql("SELECT user_id, address, status, severity FROM bounces ORDER BY id", dbname="verpd_serve")
    assert rows.split() == ["201|user201@example.com|5.1.1|hard", "202|user202@example.com|5.1.1|hard",
                            "202|user202@example.com|5.1.1|hard"]
    states = postgres.sql("SELECT user_id, state FROM subjects ORDER BY user_id", dbname="verpd_serve")
    assert states.split() == ["201|active", "202|suppressed"]  # the limit of 2 reached by user 202's two messages


async def _deliver_all(port: int, jobs: list[tuple[str, str]]) -> list[int]:
    """Deliver (verp, failed address) bounces on one LMTP session; the reply codes in order."""
    client = await LMTPClient.connect("127.0.0.1", port)
    codes = []
    try:
        for verp, failed in jobs:
            _, (reply,) = await client.deliver(dsn(verp, failed=failed), [verp])
            codes.append(reply.code)
    finally:
        client.writer.close()
    return codes


async def test_two_daemons_on_one_database_behave_as_one(tmp_path: Path, postgres: PostgresInstance) -> None:
    """Two ``verpd serve`` take interleaved bounces for the same users, each message also delivered to both
    (as two MX hosts would): no duplicate rows, and exactly one suppression (one outbox event) per user."""
    from tests.webhook_receiver import receiving

    postgres.create_database("verpd_two")
    url = postgres.url("verpd_two")
    users, per_user, limit = range(301, 311), 5, 3
    config = make_config(tmp_path)
    clock = FakeClock(datetime.now(UTC))
    jobs = [(verp_address(config, clock, user=u, sent_ago=60 + i), f"user{u}@example.com") for i in range(per_user) for u in users]
    with receiving() as receiver:
        ports, processes = [], []
        for name in ("a", "b"):
            port = free_port()
            directory = tmp_path / name
            directory.mkdir()
            path = write_config(directory, port, database={"url": url}, policy={"limit": limit, "act": True},
                                webhook={"url": receiver.url, "secret": "a-webhook-secret-of-some-length", "events": ["subject.suppressed"]})
            processes.append(await Process.start(path))
            ports.append(port)
        try:
            halves = [jobs[0::2], jobs[1::2]]
            codes = await asyncio.gather(
                _deliver_all(ports[0], halves[0]), _deliver_all(ports[1], halves[1]),  # interleaved between the two
                _deliver_all(ports[1], halves[0]), _deliver_all(ports[0], halves[1]),  # and each message again at the other
            )
            assert all(c == 250 for part in codes for c in part)
            await asyncio.to_thread(receiver.wait_for, len(users))
            await asyncio.sleep(1.0)  # any second delivery would have arrived by now
            hooks = list(receiver.requests)
        finally:
            for process in processes:
                process.proc.terminate()
            for process in processes:
                await process.finish()
    rows = postgres.sql("SELECT count(*), count(DISTINCT (verp_local, address)) FROM bounces", dbname="verpd_two").strip()
    assert rows == f"{len(jobs)}|{len(jobs)}"
    suppressions = postgres.sql("SELECT user_id, count(*) FROM decisions WHERE action = 'suppress' GROUP BY user_id", dbname="verpd_two")
    assert sorted(suppressions.split()) == sorted(f"{u}|1" for u in users)
    import json as _json

    assert sorted(_json.loads(h.body)["user"] for h in hooks) == list(users)  # one webhook per user, sent by one of the two


@pytest.fixture
def own_cluster(postgres: PostgresInstance):
    """A cluster of this test's own (stopping the session's would disturb the tests after it); ``postgres`` is asked
    for only so that a machine without PostgreSQL skips (or fails under VERPD_REQUIRE_INTEGRATION) the same way."""
    from tests.integration.postgres_instance import throwaway_cluster

    with throwaway_cluster() as cluster:
        yield cluster


async def test_a_database_outage_answers_451_and_no_acknowledged_bounce_is_lost(tmp_path: Path, own_cluster: PostgresInstance) -> None:
    """PostgreSQL stopped mid-load: recipients get 451 (the MTA retries); started again: 250 again, and every bounce
    that was answered 250 is in the database."""
    postgres = own_cluster
    postgres.create_database("verpd_outage")
    url = postgres.url("verpd_outage")
    port = free_port()
    path = write_config(tmp_path, port, database={"url": url, "connect_timeout": "2s", "statement_timeout": "2s"})
    config = make_config(tmp_path)
    clock = FakeClock(datetime.now(UTC))
    process = await Process.start(path)
    acknowledged: list[str] = []
    codes: list[int] = []
    try:
        client = await LMTPClient.connect("127.0.0.1", port)
        try:
            async def send(n: int) -> None:
                for _ in range(n):
                    verp = verp_address(config, clock, user=400 + len(codes) % 7, sent_ago=60 + len(codes))
                    _, (reply,) = await client.deliver(dsn(verp, failed=f"u{len(codes)}@example.com"), [verp])
                    codes.append(reply.code)
                    if reply.code == 250:
                        acknowledged.append(verp.split("@")[0])

            await send(10)
            await asyncio.to_thread(postgres.stop)  # the database goes away mid-load
            await send(5)
            outage = codes[10:]
            await asyncio.to_thread(postgres.start)
            for _ in range(40):  # service resumes by itself, without a restart
                await send(1)
                if codes[-1] == 250:
                    break
                await asyncio.sleep(0.25)
            await send(10)
        finally:
            client.writer.close()
    finally:
        process.proc.terminate()
        await process.finish()
    assert codes[:10] == [250] * 10
    assert outage and all(c == 451 for c in outage), outage
    assert codes[-10:] == [250] * 10
    stored = set(postgres.sql("SELECT verp_local FROM bounces", dbname="verpd_outage").split())
    assert set(acknowledged) <= stored and len(acknowledged) >= 20

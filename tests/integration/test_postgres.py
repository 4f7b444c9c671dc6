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

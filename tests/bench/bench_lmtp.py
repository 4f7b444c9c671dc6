"""End-to-end LMTP throughput: a real ``verpd serve`` process, durable SQLite, N sessions.

Each message is a distinct DSN to a distinct VERP address, so every one is parsed,
classified, committed (WAL, synchronous=FULL) and acknowledged; the figures are
messages per second and the latency of the DATA reply.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import FakeClock, make_config, verp_address
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from tests.daemon_process import Process, free_port, write_config


async def run(sessions: int, messages: int, database_url: str | None = None, label: str = "SQLite WAL, synchronous=FULL") -> None:
    """Deliver ``messages`` unique bounces over ``sessions`` LMTP sessions to a ``verpd serve`` process and print the rate.

    ``database_url``: the database to run against (default: a fresh SQLite file).
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        port = free_port()
        sections = {"database": {"url": database_url}} if database_url else {}
        process = await Process.start(write_config(tmp_path, port, **sections))
        config = make_config(tmp_path)
        clock = FakeClock(datetime.now(UTC))
        latencies: list[float] = []

        async def session(index: int, count: int) -> None:
            client = await LMTPClient.connect("127.0.0.1", port)
            for n in range(count):
                verp = verp_address(config, clock, user=index * 1_000_000 + n)
                await client.mail()
                await client.rcpt(verp)
                started = time.perf_counter()
                (reply,) = await client.data(dsn(verp), 1)
                latencies.append(time.perf_counter() - started)
                assert reply.code == 250, reply
            await client.close()

        per_session = messages // sessions
        started = time.perf_counter()
        await asyncio.gather(*(session(i, per_session) for i in range(sessions)))
        elapsed = time.perf_counter() - started
        process.proc.terminate()
        await process.finish()
        total = per_session * sessions
        latencies.sort()
        print(f"lmtp: {total} bounces over {sessions} sessions in {elapsed:.2f} s = {total / elapsed:.0f} msg/s "
              f"({label}; DATA reply p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms)")


def run_postgres(sessions: int, messages: int, url: str | None) -> None:
    """The same benchmark against PostgreSQL: ``url``, or a throwaway cluster if PostgreSQL is installed."""
    if url:
        asyncio.run(run(sessions, messages, url, "PostgreSQL"))
        return
    try:
        from tests.integration.postgres_instance import throwaway_cluster
    except ImportError:
        print("lmtp: PostgreSQL: no harness (tests/integration/postgres_instance.py); give --postgres URL")
        return
    try:
        with throwaway_cluster() as cluster:
            asyncio.run(run(sessions, messages, cluster.create_database("bench"), "PostgreSQL, fsync on"))
    except RuntimeError as e:  # PostgreSQL not installed or cannot start
        print(f"lmtp: PostgreSQL: not run ({e}); give --postgres URL")

"""The daemon as a process: durability across kill -9, graceful SIGTERM, start-up errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.lmtp_client import LMTPClient
from tests.messages import dsn


@pytest.fixture
async def spawn():
    """Start ``verpd serve`` subprocesses; whatever a test leaves running is killed at teardown."""
    started: list[Process] = []

    async def start(config_path: Path) -> Process:
        process = await Process.start(config_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.returncode is None:
            process.proc.kill()
        await process.finish()


def stored_bounces(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "verpd.sqlite3") as db:
        return db.execute("SELECT user_id, address, status FROM bounces ORDER BY user_id").fetchall()


async def test_record_survives_kill_9_right_after_its_250(tmp_path: Path, spawn) -> None:
    """A bounce acknowledged with 250 is in the database even if the daemon is SIGKILLed at once."""
    port = free_port()
    process = await spawn(write_config(tmp_path, port))
    config = make_config(tmp_path)
    clock = FakeClock(start=datetime.now(UTC))
    verps = [verp_address(config, clock, user=u) for u in (1, 2, 3)]
    client = await LMTPClient.connect("127.0.0.1", port)
    codes = []
    try:
        for verp in verps:
            _, (reply,) = await client.deliver(dsn(verp), [verp])
            codes.append(reply.code)
        process.proc.kill()  # SIGKILL immediately after the last 250: no chance to flush anything
        await process.finish()
    finally:
        client.writer.close()
    assert codes == [250, 250, 250]
    assert [row[0] for row in stored_bounces(tmp_path)] == [1, 2, 3]


async def test_sigterm_lets_an_open_transaction_finish_then_exits_0(tmp_path: Path, spawn) -> None:
    """On SIGTERM verpd stops accepting connections, completes the transaction in progress, and exits 0."""
    port = free_port()
    process = await spawn(write_config(tmp_path, port))
    config = make_config(tmp_path)
    verp = verp_address(config, FakeClock(start=datetime.now(UTC)), user=9)
    client = await LMTPClient.connect("127.0.0.1", port)
    try:
        assert (await client.mail()).code == 250
        assert (await client.rcpt(verp)).code == 250
        process.proc.send_signal(signal.SIGTERM)
        await process.wait_for_event("server.stopping")
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)  # no longer accepting
        (reply,) = await client.data(dsn(verp), 1)
        assert reply.code == 250
        assert await process.finish() == 0
    finally:
        client.writer.close()
    assert [e["event"] for e in process.events].count("server.stopped") == 1
    assert stored_bounces(tmp_path) == [(9, "alice@example.com", "5.1.1")]


def test_serve_reports_a_busy_port_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If the LMTP port is taken, serve exits 69 (EX_UNAVAILABLE) with one line naming the listener."""
    from verpd import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = cli.main(["--config", str(write_config(tmp_path, port)), "serve"])
    assert status == 69
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "address already in use" in err


def test_python_dash_m_verpd_runs_the_cli() -> None:
    """``python -m verpd --version`` works (the entry point the systemd unit and tests use)."""
    import subprocess

    out = subprocess.run([sys.executable, "-m", "verpd", "--version"], capture_output=True, text=True, cwd=REPO, env={**os.environ})
    assert out.returncode == 0 and out.stdout.startswith("verpd ")

"""The daemon as a process: durability across kill -9, graceful SIGTERM, start-up errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config, write_config_file
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


async def test_sigterm_closes_a_session_idle_after_mail_from_at_once(tmp_path: Path, spawn) -> None:
    """A client that sent MAIL FROM and sits there does not hold SIGTERM up for shutdown_timeout (30s here): it gets
    421 4.3.2 and verpd exits 0 within a couple of seconds."""
    port = free_port()
    process = await spawn(write_config_file(tmp_path, server={"lmtp": f"127.0.0.1:{port}", "shutdown_timeout": "30s"}))
    idle = await LMTPClient.connect("127.0.0.1", port)
    try:
        assert (await idle.mail()).code == 250
        signalled = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        assert str(await idle.read_reply()).startswith("421 4.3.2")
        assert await process.finish() == 0
        assert time.monotonic() - signalled < 5  # not shutdown_timeout
    finally:
        idle.writer.close()
    assert [e["limit"] for e in process.events if e["event"] == "session.limited"] == ["shutdown"]


async def test_sigterm_waits_for_a_data_transfer_in_progress(tmp_path: Path, spawn) -> None:
    """On SIGTERM a message whose DATA is arriving is still received, recorded and answered 250, then verpd exits 0."""
    port = free_port()
    process = await spawn(write_config_file(tmp_path, server={"lmtp": f"127.0.0.1:{port}", "shutdown_timeout": "30s"}))
    verp = verp_address(make_config(tmp_path), FakeClock(start=datetime.now(UTC)), user=11)
    wire = dsn(verp).replace(b"\n", b"\r\n") + b".\r\n"  # no line of it starts with a dot
    client = await LMTPClient.connect("127.0.0.1", port)
    try:
        assert (await client.mail()).code == 250 and (await client.rcpt(verp)).code == 250
        assert (await client.command("DATA")).code == 354
        client.writer.write(wire[: len(wire) // 2])  # half the body is here when the signal comes
        await client.writer.drain()
        process.proc.send_signal(signal.SIGTERM)
        await process.wait_for_event("server.stopping")
        client.writer.write(wire[len(wire) // 2 :])
        assert (await client.read_reply()).code == 250
        assert str(await client.read_reply()).startswith("421 4.3.2")  # and then the session ends
        assert await process.finish() == 0
    finally:
        client.writer.close()
    assert [row[0] for row in stored_bounces(tmp_path)] == [11]


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

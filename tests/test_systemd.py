"""verpd under systemd: the notify protocol and the watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.conftest import REPO, make_config
from tests.daemon_process import Process, free_port, write_config
from tests.lmtp_client import LMTPClient
from verpd import systemd
from verpd.daemon import Daemon

def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without whatever systemd gave the test runner, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "WATCHDOG_", "NOTIFY_SOCKET"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


async def start_daemon(config_path: Path, **env: str) -> Process:
    """``verpd serve`` in a subprocess with ``env``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verpd", "--config", str(config_path), "serve",
        cwd=REPO, env=clean_environment(**env),
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )
    process = Process(proc)
    await process.wait_for_event("server.started")
    return process


async def stop(process: Process) -> None:
    if process.proc.returncode is None:
        process.proc.kill()
    await process.finish()


class NotifyReceiver:
    """The datagram socket systemd reads ``sd_notify`` messages from."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)

    async def next(self, timeout: float = 20.0) -> str:
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 4096), timeout)
        return data.decode()

    def pending(self) -> list[str]:
        found = []
        while True:
            try:
                found.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return found


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[NotifyReceiver]:
    r = NotifyReceiver(str(tmp_path / "notify"))
    yield r
    r.sock.close()


# --- sd_notify -------------------------------------------------------------------------


async def test_ready_then_watchdog_pings_then_stopping_reach_the_notify_socket(tmp_path: Path, receiver: NotifyReceiver) -> None:
    """READY=1 comes first, once the LMTP port accepts; WATCHDOG=1 every half WATCHDOG_USEC; STOPPING=1 on SIGTERM."""
    port = free_port()
    process = await start_daemon(write_config(tmp_path, port), NOTIFY_SOCKET=receiver.address, WATCHDOG_USEC="200000")
    try:
        assert await receiver.next() == "READY=1"
        client = await LMTPClient.connect("127.0.0.1", port)  # LHLO answered 250
        await client.close()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert [await receiver.next(timeout=2) for _ in range(5)] == ["WATCHDOG=1"] * 5
        assert loop.time() - started >= 0.2  # one every 0.1 s (half of 0.2 s), not in a burst
        process.proc.send_signal(signal.SIGTERM)
        while (message := await receiver.next()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert await process.finish() == 0
    finally:
        await stop(process)


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NOTIFY_SOCKET starting with '@' names a socket in the abstract namespace."""
    r = NotifyReceiver(f"@verpd-test-{os.getpid()}-{id(monkeypatch)}")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", r.address)
        systemd.notify("READY=1")
        assert r.pending() == ["READY=1"]
    finally:
        r.sock.close()


@pytest.mark.parametrize("target", ["", "/nonexistent/notify", "vsock:2:1234"], ids=["unset", "missing-path", "unsupported"])
def test_notify_never_raises(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """Without a reachable NOTIFY_SOCKET, notify does nothing but log (the daemon runs the same without systemd)."""
    monkeypatch.setenv("NOTIFY_SOCKET", target)
    with structlog.testing.capture_logs() as logs:
        systemd.notify("READY=1")
    assert [e["event"] for e in logs] == ([] if not target else ["systemd.notify_failed"])


# --- the watchdog ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 30.0),
        ("200000", "self", 0.2),
        ("200000", "other", None),
        (None, None, None),
        ("0", None, None),
        ("soon", None, None),
    ],
    ids=["no-pid", "our-pid", "other-pid", "unset", "zero", "garbage"],
)
def test_watchdog_interval_follows_sd_watchdog_enabled(usec: str | None, pid: str | None, expected: float | None) -> None:
    """WATCHDOG_USEC gives the timeout, but only when WATCHDOG_PID is unset or our own pid."""
    env = {"WATCHDOG_USEC": usec} if usec is not None else {}
    if pid is not None:
        env["WATCHDOG_PID"] = str(os.getpid() if pid == "self" else os.getpid() + 1)
    assert systemd.watchdog_interval(env) == expected


async def test_watchdog_skips_pings_while_unhealthy(monkeypatch: pytest.MonkeyPatch, receiver: NotifyReceiver) -> None:
    """No WATCHDOG=1 while the health check fails (so systemd restarts us); pings resume when it passes."""
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    healthy = False

    async def check(timeout: float) -> bool:
        assert timeout == pytest.approx(0.025)  # a quarter of the interval
        return healthy

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(systemd.run_watchdog(0.1, check))
        await asyncio.sleep(0.2)
        assert receiver.pending() == []
        healthy = True
        assert await receiver.next(timeout=1) == "WATCHDOG=1"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "systemd.watchdog_skipped" in [e["event"] for e in logs]


async def test_database_check_fails_while_the_database_does_not_answer(tmp_path: Path) -> None:
    """The watchdog's health check passes while the database answers, and fails (logging why) while it is locked."""
    daemon = Daemon(make_config(tmp_path))  # database.busy_timeout = 1s
    try:
        assert await daemon.database_answers(5.0)
        with contextlib.closing(sqlite3.connect(tmp_path / "verpd.sqlite3", isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
            with structlog.testing.capture_logs() as logs:
                assert not await daemon.database_answers(5.0)
            other.execute("ROLLBACK")
        assert await daemon.database_answers(5.0)
    finally:
        await daemon.stop()
    assert [e["event"] for e in logs] == ["database.unanswered"]

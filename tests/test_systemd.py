"""verpd under systemd: the notify protocol, socket activation, the watchdog, the units."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import structlog

from tests.conftest import REPO, make_config, unavailable
from tests.daemon_process import Process, free_port, write_config
from tests.lmtp_client import LMTPClient
from verpd import systemd
from verpd.config import HostPort
from verpd.daemon import Daemon, listen_error
from verpd.errors import StartupError
from verpd.systemd import PassedSocket, Wanted

UNITS = REPO / "systemd"
MAX_EXPOSURE = 2.0

# Stands in for systemd between fork and exec: moves the descriptors named on its
# command line to 3, 4, ..., sets LISTEN_PID to its own pid (which exec keeps) and
# LISTEN_FDS, then execs Python with the rest of the command line.
ACTIVATE = """\
import fcntl, os, sys
count = int(sys.argv[1])
given = [int(fd) for fd in sys.argv[2:2 + count]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in given]
for fd in given:
    os.close(fd)
for target, fd in enumerate(high, start=3):
    os.dup2(fd, target)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(count))
os.execv(sys.executable, [sys.executable, *sys.argv[2 + count:]])
"""

# Run under ACTIVATE: what listen_fds_with_names makes of the passed descriptors.
PROBE = """\
import json, os
from verpd import systemd
passed = systemd.listen_fds_with_names()
print(json.dumps({
    "names": [p.name for p in passed],
    "fds": [p.sock.fileno() for p in passed],
    "ports": [p.sock.getsockname()[1] for p in passed],
    "inheritable": [os.get_inheritable(p.sock.fileno()) for p in passed],
    "environment": sorted(k for k in os.environ if k.startswith("LISTEN_")),
}))
"""


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without whatever systemd gave the test runner, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "WATCHDOG_", "NOTIFY_SOCKET"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


async def start_daemon(config_path: Path, *, passed: Sequence[socket.socket] = (), **env: str) -> Process:
    """``verpd serve`` in a subprocess with ``env``; with ``passed``, socket-activated as systemd would."""
    prefix: list[str] = []
    if passed:
        prefix = ["-c", ACTIVATE, str(len(passed)), *(str(s.fileno()) for s in passed)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *prefix, "-m", "verpd", "--config", str(config_path), "serve",
        cwd=REPO, env=clean_environment(**env), pass_fds=[s.fileno() for s in passed],
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


def listening(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    sock.listen(16)
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


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


# --- sd_listen_fds -----------------------------------------------------------------------


def test_listen_fds_takes_descriptors_from_3_names_them_and_cleans_up() -> None:
    """Passed descriptors become sockets 3, 4 named by LISTEN_FDNAMES, close-on-exec, with LISTEN_* unset."""
    with listening() as a, listening() as b:
        out = subprocess.run(
            [sys.executable, "-c", ACTIVATE, "2", str(a.fileno()), str(b.fileno()), "-c", PROBE],
            pass_fds=[a.fileno(), b.fileno()], env=clean_environment(LISTEN_FDNAMES="lmtp:smtp"),
            capture_output=True, text=True, cwd=REPO, check=True,
        )
        ports = [port_of(a), port_of(b)]
    assert json.loads(out.stdout) == {
        "names": ["lmtp", "smtp"], "fds": [3, 4], "ports": ports, "inheritable": [False, False], "environment": [],
    }


@pytest.mark.parametrize(
    "env",
    [
        {"LISTEN_PID": "other", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "lmtp"},  # meant for another process
        {"LISTEN_FDS": "1"},  # no LISTEN_PID: not from systemd
        {"LISTEN_PID": "self", "LISTEN_FDS": "0"},
        {"LISTEN_PID": "self", "LISTEN_FDS": "x"},
    ],
    ids=["other-pid", "no-pid", "zero", "garbage"],
)
def test_listen_fds_ignores_descriptors_not_meant_for_us(env: dict[str, str]) -> None:
    """No sockets unless LISTEN_PID is our pid and LISTEN_FDS a positive count; LISTEN_* are removed all the same."""
    environ = {k: {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(v, v) for k, v in env.items()}
    assert systemd.listen_fds(environ) == []
    assert environ == {}


async def test_socket_activation_serves_the_passed_socket_and_a_restart_refuses_no_connection(tmp_path: Path) -> None:
    """With a socket passed by systemd, verpd serves LMTP on it without binding; between two runs connections wait, not fail."""
    with listening() as held:  # what systemd holds open for verpd.socket
        port = port_of(held)
        config = write_config(tmp_path, port)  # binding this address would fail: it is taken by `held`
        first = await start_daemon(config, passed=[held], LISTEN_FDNAMES="lmtp")
        try:
            assert (await first.wait_for_event("server.started"))["listen"] == [f"127.0.0.1:{port}"]
            client = await LMTPClient.connect("127.0.0.1", port)
            await client.close()
            first.proc.send_signal(signal.SIGTERM)
            assert await first.finish() == 0
        finally:
            await stop(first)
        # No verpd runs now. The kernel completes the handshake and queues the connection.
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        second = await start_daemon(config, passed=[held], LISTEN_FDNAMES="lmtp")
        try:
            waiting = LMTPClient(reader, writer)
            assert (await waiting.read_reply()).code == 220
            assert (await waiting.command("LHLO client.example.org")).code == 250
            await waiting.close()
        finally:
            await stop(second)


# --- which passed socket serves which listener -------------------------------------------


@pytest.fixture
def sockets() -> Iterator[dict[str, socket.socket]]:
    """Listening sockets at the configured LMTP and SMTP addresses, and one at an address nobody configured."""
    made = {name: listening() for name in ("lmtp", "smtp", "other")}
    yield made
    for sock in made.values():
        sock.close()


def wanted(sockets: dict[str, socket.socket], http: bool = False) -> list[Wanted]:
    return [
        Wanted("lmtp", "server.lmtp", HostPort("127.0.0.1", port_of(sockets["lmtp"]))),
        Wanted("smtp", "server.smtp", HostPort("localhost", port_of(sockets["smtp"]))),  # a name resolves to the address
        Wanted("http", "http.listen", HostPort("127.0.0.1", 1) if http else None),
    ]


@pytest.mark.parametrize(
    ("name", "bound_at", "served_by"),
    [
        ("lmtp", "lmtp", "lmtp"),
        ("verpd.socket", "smtp", "smtp"),  # systemd's default name (no FileDescriptorName=): by address
        ("unknown", "lmtp", "lmtp"),
        ("lmtp", "smtp", "smtp"),  # one unit names all its streams alike: the address decides
        ("lmtp", "other", "lmtp"),  # an address nobody configured: the name decides
        ("smtp", "other", "smtp"),
    ],
    ids=lambda v: str(v),
)
def test_a_passed_socket_goes_to_the_listener_of_its_address_else_of_its_name(
    sockets: dict[str, socket.socket], name: str, bound_at: str, served_by: str
) -> None:
    """Each passed socket serves the listener configured with its address, or else the one its FileDescriptorName= names."""
    found = systemd.match_sockets([PassedSocket(name, sockets[bound_at])], wanted(sockets))
    assert found == {served_by: [sockets[bound_at]]}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("verpd.socket", r"fd \d+ 'verpd.socket' \(127.0.0.1:\d+\), which matches no listener \(server.lmtp 127.0.0.1:\d+, server.smtp localhost:\d+\)"),
        ("http", r"fd \d+ 'http' \(127.0.0.1:\d+\), but http.listen is not set"),
    ],
    ids=["no-match", "listener-off"],
)
def test_a_passed_socket_that_fits_no_listener_stops_the_start(sockets: dict[str, socket.socket], name: str, message: str) -> None:
    """A passed socket with neither a configured address nor a configured listener's name is a configuration error naming it."""
    with pytest.raises(StartupError, match=message) as raised:
        systemd.match_sockets([PassedSocket(name, sockets["other"])], wanted(sockets))
    assert raised.value.status == 78


@pytest.mark.parametrize("kind", ["udp", "not-listening"])
def test_a_passed_socket_must_be_a_listening_tcp_socket(kind: str) -> None:
    """A datagram socket or a connected one (Accept=yes) is refused with a message saying what to set."""
    sock = socket.socket(type=socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    with sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(StartupError, match="not a TCP socket" if kind == "udp" else "Accept=no"):
            systemd.match_sockets([PassedSocket("lmtp", sock)], [Wanted("lmtp", "server.lmtp", HostPort("127.0.0.1", 8024))])


async def test_the_daemon_serves_passed_sockets_instead_of_binding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon listens on the passed socket (named lmtp) and binds nothing at the configured address."""
    configured = free_port()
    passed = listening()
    monkeypatch.setattr(systemd, "listen_fds_with_names", lambda: [PassedSocket("lmtp", passed)])
    daemon = Daemon(make_config(tmp_path, server={"lmtp": f"127.0.0.1:{configured}"}))
    try:
        with structlog.testing.capture_logs() as logs:
            await daemon.start()
        assert daemon.bound() == [HostPort("127.0.0.1", port_of(passed))]
        client = await LMTPClient.connect("127.0.0.1", port_of(passed))
        await client.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", configured)
        assert any(e["event"] == "systemd.socket_address_differs" for e in logs)
    finally:
        await daemon.stop()
        passed.close()


async def test_an_unmatched_passed_socket_stops_the_daemon_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemon.start fails with a StartupError naming the passed socket no listener takes."""
    with listening() as stray:
        monkeypatch.setattr(systemd, "listen_fds_with_names", lambda: [PassedSocket("verpd.socket", stray)])
        with pytest.raises(StartupError, match=f"'verpd.socket' \\(127.0.0.1:{port_of(stray)}\\), which matches no listener"):
            await Daemon(make_config(tmp_path)).start()


# --- binding errors ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["lmtp", "smtp"])
async def test_a_port_in_use_is_a_one_line_startup_error(tmp_path: Path, key: str) -> None:
    """A listener whose port is taken fails the start with one line naming address, key and fix, status 69."""
    with listening() as taken:
        endpoint = f"127.0.0.1:{port_of(taken)}"
        with pytest.raises(StartupError) as raised:
            await Daemon(make_config(tmp_path, server={key: endpoint})).start()
    assert str(raised.value) == (
        f"cannot listen on {endpoint} (server.{key}): address already in use; stop the other process or choose another port"
    )
    assert raised.value.status == 69


@pytest.mark.parametrize(
    ("error", "reason", "status"),
    [
        (OSError(errno.EADDRINUSE, "Address in use"), "address already in use; stop the other process or choose another port", 69),
        (OSError(errno.EACCES, "Permission denied"), "permission denied; use a port above 1023, or let systemd bind it (systemd/verpd.socket)", 77),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign"), "address not available on this host; use an address of one of its interfaces (or order the service after network-online.target)", 69),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "cannot resolve '127.0.0.1' (Name or service not known); use an IP address", 69),
        (OSError(errno.EMFILE, "Too many open files"), "too many open files", 69),
    ],
    ids=["in-use", "permission", "not-available", "unresolvable", "other"],
)
def test_each_binding_error_has_its_own_message_and_status(error: OSError, reason: str, status: int) -> None:
    """Each cause of a failed bind gets its own explanation and sysexits status."""
    startup = listen_error("server.lmtp", HostPort("127.0.0.1", 24), error)
    assert (str(startup), startup.status) == (f"cannot listen on 127.0.0.1:24 (server.lmtp): {reason}", status)


# --- the unit files ----------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        unavailable("systemd-analyze is not installed (apt-get install systemd); the unit files are not checked")
    assert found is not None
    return found


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """verpd.service and verpd.socket, as shipped, pass ``systemd-analyze verify``.

    Verified in a scratch root holding systemd's own units, ours, and an executable at
    ExecStart's path (/opt/verpd/bin/verpd), which verify requires to exist.
    """
    analyze = systemd_analyze()
    system_units = next((Path(d) for d in ("/usr/lib/systemd/system", "/lib/systemd/system") if Path(d, "sysinit.target").exists()), None)
    if system_units is None:
        unavailable("systemd's own units (sysinit.target) are not installed; verify cannot resolve dependencies")
    assert system_units is not None
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in ("verpd.service", "verpd.socket"):
        shutil.copy(UNITS / unit, root / "etc/systemd/system" / unit)
    executable = root / "opt/verpd/bin/verpd"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    out = subprocess.run([analyze, "verify", "--man=no", f"--root={root}", "verpd.service", "verpd.socket"], capture_output=True, text=True)
    assert (out.returncode, out.stderr.strip(), out.stdout.strip()) == (0, "", "")


def test_service_security_exposure_is_at_most_2(tmp_path: Path) -> None:
    """``systemd-analyze security --offline=true`` rates verpd.service at most 2.0 ("OK")."""
    analyze = systemd_analyze()
    out = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(UNITS / "verpd.service")], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for verpd\.service: (\d+\.\d+)", out.stdout)
    if match is None and "--offline" in out.stderr:
        unavailable(f"this systemd-analyze cannot rate a unit file offline (systemd 250 or newer can): {out.stderr.strip()}")
    assert match is not None, out.stdout + out.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, out.stdout


def test_socket_unit_names_the_lmtp_stream_and_activates_verpd() -> None:
    """verpd.socket listens on server.lmtp's default address, names it lmtp and starts verpd.service."""
    text = (UNITS / "verpd.socket").read_text()
    settings = re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE)
    assert ("ListenStream", "127.0.0.1:8024") in settings
    assert ("FileDescriptorName", "lmtp") in settings
    assert ("Service", "verpd.service") in settings
    assert ("Accept", "no") in settings

"""What systemd tells verpd and what verpd tells systemd: readiness, sockets, watchdog.

Three small protocols, each the same as libsystemd's (no dependency on it):

- ``notify(state)``: ``sd_notify``. A datagram with ``READY=1``, ``WATCHDOG=1`` or
  ``STOPPING=1`` to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket).
  A failure is logged, never raised: the daemon runs the same without systemd.
- ``listen_fds_with_names()``: ``sd_listen_fds_with_names``. The sockets a ``.socket``
  unit passed (fds 3, 4, ... when ``$LISTEN_PID`` is our pid), named by
  ``FileDescriptorName=``. ``match_sockets`` then gives each one to a listener.
- ``watchdog_interval()`` and ``run_watchdog``: ``sd_watchdog_enabled``. With
  ``WatchdogSec=`` systemd restarts verpd when ``WATCHDOG=1`` stops arriving; we send it
  every half interval while the event loop runs and the database answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass

import structlog

from verpd.config import HostPort
from verpd.errors import StartupError

log = structlog.get_logger("verpd.systemd")

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first passed descriptor


def notify(state: str) -> None:
    """Send ``state`` (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ...) to systemd, if it listens."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return
    if target.startswith("@"):
        address = "\0" + target[1:]  # an abstract socket
    elif target.startswith("/"):
        address = target
    else:
        log.warning("systemd.notify_failed", state=state, error=f"unsupported NOTIFY_SOCKET address {target!r}")
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)  # never stall the event loop on a full queue: drop and log instead
        try:
            sock.sendto(state.encode(), address)
        except OSError as e:
            log.warning("systemd.notify_failed", state=state, error=e.strerror or str(e))


@dataclass(frozen=True)
class PassedSocket:
    """One descriptor systemd passed: its ``FileDescriptorName=`` and the socket."""

    name: str
    sock: socket.socket

    def describe(self) -> str:
        """``fd 3 'lmtp' (127.0.0.1:8024)``: how error messages name it."""
        return f"fd {self.sock.fileno()} {self.name!r} ({_address_text(self.sock)})"


def listen_fds_with_names(environ: MutableMapping[str, str] | None = None) -> list[PassedSocket]:
    """The sockets systemd passed us, with their names; ``[]`` when none are ours.

    As ``sd_listen_fds_with_names(unset_environment=1)``: descriptors
    ``3 .. 3+$LISTEN_FDS-1``, only when ``$LISTEN_PID`` is this process (a process
    that merely inherited the variables gets none), marked close-on-exec so the
    commands verpd runs do not inherit them. ``LISTEN_*`` leave the environment in
    every case. A name is ``"unknown"`` when ``$LISTEN_FDNAMES`` is missing or does
    not fit.
    """
    env = os.environ if environ is None else environ
    pid_text, count_text, names_text = (env.pop(k, None) for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"))
    if pid_text is None or count_text is None:
        return []
    try:
        pid, count = int(pid_text), int(count_text)
    except ValueError:
        log.warning("systemd.listen_fds_invalid", listen_pid=pid_text, listen_fds=count_text)
        return []
    if pid != os.getpid() or count <= 0:
        return []
    names = names_text.split(":") if names_text else []
    if len(names) != count:
        if names_text is not None:
            log.warning("systemd.listen_fdnames_invalid", listen_fds=count, listen_fdnames=names_text)
        names = ["unknown"] * count
    passed = []
    for fd, name in zip(range(LISTEN_FDS_START, LISTEN_FDS_START + count), names):
        try:
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)
        except OSError as e:
            raise StartupError(
                f"systemd passed fd {fd} {name!r}, which is not a socket ({e.strerror or e}); "
                "check the ListenStream= lines of the socket unit",
                status=os.EX_CONFIG,
            ) from e
        passed.append(PassedSocket(name, sock))
    return passed


def listen_fds(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets systemd passed us (``sd_listen_fds``); see :func:`listen_fds_with_names`."""
    return [p.sock for p in listen_fds_with_names(environ)]


@dataclass(frozen=True)
class Wanted:
    """A listener verpd would bind: its ``FileDescriptorName=``, config key and address (None: off)."""

    name: str  # lmtp, smtp, http
    key: str  # server.lmtp, ...
    endpoint: HostPort | None


def match_sockets(passed: list[PassedSocket], wanted: list[Wanted]) -> dict[str, list[socket.socket]]:
    """Give each passed socket to a listener: by its address, else by its name.

    The address comes first because ``FileDescriptorName=`` names every socket of a
    unit alike: one ``verpd.socket`` with an LMTP and an SMTP stream names both
    ``lmtp``. A socket whose address is no configured listener's goes by its name
    (``lmtp``, ``smtp``, ``http``): the socket unit's address then wins over the
    configuration, with a warning. A socket that fits neither way is an error
    naming it, as is one that is not a TCP listening socket.
    """
    found: dict[str, list[socket.socket]] = {}
    by_name = {w.name: w for w in wanted}
    for p in passed:
        if p.sock.family not in (socket.AF_INET, socket.AF_INET6) or p.sock.type != socket.SOCK_STREAM:
            raise StartupError(
                f"systemd passed {p.describe()}, which is not a TCP socket; verpd listens on TCP only: "
                "use ListenStream=HOST:PORT in the socket unit",
                status=os.EX_CONFIG,
            )
        if not p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise StartupError(
                f"systemd passed {p.describe()}, which is not a listening socket; set Accept=no in the socket unit",
                status=os.EX_CONFIG,
            )
        listener = next((w for w in wanted if w.endpoint is not None and _same_address(p.sock, w.endpoint)), None)
        if listener is None and p.name in by_name:
            listener = by_name[p.name]
            if listener.endpoint is None:
                raise StartupError(
                    f"systemd passed {p.describe()}, but {listener.key} is not set; "
                    f"set {listener.key} to that address, or remove the socket from the socket unit",
                    status=os.EX_CONFIG,
                )
            log.warning("systemd.socket_address_differs", name=p.name, key=listener.key, configured=str(listener.endpoint), passed=_address_text(p.sock))
        if listener is None:
            configured = ", ".join(f"{w.key} {w.endpoint}" for w in wanted if w.endpoint is not None)
            raise StartupError(
                f"systemd passed {p.describe()}, which matches no listener ({configured}); "
                f"set FileDescriptorName= to one of {', '.join(by_name)} in the socket unit, "
                "or make its ListenStream= the configured address",
                status=os.EX_CONFIG,
            )
        found.setdefault(listener.name, []).append(p.sock)
    return found


def _same_address(sock: socket.socket, endpoint: HostPort) -> bool:
    host, port = sock.getsockname()[:2]
    if port != endpoint.port:
        return False
    try:
        candidates = {endpoint.host} if _ip(endpoint.host) else {
            info[4][0] for info in socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
        }
    except OSError:
        return False
    here = _ip(host)
    return here is not None and any(_ip(c) == here for c in candidates)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _address_text(sock: socket.socket) -> str:
    try:
        address = sock.getsockname()
    except OSError:
        return "?"
    if isinstance(address, tuple):
        return str(HostPort(address[0], address[1]))
    return repr(address)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog timeout in seconds (``WatchdogSec=``), or None when it is off.

    As ``sd_watchdog_enabled``: ``$WATCHDOG_USEC`` set and positive, and
    ``$WATCHDOG_PID`` unset or our pid. Ping at least every half of it.
    """
    env = os.environ if environ is None else environ
    usec_text, pid_text = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec_text:
        return None
    try:
        usec = int(usec_text)
        pid = int(pid_text) if pid_text else None
    except ValueError:
        log.warning("systemd.watchdog_invalid", watchdog_usec=usec_text, watchdog_pid=pid_text)
        return None
    if usec <= 0 or (pid is not None and pid != os.getpid()):
        return None
    return usec / 1_000_000


async def run_watchdog(interval: float, healthy: Callable[[float], Awaitable[bool]]) -> None:
    """Send ``WATCHDOG=1`` every ``interval / 2`` seconds while ``healthy(timeout)`` says so.

    A ping proves the event loop turns; ``healthy`` (given a timeout of a quarter
    interval) adds that the database answers. When it does not, the ping is skipped:
    if that lasts a whole interval, systemd restarts verpd.
    """
    period = interval / 2
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        if await healthy(period / 2):
            notify("WATCHDOG=1")
        else:
            log.warning("systemd.watchdog_skipped", reason="health check failed")
        due = max(due + period, loop.time())  # after a stall, carry on from now rather than ping in a burst
        await asyncio.sleep(due - loop.time())

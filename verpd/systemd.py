"""What systemd tells verpd and what verpd tells systemd: readiness and the watchdog.

Two small protocols, each the same as libsystemd's (no dependency on it):

- ``notify(state)``: ``sd_notify``. A datagram with ``READY=1``, ``WATCHDOG=1`` or
  ``STOPPING=1`` to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket).
  A failure is logged, never raised: the daemon runs the same without systemd.
- ``watchdog_interval()`` and ``run_watchdog``: ``sd_watchdog_enabled``. With
  ``WatchdogSec=`` systemd restarts verpd when ``WATCHDOG=1`` stops arriving; we send it
  every half interval while the event loop runs and the database answers.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

import structlog

log = structlog.get_logger("verpd.systemd")


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

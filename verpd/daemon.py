"""``verpd serve``: wire the pieces together on one event loop and run until SIGTERM.

Start-up: make the schema ready (create it on an empty database; an outdated one only with
``database.auto_upgrade``, otherwise refuse with the command that upgrades it), bind the listeners with ``loop.create_server`` (not
aiosmtpd's threaded Controller, so the database engine is shared), start the outbox
worker and the pruner, then tell systemd ``READY=1``. On SIGTERM or SIGINT: stop
accepting connections, close idle sessions at once (421), let DATA in progress be
received and recorded (up to ``server.shutdown_timeout``; a transaction that has
recipients gets a few seconds to send its DATA), close the remaining connections,
and exit 0.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import resource
import signal
import socket
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from aiosmtpd.smtp import SMTP
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from verpd import dkim, log as log_module, systemd
from verpd import store as store_module
from verpd.config import Config, HostPort
from verpd.errors import StartupError, StoreError
from verpd.http import HttpIntake
from verpd.lmtp import BounceHandler, ConnectionLimit, VerpdLMTP, VerpdSMTP, protocol_factory
from verpd.actions.command import CommandRunner
from verpd.actions.mediawiki import MediaWikiUnconfirm
from verpd.actions.webhook import WebhookSender
from verpd.notify import Forwarder
from verpd.outbox import OutboxWorker
from verpd.store import OutboxItem
from verpd.events import ActionKind, Event
from verpd.pipeline import Pipeline
from verpd.prune import run_pruner

log = structlog.get_logger("verpd.daemon")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """The running service: listeners, background tasks and the shutdown sequence."""

    def __init__(self, config: Config, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.engine = store_module.engine_for(config.database)
        self.store = store_module.Store(self.engine, write_wait=config.server.write_wait)
        self.webhook = WebhookSender(lambda tenant: config.tenant(tenant).actions.webhook, clock)
        self.command = CommandRunner(lambda tenant: config.tenant(tenant).actions.command)
        self.mediawiki = MediaWikiUnconfirm(lambda tenant: config.tenant(tenant).actions.mediawiki, clock)
        self.outbox = OutboxWorker(
            self.store,
            {
                ActionKind.FORWARD: Forwarder(config.forward, config.server.hostname, sign=self._signer()),
                ActionKind.WEBHOOK: _event_sender(self.webhook.send),
                ActionKind.COMMAND: _event_sender(self.command.send),
                ActionKind.MEDIAWIKI: _event_sender(self.mediawiki.send),
            },
            retry_min=config.outbox.retry_min,
            retry_max=config.outbox.retry_max,
            max_attempts=config.outbox.max_attempts,
            lease=config.outbox.lease,
            clock=clock,
        )
        self.pipeline = Pipeline(config, self.store, on_forward_queued=self.outbox.wake, dkim=self._dkim)
        self.handler = BounceHandler(self.pipeline, config.server, clock)
        self.servers: list[asyncio.Server] = []
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.connections = ConnectionLimit(config.server.max_connections)  # one cap for the LMTP and SMTP listeners
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()
        self._stopped = False

    def _signer(self) -> Callable[[bytes], bytes] | None:
        signing = self.config.dkim.sign
        if signing is None:
            return None
        dkim.sign(b"From: verpd@localhost\r\n\r\nkey check\r\n", signing)  # an unusable key fails at start-up, not at the first forward
        return functools.partial(dkim.sign, signing=signing)

    async def _dkim(self, raw: bytes) -> str:
        """The DKIM result recorded with each bounce and complaint (a signal; a gate only for complaints if so configured)."""
        checked = await dkim.check(raw, resolver=dkim.system_resolver, timeout=self.config.dkim.timeout, authserv_id=self.config.dkim.authserv_id)
        return checked.result.value

    async def start(self) -> None:
        """Create the schema, bind the listeners and start the background tasks."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        upgraded = await store_module.ensure_schema(self.engine, auto_upgrade=self.config.database.auto_upgrade)
        if upgraded is not None:
            log.info("schema.upgraded", from_revision=upgraded[0], to_revision=upgraded[1])
        # Sockets a systemd .socket unit passed are used as they are; the others are bound here.
        self.activated = systemd.match_sockets(systemd.listen_fds_with_names(), [
            systemd.Wanted("lmtp", "server.lmtp", self.config.server.lmtp),
            systemd.Wanted("smtp", "server.smtp", self.config.server.smtp),
            systemd.Wanted("http", "http.listen", self.config.http.listen),
        ])
        listeners = [("lmtp", VerpdLMTP, self.config.server.lmtp)]
        if self.config.server.smtp:
            listeners.append(("smtp", VerpdSMTP, self.config.server.smtp))
        loop = asyncio.get_running_loop()
        for name, cls, endpoint in listeners:
            factory = protocol_factory(cls, self.handler, self.config.server, self.sessions.add, self.connections)
            backlog = self.config.server.backlog  # asyncio's default is 100; a passed socket gets it too (listen() again)
            for sock in self.activated.get(name, []):
                self.servers.append(await loop.create_server(factory, sock=sock, backlog=backlog))
            if name not in self.activated:
                try:
                    self.servers.append(await loop.create_server(factory, endpoint.host, endpoint.port, backlog=backlog))
                except OSError as e:
                    raise listen_error(f"server.{name}", endpoint, e) from e
        if self.config.http.listen is not None:  # after the mail listeners: api.php, /metrics, /healthz, /v1
            self.http = HttpIntake(self.config, self.pipeline, self.store, self.clock)
            passed = self.activated.get("http", [])
            await self.http.start(passed[0] if passed else None)
        self.tasks = [
            asyncio.create_task(self.outbox.run(), name="outbox"),
            asyncio.create_task(run_pruner(self.store, self.config.policy, self.clock), name="prune"),
            asyncio.create_task(_flush_log_summaries(), name="log-summaries"),
        ]
        url = make_url(self.config.database.url)
        log.info(
            "server.started",
            listen=[str(endpoint) for endpoint in self.bound()],
            database=url.render_as_string(hide_password=True),
            verp_format=self.config.verp.format.value,
            verp_domain=self.config.verp.domain,
            act=self.config.policy.act,
        )
        for warning in self.config.warnings():
            log.warning("config.warning", message=warning)

    def bound(self) -> list[HostPort]:
        """The addresses actually listened on (useful with port 0)."""
        found = []
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                found.append(HostPort(host, port))
        return found

    async def stop(self) -> None:
        """Stop accepting, let transactions in progress finish, then close everything."""
        if self._stopped:
            return
        self._stopped = True
        for server in self.servers:
            server.close()  # stop accepting first: once "server.stopping" is logged, the port is closed
        http: HttpIntake | None = getattr(self, "http", None)  # set by _start when http.listen is
        if http is not None:
            await http.stop_accepting()
        log.info("server.stopping", open_sessions=sum(s.transport is not None for s in self.sessions))
        for session in list(self.sessions):
            if isinstance(session, VerpdLMTP | VerpdSMTP):
                session.shut_down()  # idle ones close now; DATA in progress finishes first
        deadline = asyncio.get_running_loop().time() + self.config.server.shutdown_timeout
        while self._busy() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if http is not None:
            await http.close()  # waits for its own requests and deliveries in progress
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
        await self.webhook.aclose()
        await self.mediawiki.aclose()
        await self.store.close()
        await self.engine.dispose()
        log_module.flush_suppressed(everything=True)
        log.info("server.stopped", unfinished=self._busy())

    def _busy(self) -> bool:
        """True while a message is being recorded or a session is still open.

        After :meth:`~verpd.lmtp._Limits.shut_down` only sessions receiving or recording
        DATA, or about to send it, are still open: each closes itself when done.
        """
        return bool(self.handler.in_flight) or any(s.transport is not None for s in self.sessions)

    async def database_answers(self, timeout: float) -> bool:
        """Whether the write path runs ``SELECT 1`` in a write transaction within ``timeout`` seconds (the watchdog's health
        check): it fails while the database is down, while another program holds SQLite's write lock, and while the
        writer itself is stuck (a dead disk), each a state in which no bounce can be recorded."""
        try:
            async with asyncio.timeout(timeout):
                await self.store.run(lambda tx: tx.conn.execute(sa.text("SELECT 1")), wait=timeout)
        except (OSError, SQLAlchemyError, StoreError, TimeoutError) as e:
            log.warning("database.unanswered", error=str(e) or type(e).__name__)
            return False
        return True


def _event_sender(send: Callable[[Event], Awaitable[object]]) -> Callable[[OutboxItem], Awaitable[None]]:
    """An outbox sender for an action: the item's payload is the event it carries out."""

    async def carry_out(item: OutboxItem) -> None:
        if not isinstance(item.payload, Event):
            raise TypeError(f"outbox item {item.id} of kind {item.kind.value} carries no event")
        await send(item.payload)

    return carry_out


async def _flush_log_summaries() -> None:
    """Write the log.suppressed lines of rate-limited events as their intervals end."""
    while True:
        await asyncio.sleep(1.0)
        log_module.flush_suppressed()


FD_RESERVE = 64  # descriptors beside the connections: database, HTTP, outbox, pipes


def ensure_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to ``needed`` if the hard limit allows; returns the soft limit.

    Past it accept() fails with EMFILE and connections wait unanswered in the listen
    queue. Under systemd, verpd.service's LimitNOFILE= sets it (its system call filter
    forbids setrlimit).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (OSError, ValueError):
        pass
    if soft < needed:
        log.warning("server.fd_limit_low", limit=soft, needed=needed,
                    fix="raise LimitNOFILE= in verpd.service (or ulimit -n), or lower server.max_connections and server.backlog")
    return soft


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """asyncio's exception handler, except that a failed accept() is one rate-limited event (not a traceback each time)."""
    error = context.get("exception")
    if context.get("message") == "socket.accept() out of system resource" and isinstance(error, OSError):
        log.error("server.accept_failed", error=errno.errorcode.get(error.errno or 0, str(error.errno)), message=error.strerror)
        return
    loop.default_exception_handler(context)


async def serve(config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit status."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_exception)
    server = config.server
    ensure_fd_limit(server.max_connections + server.backlog + FD_RESERVE)  # refused connections hold a descriptor briefly
    daemon = Daemon(config)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.stopping.set)  # before start: a SIGTERM during it stops right after
    await daemon.start()
    systemd.notify("READY=1")  # the listeners are bound and the database answered (ensure_schema)
    interval = systemd.watchdog_interval()
    if interval is not None:
        daemon.tasks.append(asyncio.create_task(systemd.run_watchdog(interval, daemon.database_answers), name="watchdog"))
    await daemon.stopping.wait()
    systemd.notify("STOPPING=1")
    await daemon.stop()
    return 0


_LISTEN_ERRORS = {
    errno.EADDRINUSE: ("address already in use; stop the other process or choose another port", os.EX_UNAVAILABLE),
    errno.EACCES: (
        "permission denied; use a port above 1023, or let systemd bind it (systemd/verpd.socket)",
        os.EX_NOPERM,
    ),
    errno.EADDRNOTAVAIL: (
        "address not available on this host; use an address of one of its interfaces "
        "(or order the service after network-online.target)",
        os.EX_UNAVAILABLE,
    ),
}


def listen_error(key: str, endpoint: HostPort, error: OSError) -> StartupError:
    """The one-line StartupError for a listener that cannot bind: what, where, why and the fix."""
    if isinstance(error, socket.gaierror):
        reason, status = f"cannot resolve {endpoint.host!r} ({error.strerror}); use an IP address", os.EX_UNAVAILABLE
    else:
        reason, status = _LISTEN_ERRORS.get(error.errno or 0, ((error.strerror or str(error)).lower(), os.EX_UNAVAILABLE))
    return StartupError(f"cannot listen on {endpoint} ({key}): {reason}", status=status)

"""The LMTP (and plain SMTP) intake: aiosmtpd protocol classes and our handler.

This is the one place where outcomes and errors become reply codes:

RCPT    250 2.1.5 a VERP address we signed
        550 5.1.1 not our domain, or not a VERP address
        550 5.7.1 bad signature / expired / from the future (each with its own text)
        554 5.7.1 the client is not in server.allowed_clients
        451 4.3.0 our own failure
        452 4.5.3 more than server.max_recipients in one transaction
DATA    one reply per accepted recipient (RFC 2033), on every path:
        250 2.0.0 after the records are committed
        552 5.3.4 larger than server.max_message_size
        451 4.3.2 the database write path stayed busy past server.write_wait: retry soon
        554 5.6.0 a line longer than 1 MiB
        451 4.3.0 our own failure (database down, bug): the MTA keeps it and retries
any     500/501/502/503 from aiosmtpd: bad syntax, unknown command, wrong order
Limits  (server.*; each closes the connection after its 421, README "Limits"):
        421 4.3.2 greeting when max_connections are open; any command while shutting down
        421 4.4.2 idle_timeout without a command; DATA longer than data_timeout;
                  connection_lifetime or max_commands used up (checked outside a transaction)
        421 4.7.0 max_errors error replies without a delivered message

The size limit is enforced while the message is read (aiosmtpd's ``data_size_limit``
= ``server.max_message_size``), so an oversized message never sits in memory.
aiosmtpd answers that and a few other DATA errors itself with a single line
(aio-libs/aiosmtpd#517; shared/reference/peers.md §3), which would desynchronise an
LMTP client with several recipients: :class:`_DataReplies` repeats such an engine
reply once per recipient and gives it an enhanced status code. A client that disconnects while a
message is being recorded does not cancel the commit: the MTA retries and the
duplicate is recognised.

:class:`_Limits` bounds what one client can hold: a slot among ``max_connections``
(:class:`ConnectionLimit`, shared by the LMTP and SMTP listeners), time and commands,
and error replies. It hooks aiosmtpd 1.4 at ``timeout`` and ``push`` and at private
names (``_timeout_cb``, ``_reset_timeout``, the ``_smtp_methods`` table,
``_call_handler_hook``): tests/test_hostile.py notices if an upgrade moves them. On
SIGTERM, :meth:`_Limits.shut_down` closes a session at once unless its DATA is
being received or recorded, or its transaction has recipients and may still send
DATA (:data:`SHUTDOWN_GRACE`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from verpd import metrics
from verpd.config import ServerConfig
from verpd.errors import StoreError, VerpError, VerpErrorKind, WriteBusy
from verpd.model import VerpAddress
from verpd.pipeline import Outcome, Pipeline

log = structlog.get_logger("verpd.lmtp")

RCPT_OK = "250 2.1.5 Recipient ok"
CLIENT_REFUSED = "554 5.7.1 Client host not allowed to deliver here"
TOO_BIG = "552 5.3.4 Message too big for system"
TEMPFAIL = "451 4.3.0 Internal error, please try again later"
BUSY = "451 4.3.2 Busy recording other messages, please try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients in one transaction, send the rest in another"
TOO_MANY_CONNECTIONS = "421 4.3.2 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
IDLE_TIMEOUT = "421 4.4.2 No command for too long, closing connection"
DATA_TIMEOUT = "421 4.4.2 DATA took too long, closing connection"
LIFETIME_OVER = "421 4.4.2 Connection open for too long, please reconnect"
TOO_MANY_COMMANDS = "421 4.4.2 Too many commands on one connection, please reconnect"
TOO_MANY_ERRORS = "421 4.7.0 Too many errors, closing connection"
SHUTDOWN_GRACE = 5.0  # seconds a transaction with recipients has after SIGTERM to send its DATA
_RCPT_REJECTIONS = {
    VerpErrorKind.NOT_OURS: "550 5.1.1 Not a VERP address of this server",
    VerpErrorKind.BAD_SIGNATURE: "550 5.7.1 VERP address signature does not verify",
    VerpErrorKind.EXPIRED: "550 5.7.1 VERP address has expired",
    VerpErrorKind.FUTURE: "550 5.7.1 VERP address send time lies in the future",
}
_DATA_OK = {
    Outcome.RECORDED: "250 2.0.0 Bounce recorded",
    Outcome.DUPLICATE: "250 2.0.0 Bounce already recorded",
    Outcome.COMPLAINT: "250 2.0.0 Complaint recorded",
    Outcome.AUTOREPLY: "250 2.0.0 Auto-reply, not a bounce",
    Outcome.FORWARDED: "250 2.0.0 Not understood, queued for the administrators",
    Outcome.UNRECOGNIZED: "250 2.0.0 Accepted, no delivery failure found",
}
# aiosmtpd's own single-line DATA replies, by code, with the enhanced status we send instead.
_ENGINE_REPLIES = {552: TOO_BIG, 500: "554 5.6.0 Message has a line that is too long"}
_ENHANCED = re.compile(r"\d{3}[ -]\d\.\d{1,3}\.\d{1,3}(?:\s|$)")
LINE_LENGTH_LIMIT = 1 << 20  # aiosmtpd's default of 1001 would answer "500 Line too long" to sloppy MTAs


def rcpt_rejection(error: VerpError) -> str:
    """The RCPT reply for a recipient that is not a valid VERP address of ours."""
    return _RCPT_REJECTIONS[error.kind]


class BounceHandler:
    """aiosmtpd handler: verifies VERP recipients at RCPT, records messages at DATA."""

    def __init__(self, pipeline: Pipeline, server: ServerConfig, clock: Callable[[], datetime]) -> None:
        self.pipeline = pipeline
        self.allowed = server.allowed_clients
        self.max_recipients = server.max_recipients
        self.clock = clock
        self.in_flight = 0

    def _client_allowed(self, session: Session) -> bool:
        try:
            ip = ipaddress.ip_address(session.peer[0].split("%", 1)[0])
        except (ValueError, TypeError, IndexError):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allowed)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        intake = "lmtp" if isinstance(server, LMTP) else "smtp"
        if not self._client_allowed(session):
            log.warning("rcpt.rejected", reason="client_not_allowed", client=str(session.peer[0]), rcpt=address)
            metrics.rcpt_outcome(intake, metrics.RCPT_REFUSED_CLIENT)
            return CLIENT_REFUSED
        if len(envelope.rcpt_tos) >= self.max_recipients:
            if len(envelope.rcpt_tos) == self.max_recipients and not getattr(envelope, "verpd_over_limit", False):
                envelope.verpd_over_limit = True  # type: ignore[attr-defined]  # one log line per transaction, not per RCPT
                log.warning("rcpt.too_many", limit=self.max_recipients, client=str(session.peer[0]))
            return TOO_MANY_RECIPIENTS
        try:
            verp = self.pipeline.check_recipient(address, self.clock())
        except VerpError as e:
            log.info("rcpt.rejected", reason=e.kind.value, client=str(session.peer[0]), rcpt=address, detail=e.detail)
            metrics.rcpt_outcome(intake, e.kind)
            return rcpt_rejection(e)
        except Exception:
            log.exception("rcpt.failed", rcpt=address)
            metrics.rcpt_outcome(intake, metrics.RCPT_ERROR)
            return TEMPFAIL
        metrics.rcpt_outcome(intake, metrics.RCPT_ACCEPTED)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        _accepted(envelope).append(verp)
        return RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = _accepted(envelope)
        raw = envelope.original_content or b""
        self.in_flight += 1
        try:
            # Shielded: a client that hangs up must not cancel a commit halfway.
            outcomes = await asyncio.shield(self.pipeline.deliver(raw, recipients, self.clock()))
        except WriteBusy as e:
            log.warning("data.busy", error=str(e), recipients=len(recipients))
            return _replies(server, [BUSY] * len(recipients))
        except Exception as e:
            log.error("data.failed", error=f"{type(e).__name__}: {e}", recipients=len(recipients), exc_info=not isinstance(e, StoreError))
            return _replies(server, [TEMPFAIL] * len(recipients))
        finally:
            self.in_flight -= 1
        return _replies(server, [_DATA_OK[o] for o in outcomes])

    async def handle_exception(self, error: Exception) -> str:
        log.error("session.error", error=f"{type(error).__name__}: {error}")
        return TEMPFAIL


# aiosmtpd quotes a client's unknown command in its 500 reply as received: control and 8-bit
# characters (a bare CR too) and up to a whole line. A reply line is printable ASCII and at most 512 octets
# (RFC 5321 §4.2, §4.5.3.1.5); found by fuzzing.
_UNSENDABLE = re.compile(r"[^\x20-\x7e\r\n]|\r(?!\n)|(?<!\r)\n|[^\r\n]{511}")
_CONTROL = re.compile(r"[^\x20-\x7e]")


def _sendable(status: str) -> str:
    """``status`` with each line's control and non-ASCII characters as "?" and each line cut to 510 characters."""
    return "\r\n".join(_CONTROL.sub("?", line)[:510] for line in status.split("\r\n"))


def _accepted(envelope: Envelope) -> list[VerpAddress]:
    """The decoded VERP addresses accepted so far in this transaction (stored on the envelope)."""
    accepted: list[VerpAddress] | None = getattr(envelope, "verpd_accepted", None)
    if accepted is None:
        accepted = []
        envelope.verpd_accepted = accepted  # type: ignore[attr-defined]
    return accepted


def _replies(server: SMTP, replies: list[str]) -> str:
    """LMTP: one reply per recipient. SMTP: one reply for the message, a failure first.

    A temporary failure wins over a permanent one, so the MTA retries the message.
    """
    if isinstance(server, LMTP):
        return "\r\n".join(replies)
    for first_digit in ("4", "5"):
        for reply in replies:
            if reply.startswith(first_digit):
                return reply
    return replies[0]


class _DataReplies:
    """Gives aiosmtpd's own single-line end-of-DATA replies one line per recipient."""

    line_length_limit = LINE_LENGTH_LIMIT
    per_recipient = False
    _metered = False  # counted in verpd_sessions_open (connection_made can run twice after STARTTLS)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._metered:
            self._metered = True
            metrics.SESSIONS_OPENED.labels(self._protocol_name()).inc()
            metrics.SESSIONS_OPEN.labels(self._protocol_name()).inc()
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self._metered:
            self._metered = False
            metrics.SESSIONS_OPEN.labels(self._protocol_name()).dec()
        super().connection_lost(error)  # type: ignore[misc]

    def _protocol_name(self) -> str:
        return "lmtp" if self.per_recipient else "smtp"

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parser, with CPython's IndexError on a bare ``<`` or ``a@`` (found by fuzzing) read as the
        malformed address it is: ``553 5.1.3``, a client error that counts toward max_errors, not our 451."""
        try:
            return super()._getaddr(arg)  # type: ignore[misc,no-any-return]
        except IndexError:
            return None, None

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope  # type: ignore[attr-defined]
        self._data_replies = len(envelope.rcpt_tos) if self.per_recipient and envelope else 1
        self._awaiting_data_end = False
        try:
            await super().smtp_DATA(arg)  # type: ignore[misc]
        finally:
            self._awaiting_data_end = False

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and getattr(self, "_awaiting_data_end", False):
            self._awaiting_data_end = False
            if not _ENHANCED.match(status):
                code = int(status[:3]) if status[:3].isdigit() else 0
                log.warning("data.engine_reply", reply=status)
                status = "\r\n".join([_ENGINE_REPLIES.get(code, TEMPFAIL)] * max(1, self._data_replies))
        elif isinstance(status, str) and status.startswith("354"):
            self._awaiting_data_end = True
        elif isinstance(status, str) and _UNSENDABLE.search(status):
            status = _sendable(status)
        await super().push(status)  # type: ignore[misc]


class ConnectionLimit:
    """``server.max_connections``, shared by every listener. An episode of refusals is logged twice:
    when the cap is first hit, and with the count of refused connections once a tenth of the
    slots (at least one) are free again."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.low_water = limit - max(1, limit // 10)
        self.refused = 0  # in the episode under way
        self._since: float | None = None  # when the episode began (monotonic), None between episodes

    def admit(self) -> bool:
        """Take a slot, or count a refusal and return False."""
        if self.open < self.limit:
            self.open += 1
            return True
        if self._since is None:
            self._since = time.monotonic()
            log.warning("server.max_connections_reached", limit=self.limit)
        self.refused += 1
        metrics.SESSIONS_LIMITED.labels("max_connections").inc()
        return False

    def release(self) -> None:
        self.open -= 1
        if self._since is not None and self.open <= self.low_water:
            log.warning("server.max_connections_cleared", refused=self.refused, seconds=round(time.monotonic() - self._since, 1))
            self._since, self.refused = None, 0


_ERROR_EXEMPT = ("451",)  # our own failure, not the client's: never counts toward max_errors


class _Limits:
    """Bounds one connection: a slot, idle and DATA timeouts, lifetime, commands and errors.

    Phases: ``command`` (waiting for or running a command), ``data`` (the body is
    arriving: ``data_timeout`` runs instead of ``idle_timeout``), ``recording`` (the
    handler is storing it: no timer; the database has its own timeouts).
    """

    def __init__(self, handler: Any, *, server: ServerConfig, connections: ConnectionLimit, **kwargs: Any) -> None:
        super().__init__(handler, timeout=server.idle_timeout, **kwargs)  # type: ignore[call-arg]
        self.limits = server
        self.connections = connections
        self.phase = "command"
        self.refused = False
        self.stopping = False
        self._admitted = False
        self._opened = 0.0
        self._commands = 0
        self._errors = 0  # error replies since the last delivered message (Postfix: "without delivering mail")
        self._overshoot = 0  # 452 4.5.3 replies in this transaction
        self._overshoot_envelope: Envelope | None = None
        methods: dict[str, Callable[[str | None], Awaitable[None]]] = self._smtp_methods  # type: ignore[has-type]
        self._smtp_methods = {name: self._limited(name, method) for name, method in methods.items()}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._admitted:  # connection_made runs again after STARTTLS
            if not self.connections.admit():
                self.refused = True
                _write_and_close(transport, TOO_MANY_CONNECTIONS)  # the greeting: never a silent drop
                return
            self._admitted = True
            self._opened = time.monotonic()
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return
        if self._admitted:
            self._admitted = False
            self.connections.release()
        super().connection_lost(error)  # type: ignore[misc]

    @property
    def client(self) -> str:
        session: Session | None = self.session  # type: ignore[attr-defined]
        return str(session.peer[0]) if session is not None and session.peer else "?"

    def close_with(self, reply: str, limit: str) -> None:
        """Answer ``reply`` (a 421) and close the connection; ``limit`` names why, in the log and the metrics."""
        transport = self.transport  # type: ignore[attr-defined]
        if transport is None or transport.is_closing():
            return
        if limit == "shutdown":
            log.info("session.limited", limit=limit, client=self.client, phase=self.phase)
        else:
            log.warning("session.limited", limit=limit, client=self.client, phase=self.phase)
        metrics.SESSIONS_LIMITED.labels(limit).inc()
        _write_and_close(transport, reply)

    def _timeout_cb(self) -> None:
        if self.phase == "data":
            self.close_with(DATA_TIMEOUT, "data_timeout")
        elif self.stopping:
            self.close_with(SHUTTING_DOWN, "shutdown")
        else:
            self.close_with(IDLE_TIMEOUT, "idle_timeout")

    def shut_down(self) -> None:
        """SIGTERM: close now, unless DATA is under way or the transaction has recipients (then soon)."""
        if self.refused or self.transport is None:  # type: ignore[attr-defined]
            return
        self.stopping = True
        if self.phase != "command":
            return  # closed after the DATA replies (push)
        envelope: Envelope | None = self.envelope  # type: ignore[attr-defined]
        if envelope is not None and envelope.rcpt_tos:
            self._reset_timeout(SHUTDOWN_GRACE)  # type: ignore[attr-defined]  # then _timeout_cb closes it
        else:
            self.close_with(SHUTTING_DOWN, "shutdown")

    def _limited(self, name: str, method: Callable[[str | None], Awaitable[None]]) -> Callable[[str | None], Awaitable[None]]:
        """``method`` (an ``smtp_*`` command), run only while the connection is within its limits."""

        async def run(arg: str | None) -> None:
            transport = self.transport  # type: ignore[attr-defined]
            if transport is None or transport.is_closing():
                return  # closed by a limit: pipelined commands still buffered are not run
            self._commands += 1
            envelope: Envelope | None = self.envelope  # type: ignore[attr-defined]
            finishing = name in ("RCPT", "DATA") and envelope is not None and envelope.mail_from is not None
            refusal = None if name == "QUIT" else self._refusal(finishing, envelope)
            if refusal is not None:
                self.close_with(*refusal)
                return
            await method(arg)

        return run

    def _refusal(self, finishing: bool, envelope: Envelope | None) -> tuple[str, str] | None:
        """The 421 and the limit's name if a command must not run now, else None."""
        if self.stopping and not (finishing and envelope is not None and envelope.rcpt_tos):
            return SHUTTING_DOWN, "shutdown"
        if finishing:  # a transaction under way may end: its RCPTs and DATA are bounded on their own
            return None
        if time.monotonic() - self._opened > self.limits.connection_lifetime:
            return LIFETIME_OVER, "connection_lifetime"
        if self._commands > self.limits.max_commands:
            return TOO_MANY_COMMANDS, "max_commands"
        return None

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        if command != "DATA":
            return await super()._call_handler_hook(command, *args)  # type: ignore[misc]
        self.phase = "recording"
        timer = self._timeout_handle  # type: ignore[has-type]
        if timer is not None:
            timer.cancel()
        try:
            return await super()._call_handler_hook(command, *args)  # type: ignore[misc]
        finally:
            self.phase = "command"
            if self.transport is not None:  # type: ignore[attr-defined]
                # push closes a stopping session after the DATA replies; this timer, if they never come
                self._reset_timeout(SHUTDOWN_GRACE if self.stopping else None)  # type: ignore[attr-defined]

    async def push(self, status: Any) -> None:
        data_end = bool(getattr(self, "_awaiting_data_end", False))
        await super().push(status)  # type: ignore[misc]
        if not isinstance(status, str):
            return
        if status.startswith("354"):
            self.phase = "data"
            self._reset_timeout(self.limits.data_timeout)  # type: ignore[attr-defined]
        elif data_end:
            self.phase = "command"
            if any(line.startswith("2") for line in status.split("\r\n")):
                self._errors = 0
            if self.stopping:
                self.close_with(SHUTTING_DOWN, "shutdown")
            elif self.transport is not None:  # type: ignore[attr-defined]
                self._reset_timeout()  # type: ignore[attr-defined]
        elif status[:1] in ("4", "5") and self._counts_as_error(status):
            self._errors += 1
            if self._errors >= self.limits.max_errors:
                self.close_with(TOO_MANY_ERRORS, "max_errors")

    def _counts_as_error(self, status: str) -> bool:
        if status.startswith(_ERROR_EXEMPT) or status.startswith("421"):
            return False
        if status.startswith(TOO_MANY_RECIPIENTS[:9]):
            # Postfix's smtpd_recipient_overshoot_limit: an MTA sending more recipients than we
            # take is told 452 without penalty, up to max_recipients more in one transaction.
            envelope = self.envelope  # type: ignore[attr-defined]
            if envelope is not self._overshoot_envelope:
                self._overshoot_envelope, self._overshoot = envelope, 0
            self._overshoot += 1
            return self._overshoot > self.limits.max_recipients
        return True


def _write_and_close(transport: asyncio.BaseTransport, reply: str) -> None:
    transport.write(reply.encode("ascii") + b"\r\n")  # type: ignore[attr-defined]
    transport.close()  # after the buffered reply is sent


class VerpdLMTP(_Limits, _DataReplies, LMTP):
    """LMTP with one reply per recipient on every DATA path."""

    per_recipient = True


class VerpdSMTP(_Limits, _DataReplies, SMTP):
    """Plain SMTP for MTAs that cannot speak LMTP (one reply per message)."""


def protocol_factory(cls: type[_Limits], handler: BounceHandler, server: ServerConfig, track: Callable[[SMTP], None],
                     connections: ConnectionLimit) -> Callable[[], SMTP]:
    """A factory for ``loop.create_server`` that also reports each new protocol to ``track``.

    ``connections`` is the one :class:`ConnectionLimit` of all listeners.
    """

    def make() -> SMTP:
        protocol = cls(
            handler,
            server=server,
            connections=connections,
            data_size_limit=server.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=server.hostname,
            ident="verpd",
        )
        assert isinstance(protocol, SMTP)
        track(protocol)
        return protocol

    return make

"""The LMTP (and plain SMTP) intake: aiosmtpd protocol classes and our handler.

This is the one place where outcomes and errors become reply codes:

RCPT    250 2.1.5 a VERP address we signed
        550 5.1.1 not our domain, or not a VERP address
        550 5.7.1 bad signature / expired / from the future (each with its own text)
        554 5.7.1 the client is not in server.allowed_clients
        451 4.3.0 our own failure
DATA    one reply per accepted recipient (RFC 2033), on every path:
        250 2.0.0 after the records are committed
        552 5.3.4 larger than server.max_message_size
        451 4.3.2 the database write path stayed busy past server.write_wait: retry soon
        451 4.3.0 our own failure (database down, bug): the MTA keeps it and retries

The size limit is enforced while the message is read (aiosmtpd's ``data_size_limit``
= ``server.max_message_size``), so an oversized message never sits in memory.
aiosmtpd answers that and a few other DATA errors itself with a single line
(aio-libs/aiosmtpd#517; shared/reference/peers.md §3), which would desynchronise an
LMTP client with several recipients: :class:`_DataReplies` repeats such an engine
reply once per recipient and gives it an enhanced status code. A client that disconnects while a
message is being recorded does not cancel the commit: the MTA retries and the
duplicate is recognised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable
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
            log.info("rcpt.rejected", reason=e.kind.value, rcpt=address, detail=e.detail)
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
        await super().push(status)  # type: ignore[misc]


class VerpdLMTP(_DataReplies, LMTP):
    """LMTP with one reply per recipient on every DATA path."""

    per_recipient = True


class VerpdSMTP(_DataReplies, SMTP):
    """Plain SMTP for MTAs that cannot speak LMTP (one reply per message)."""


def protocol_factory(cls: type[SMTP], handler: BounceHandler, server: ServerConfig, track: Callable[[SMTP], None]) -> Callable[[], SMTP]:
    """A factory for ``loop.create_server`` that also reports each new protocol to ``track``."""

    def make() -> SMTP:
        protocol = cls(
            handler,
            data_size_limit=server.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=server.hostname,
            ident="verpd",
        )
        track(protocol)
        return protocol

    return make

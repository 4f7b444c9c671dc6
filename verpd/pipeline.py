"""The flow of one accepted message, from raw bytes to durable records.

Only this module knows the whole flow: parse (off the event loop), classify, then in
one transaction record each failure, apply the threshold policy, and queue the
forward of what was not understood. Events are logged only after the commit, so a
logged decision is a durable one. The intakes (``lmtp``) turn the returned
outcomes, or an exception, into replies.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from verpd import policy
from verpd.classify import classify
from verpd.config import Config
from verpd.model import BounceRecord, Decision, RecipientFacts, Report, ReportKind, Severity, VerpAddress, Verdict
from verpd.parse import parse
from verpd.store import Store, Transaction, dedup_key
from verpd.verp import Verp

log = structlog.get_logger("verpd.pipeline")

FORWARD = "forward"


class Outcome(enum.Enum):
    """What happened to one accepted recipient of a message."""

    RECORDED = "recorded"  # at least one new failure stored
    DUPLICATE = "duplicate"  # every failure was already stored
    COMPLAINT = "complaint"  # an ARF complaint, stored as one
    AUTOREPLY = "autoreply"  # an auto-reply or challenge-response: nothing to record
    FORWARDED = "forwarded"  # nothing understood (or an auto-reply, if so configured); queued for the admins
    UNRECOGNIZED = "unrecognized"  # nothing understood and no forward.to configured


@dataclass
class _Events:
    """Log lines to emit once the transaction has committed."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append((level, event, fields))

    def emit(self) -> None:
        for level, event, fields in self.lines:
            getattr(log, level)(event, **fields)


class Pipeline:
    """Verifies recipients and turns accepted messages into durable records."""

    def __init__(self, config: Config, store: Store, *, on_forward_queued: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.verp = Verp(config.verp)
        self._on_forward_queued = on_forward_queued

    def check_recipient(self, address: str, now: datetime) -> VerpAddress:
        """The decoded VERP address, or :class:`~verpd.errors.VerpError`."""
        return self.verp.verify(address, int(now.timestamp()))

    async def deliver(self, raw: bytes, recipients: list[VerpAddress], received_at: datetime) -> list[Outcome]:
        """Record ``raw`` for each accepted recipient; one outcome per recipient, in order.

        Returns only after everything is committed; raises (``StoreError`` or any
        bug) if it was not, in which case nothing was committed.
        """
        report = await asyncio.get_running_loop().run_in_executor(None, _parse_safely, raw, self.config.parse.max_recipients)
        failures = [(facts, verdict) for facts in report.recipients if (verdict := classify(facts, report.kind, report.detector)).severity is not Severity.NONE]
        events = _Events()
        async with self.store.transaction() as tx:
            if report.kind is ReportKind.FEEDBACK:
                outcomes = [await self._complaints(tx, report, r, received_at, events) for r in recipients]
            elif report.kind in (ReportKind.AUTOREPLY, ReportKind.CHALLENGE):
                outcome = await self._autoreply(tx, report, raw, recipients, received_at, events)
                outcomes = [outcome] * len(recipients)
            elif failures:
                outcomes = [await self._record(tx, report, failures, r, received_at, events) for r in recipients]
            else:
                outcome = await self._unrecognized(tx, report, raw, recipients, received_at, events)
                outcomes = [outcome] * len(recipients)
        events.emit()
        if Outcome.FORWARDED in outcomes:
            self._on_forward_queued()
        return outcomes

    async def _record(
        self,
        tx: Transaction,
        report: Report,
        failures: list[tuple[RecipientFacts, Verdict]],
        rcpt: VerpAddress,
        received_at: datetime,
        events: _Events,
    ) -> Outcome:
        new_hard = added_any = False
        for facts, verdict in failures:
            record = _record_of(report, facts, verdict, rcpt, received_at)
            added = await tx.add_bounce(record)
            added_any |= added
            new_hard |= added and verdict.severity is Severity.HARD
            events.add(
                "info",
                "bounce.recorded" if added else "bounce.duplicate",
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp=rcpt.local_part,
                address=facts.address,
                status=facts.status,
                reason=verdict.reason,
                severity=verdict.severity.value,
                detector=report.detector,
            )
        if added_any:
            subject = await tx.subject(rcpt.tenant, rcpt.user, received_at)
            if new_hard:
                cfg = self.config.policy
                count = await tx.hard_bounce_count(rcpt.tenant, rcpt.user, policy.window_start(received_at, cfg))
                decision = policy.decide(subject.state, subject.flagged, count, cfg)
                why = f"{count} hard bounces within {cfg.period} s (limit {cfg.limit})"
                fields = dict(tenant=rcpt.tenant, user=rcpt.user, hard_bounces=count, limit=cfg.limit, period_s=cfg.period)
                if decision is Decision.SUPPRESS:
                    await tx.suppress(rcpt.tenant, rcpt.user, received_at, why)
                    events.add("warning", "subject.suppressed", **fields)
                elif decision is Decision.WOULD_SUPPRESS:
                    await tx.flag(rcpt.tenant, rcpt.user, received_at)
                    events.add("warning", "subject.would_suppress", **fields, act=False)
        return Outcome.RECORDED if added_any else Outcome.DUPLICATE

    async def _complaints(self, tx: Transaction, report: Report, rcpt: VerpAddress, received_at: datetime, events: _Events) -> Outcome:
        for facts in report.recipients:
            added = await tx.add_complaint(
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp_local=rcpt.local_part,
                received_at=received_at,
                address=facts.address,
                feedback_type=facts.feedback_type or "abuse",
                message_id=report.message_id,
            )
            events.add(
                "warning" if added else "info",
                "complaint.recorded" if added else "complaint.duplicate",
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp=rcpt.local_part,
                address=facts.address,
                feedback_type=facts.feedback_type,
            )
        return Outcome.COMPLAINT

    async def _autoreply(
        self, tx: Transaction, report: Report, raw: bytes, recipients: list[VerpAddress], received_at: datetime, events: _Events
    ) -> Outcome:
        """Auto-replies and challenge-responses are never bounces; forward them only if asked to."""
        first = recipients[0]
        events.add("info", f"{report.kind.value}.ignored", tenant=first.tenant, user=first.user, verp=first.local_part, detector=report.detector)
        if self.config.forward.autoreplies and self.config.forward.to:
            return await self._unrecognized(tx, report, raw, recipients, received_at, events)
        return Outcome.AUTOREPLY

    async def _unrecognized(
        self, tx: Transaction, report: Report, raw: bytes, recipients: list[VerpAddress], received_at: datetime, events: _Events
    ) -> Outcome:
        first = recipients[0]
        verps = [f"{r.local_part}@{self.config.verp.domain}" for r in recipients]
        fields = dict(tenant=first.tenant, user=first.user, verp=first.local_part, message_id=report.message_id, size=len(raw))
        if not self.config.forward.to:
            events.add("info", "bounce.unrecognized", **fields, forwarded=False)
            return Outcome.UNRECOGNIZED
        payload = {
            "verp": verps,
            "tenant": first.tenant,
            "user": first.user,
            "sent_at": first.sent_at.isoformat(),
            "received_at": received_at.isoformat(),
            "message_id": report.message_id,
        }
        key = dedup_key(FORWARD, hashlib.sha256(raw).hexdigest())
        queued = await tx.enqueue(FORWARD, key, payload, raw, received_at)
        events.add("info", "bounce.unrecognized", **fields, forwarded=True, duplicate=not queued)
        return Outcome.FORWARDED


def _parse_safely(raw: bytes, max_recipients: int) -> Report:
    """``parse``, degrading a parser bug to *unrecognized* so a human sees the message."""
    try:
        return parse(raw, max_recipients=max_recipients)
    except Exception:
        log.exception("parse.failed", size=len(raw))
        return Report(ReportKind.UNRECOGNIZED, None)


def _record_of(report: Report, facts: RecipientFacts, verdict: Verdict, rcpt: VerpAddress, received_at: datetime) -> BounceRecord:
    return BounceRecord(
        tenant=rcpt.tenant,
        user=rcpt.user,
        verp_local=rcpt.local_part,
        sent_at=rcpt.sent_at,
        received_at=received_at,
        address=facts.sent_to,
        final_address=facts.address if facts.address != facts.sent_to else None,
        action=facts.action,
        status=facts.status,
        reply_code=facts.reply_code,
        reason=verdict.reason,
        severity=verdict.severity,
        diagnostic=facts.diagnostic,
        remote_mta=facts.remote_mta,
        reporting_mta=facts.reporting_mta,
        detector=report.detector,
        message_id=report.message_id,
        evidence=verdict.evidence,
    )

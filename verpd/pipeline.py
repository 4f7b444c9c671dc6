"""The flow of one accepted message, from raw bytes to durable records and decisions.

Only this module knows the whole flow: parse (a large message off the event loop),
classify, then in one unit of work (``Store.run``; on SQLite committed together with
the other messages that arrived meanwhile) record each failure, ask the policy (``policy.decide``) what it
means for the user, apply the decision (state, stored explanation) and queue every
side effect as an outbox row (webhook, command, MediaWiki, forward to the admins).
Events are logged only after the commit, so a logged decision is a durable one.
The intakes (``lmtp``) turn the returned outcomes, or an exception, into replies.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from verpd import metrics, policy
from verpd.classify import classify
from verpd.config import ActionsConfig, Config
from verpd.events import ActionKind, Event, EventType, ForwardPayload
from verpd.model import BounceRecord, RecipientFacts, Report, ReportKind, Severity, VerpAddress, Verdict
from verpd.parse import parse
from verpd.policy import Action, Decision, PastBounce
from verpd.store import Added, Store, Transaction, dedup_key, event_key, outbox_key
from verpd.verp import VerpSet

log = structlog.get_logger("verpd.pipeline")

# Messages up to this size are parsed on the event loop (a typical DSN of a few KiB takes
# well under a millisecond); larger ones in a worker thread, so one huge report never
# stalls the other sessions (tests/test_parse_linear.py bounds parse time by size).
INLINE_PARSE_MAX = 64 * 1024

# A DKIM check of a raw message: "pass", "fail", "none", ... (``verpd.dkim``), or None when not checked.
DkimCheck = Callable[[bytes], Awaitable[str | None]]


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
    """Log lines to emit once the transaction has committed, and whether the outbox has work."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    queued: bool = False

    def add(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append((level, event, fields))

    def emit(self) -> None:
        for level, event, fields in self.lines:
            getattr(log, level)(event, **fields)
            metrics.observe_event(event, fields)


class Pipeline:
    """Verifies recipients and turns accepted messages into durable records."""

    def __init__(
        self, config: Config, store: Store, *, on_forward_queued: Callable[[], None] = lambda: None, dkim: DkimCheck | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.verp = VerpSet(config.verp, {tenant: t.verp for tenant, t in config.tenants.items()})
        self._on_queued = on_forward_queued
        self._dkim = dkim

    def check_recipient(self, address: str, now: datetime) -> VerpAddress:
        """The decoded VERP address, or :class:`~verpd.errors.VerpError`."""
        return self.verp.verify(address, int(now.timestamp()))

    async def deliver(self, raw: bytes, recipients: list[VerpAddress], received_at: datetime) -> list[Outcome]:
        """Record ``raw`` for each accepted recipient; one outcome per recipient, in order.

        Returns only after everything is committed; raises (``StoreError`` or any
        bug) if it was not, in which case nothing was committed.
        """
        with metrics.PARSE_SECONDS.time():
            if len(raw) <= INLINE_PARSE_MAX:  # cheaper than a hand-off to a thread and back
                report = _parse_safely(raw, self.config.parse.max_recipients)
            else:  # a large message must not stall the other sessions
                report = await asyncio.get_running_loop().run_in_executor(None, _parse_safely, raw, self.config.parse.max_recipients)
        failures = [(facts, verdict) for facts in report.recipients if (verdict := classify(facts, report.kind, report.detector)).severity is not Severity.NONE]
        dkim = await self._dkim(raw) if self._dkim is not None and report.kind in (ReportKind.BOUNCE, ReportKind.FEEDBACK) else None
        outcomes, events = await self.store.run(functools.partial(self._write, raw, report, failures, recipients, received_at, dkim))
        events.emit()
        for o in outcomes:
            metrics.MESSAGES.labels(o.value).inc()
        if events.queued:
            self._on_queued()
        return outcomes

    def _write(
        self, raw: bytes, report: Report, failures: list[tuple[RecipientFacts, Verdict]], recipients: list[VerpAddress],
        received_at: datetime, dkim: str | None, tx: Transaction,
    ) -> tuple[list[Outcome], _Events]:
        """The unit of work of one message (run by the store's writer, maybe beside others in one transaction)."""
        events = _Events()
        keep = self.config.policy.raw_retention > 0 and (failures or report.kind is ReportKind.FEEDBACK)
        raw_id = tx.store_raw(raw, received_at) if keep else None
        if report.kind is ReportKind.FEEDBACK:
            outcomes = [self._complaints(tx, report, r, received_at, events, dkim, raw_id) for r in recipients]
        elif report.kind in (ReportKind.AUTOREPLY, ReportKind.CHALLENGE):
            outcomes = [self._autoreply(tx, report, raw, recipients, received_at, events)] * len(recipients)
        elif failures:
            outcomes = [self._record(tx, report, failures, r, received_at, events, dkim, raw_id) for r in recipients]
        else:
            outcomes = [self._unrecognized(tx, report, raw, recipients, received_at, events)] * len(recipients)
        return outcomes, events

    async def reset(self, tenant: str, user: int, now: datetime, by: str = "cli") -> Decision | None:
        """The user re-confirmed: make the subject active and forget its earlier bounces. None if it has no record."""

        def reset(tx: Transaction) -> tuple[Decision | None, _Events]:
            events = _Events()
            if not tx.has_subject(tenant, user):
                return None, events
            history = tx.subject(tenant, user, now, touch=False)
            decision = policy.decide(history, policy.Reset(by), self.config.tenant(tenant).policy, now)
            self._apply(tx, tenant, user, decision, now, events, detail={"by": by})
            return decision, events

        decision, events = await self.store.run(reset)
        events.emit()
        if events.queued:
            self._on_queued()
        return decision

    def _record(
        self,
        tx: Transaction,
        report: Report,
        failures: list[tuple[RecipientFacts, Verdict]],
        rcpt: VerpAddress,
        received_at: datetime,
        events: _Events,
        dkim: str | None,
        raw_id: int | None,
    ) -> Outcome:
        rules = self.config.tenant(rcpt.tenant).policy
        new: list[PastBounce] = []
        domains: set[str] = set()
        stored = tx.addresses_of(rcpt.local_part, rules.max_failed_per_message)
        excess = 0
        for facts, verdict in failures:
            record = _record_of(report, facts, verdict, rcpt, received_at)
            if record.address.casefold() not in stored:
                if len(stored) >= rules.max_failed_per_message:
                    excess += 1
                    continue
                stored.add(record.address.casefold())
            added = tx.add_bounce(record, raw_id=raw_id, dkim=dkim)
            if added is not Added.DUPLICATE:
                new.append(_past(record))
                if verdict.reason in policy.OUR_PROBLEMS:
                    domains.add(record.address.rpartition("@")[2].lower())
            events.add(
                "info",
                "bounce.duplicate" if added is Added.DUPLICATE else "bounce.recorded",
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp=rcpt.local_part,
                address=facts.address,
                status=facts.status,
                reason=verdict.reason,
                severity=verdict.severity.value,
                detector=report.detector,
                counts=policy.weight(_past(record), rules),
                **({"harder": True} if added is Added.HARDER else {}),
            )
        if excess:
            events.add("warning", "bounce.excess", tenant=rcpt.tenant, user=rcpt.user, verp=rcpt.local_part, dropped=excess,
                       limit=rules.max_failed_per_message)
        if not new:
            return Outcome.DUPLICATE
        history = tx.subject(rcpt.tenant, rcpt.user, received_at)
        since = policy.window_start(received_at, rules, history.reset_at)
        past = tx.history(rcpt.tenant, rcpt.user, since)
        fresh = {(b.verp, b.address.casefold()) for b in new}
        history = policy.History(history.state, history.flagged, history.reset_at, tuple(b for b in past if (b.verp, b.address.casefold()) not in fresh))
        decision = policy.decide(history, policy.Bounces(tuple(new)), rules, received_at)
        if decision.action is not Action.NONE or decision.events:
            self._apply(tx, rcpt.tenant, rcpt.user, decision, received_at, events)
        for domain in sorted(domains):
            self._trouble(tx, rcpt.tenant, domain, received_at, events)
        return Outcome.RECORDED

    def _apply(
        self, tx: Transaction, tenant: str, user: int, decision: Decision, now: datetime, events: _Events, *, detail: dict[str, str] | None = None
    ) -> None:
        """Store the decision (a state change stores it with its evidence) and queue its events for the actions."""
        decision_id = tx.apply(tenant, user, decision, now) if decision.action is not Action.NONE else None
        for event in _events_of(decision, decision_id, tenant, user, now, detail or {}):
            self._queue(tx, event, now, events)
            if event.type is not EventType.BOUNCE_HARD:
                rules = self.config.tenant(tenant).policy
                events.add("warning", event.type.value, tenant=tenant, user=user, id=event.id, rule=event.rule, why=event.reason,
                           addresses=list(event.addresses), hard_bounces=sum(b.severity is Severity.HARD for b in decision.counted),
                           score=decision.score, limit=rules.limit, period_s=rules.period, act=rules.act)

    def _queue(self, tx: Transaction, event: Event, now: datetime, events: _Events) -> None:
        """One outbox row per action that wants ``event``, in the decision's transaction."""
        for kind in _wanting(self.config.tenant(event.tenant).actions, event.type):
            events.queued |= tx.enqueue(kind, outbox_key(kind, event.id), event, b"", now, tenant=event.tenant)

    def _trouble(self, tx: Transaction, tenant: str, domain: str, now: datetime, events: _Events) -> None:
        """A refusal about us from ``domain``: extend its episode, or start one (one ``sender.trouble``) when it passes the threshold."""
        cfg = self.config.trouble
        episode = tx.trouble_episode(domain)
        if episode is not None and now - episode[1] <= timedelta(seconds=cfg.window):
            tx.set_trouble(domain, episode[0], now)
            return
        found = policy.trouble(domain, tx.domain_failures(domain, now - timedelta(seconds=cfg.window)), cfg)
        if found is None:
            return
        tx.set_trouble(domain, now, now)
        event = Event(event_key(EventType.SENDER_TROUBLE, domain, now.isoformat()), EventType.SENDER_TROUBLE, tenant, None, now,
                      reason=found.summary(), rule="trouble", trouble=found)
        self._queue(tx, event, now, events)
        events.add("warning", "sender.trouble", tenant=tenant, domain=domain, reason=found.reason, count=found.count, total=found.total,
                   window_s=found.window, summary=found.summary())

    def _complaints(
        self, tx: Transaction, report: Report, rcpt: VerpAddress, received_at: datetime, events: _Events, dkim: str | None, raw_id: int | None
    ) -> Outcome:
        rules = self.config.tenant(rcpt.tenant).policy
        known = tx.complainants_of(rcpt.local_part, rules.max_failed_per_message)
        for facts in report.recipients:
            feedback_type = (facts.feedback_type or "abuse").lower()
            if facts.sent_to.casefold() not in known:
                if len(known) >= rules.max_failed_per_message:  # the same bound as failed addresses: one message, few recipients
                    events.add("warning", "complaint.excess", tenant=rcpt.tenant, user=rcpt.user, verp=rcpt.local_part,
                               limit=rules.max_failed_per_message)
                    continue
                known.add(facts.sent_to.casefold())
            added = tx.add_complaint(
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp_local=rcpt.local_part,
                received_at=received_at,
                address=facts.sent_to,
                feedback_type=feedback_type,
                message_id=report.message_id,
                dkim=dkim,
                raw_id=raw_id,
            )
            events.add(
                "warning" if added else "info",
                "complaint.recorded" if added else "complaint.duplicate",
                tenant=rcpt.tenant,
                user=rcpt.user,
                verp=rcpt.local_part,
                address=facts.sent_to,
                feedback_type=feedback_type,
                dkim=dkim,
            )
            if not added:
                continue
            history = tx.subject(rcpt.tenant, rcpt.user, received_at)
            trusted = dkim == "pass" or not self.config.dkim.require_for_complaints
            complaint = policy.Complaint(facts.sent_to, feedback_type, received_at, trusted)
            decision = policy.decide(history, complaint, rules, received_at)
            self._apply(tx, rcpt.tenant, rcpt.user, decision, received_at, events,
                              detail={"verp": rcpt.local_part, "feedback_type": feedback_type})
        return Outcome.COMPLAINT

    def _autoreply(
        self, tx: Transaction, report: Report, raw: bytes, recipients: list[VerpAddress], received_at: datetime, events: _Events
    ) -> Outcome:
        """Auto-replies and challenge-responses are never bounces; forward them only if asked to."""
        first = recipients[0]
        events.add("info", f"{report.kind.value}.ignored", tenant=first.tenant, user=first.user, verp=first.local_part, detector=report.detector)
        if self.config.forward.autoreplies and self.config.forward.to:
            return self._unrecognized(tx, report, raw, recipients, received_at, events)
        return Outcome.AUTOREPLY

    def _unrecognized(
        self, tx: Transaction, report: Report, raw: bytes, recipients: list[VerpAddress], received_at: datetime, events: _Events
    ) -> Outcome:
        first = recipients[0]
        verps = [f"{r.local_part}@{self.config.verp.domain}" for r in recipients]
        fields = dict(tenant=first.tenant, user=first.user, verp=first.local_part, message_id=report.message_id, size=len(raw))
        if not self.config.forward.to:
            events.add("info", "bounce.unrecognized", **fields, forwarded=False)
            return Outcome.UNRECOGNIZED
        payload = ForwardPayload(tuple(verps), first.tenant, first.user, first.sent_at, received_at, report.message_id)
        key = dedup_key(ActionKind.FORWARD.value, hashlib.sha256(raw).hexdigest())
        queued = tx.enqueue(ActionKind.FORWARD, key, payload, raw, received_at, tenant=first.tenant)
        events.queued |= queued
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


def _past(record: BounceRecord) -> PastBounce:
    evidence = f"{record.evidence.rule.value} {record.evidence.ref}".strip() if record.evidence else ""
    return PastBounce(record.verp_local, record.address, record.sent_at, record.received_at, record.reason, record.severity, record.status, evidence)


def _events_of(decision: Decision, decision_id: int | None, tenant: str, user: int, now: datetime, detail: dict[str, str]) -> list[Event]:
    """The events a decision emits, each with its idempotency key (the same event always gets the same id)."""
    found = []
    for bounce in decision.hard:
        key = event_key(EventType.BOUNCE_HARD, tenant, bounce.verp, bounce.address.casefold())
        found.append(Event(key, EventType.BOUNCE_HARD, tenant, user, now, (bounce.address,), bounce.reason.value, "hard", (bounce.summary(),)))
    for kind in decision.events:
        if kind is EventType.BOUNCE_HARD:
            continue
        if kind is EventType.COMPLAINT_RECEIVED:
            key = event_key(kind, tenant, detail.get("verp", ""), *(a.casefold() for a in decision.addresses), detail.get("feedback_type", ""))
            found.append(Event(key, kind, tenant, user, now, decision.addresses, detail.get("feedback_type", ""), "complaint", detail=detail))
            continue
        key = event_key(kind, tenant, str(user), str(decision_id))
        counted = tuple(b.summary() for b in decision.counted)
        found.append(Event(key, kind, tenant, user, now, decision.addresses, decision.why, decision.rule.value, counted, detail=detail))
    return found


def _wanting(actions: ActionsConfig, event: EventType) -> list[ActionKind]:
    """The actions that carry out ``event``: webhook and command as subscribed, MediaWiki on suppression only."""
    kinds = []
    if actions.webhook is not None and event in actions.webhook.events:
        kinds.append(ActionKind.WEBHOOK)
    if actions.command is not None and event in actions.command.events:
        kinds.append(ActionKind.COMMAND)
    if actions.mediawiki is not None and event is EventType.SUBJECT_SUPPRESSED:
        kinds.append(ActionKind.MEDIAWIKI)
    return kinds

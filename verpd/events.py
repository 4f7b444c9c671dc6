"""What verpd tells the outside world, as typed data: events and the outbox payloads that carry them.

An :class:`Event` is what a decision (``policy.decide``) or a complaint produces: a
subject suppressed, a would-suppress, a reset, a complaint, a counted hard bounce,
or trouble with one receiving domain. The pipeline writes each event, once per
configured action, as an outbox row in the same transaction as the decision; the
actions (webhook, command, mediawiki) read it back with :func:`decode_payload`.
The JSON form (:meth:`Event.body`) is the webhook's body and the command's stdin,
and is the one place its shape is defined.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class EventType(enum.StrEnum):
    """The events actions can subscribe to (``webhook.events``, ``command.events``)."""

    SUBJECT_SUPPRESSED = "subject.suppressed"  # the policy acted: the user's failed addresses are dead
    SUBJECT_WOULD_SUPPRESS = "subject.would_suppress"  # the policy would have acted (policy.act = false); once per episode
    SUBJECT_RESET = "subject.reset"  # an operator (or the application) reset the subject: the user re-confirmed
    COMPLAINT_RECEIVED = "complaint.received"  # an ARF complaint about mail the site sent the user
    BOUNCE_HARD = "bounce.hard"  # one counted hard bounce (opt-in: lets an app warn about a mistyped address at once)
    SENDER_TROUBLE = "sender.trouble"  # a receiving domain refuses the site's mail: our problem, not the users'


class ActionKind(enum.StrEnum):
    """What an outbox row asks to be done; each kind has one sender and one payload type."""

    WEBHOOK = "webhook"  # POST the event, signed (payload: Event)
    COMMAND = "command"  # run a program with the event on stdin (payload: Event)
    MEDIAWIKI = "mediawiki"  # clear the wiki user's email confirmation (payload: Event)
    FORWARD = "forward"  # mail an unrecognized bounce to the admins (payload: ForwardPayload, message: the raw bounce)


@dataclass(frozen=True)
class CountedBounce:
    """One bounce that counted toward a decision, as the event and ``subjects show`` summarise it."""

    verp: str  # the VERP local part: which sent message bounced
    address: str  # the address we sent to
    received_at: datetime
    reason: str
    severity: str
    status: str | None = None
    evidence: str = ""  # the verdict's rule and reference, e.g. "status 5.1.1" or "phrase userunknown#3"

    def body(self) -> dict[str, Any]:
        return {
            "verp": self.verp,
            "address": self.address,
            "received_at": _iso(self.received_at),
            "reason": self.reason,
            "severity": self.severity,
            "status": self.status,
            "evidence": self.evidence,
        }

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> CountedBounce:
        return cls(
            verp=data["verp"],
            address=data["address"],
            received_at=_datetime(data["received_at"]),
            reason=data["reason"],
            severity=data["severity"],
            status=data.get("status"),
            evidence=data.get("evidence") or "",
        )


@dataclass(frozen=True)
class Trouble:
    """The numbers behind a ``sender.trouble`` event: one receiving domain refusing our mail."""

    domain: str  # the receiving domain (of the failed addresses)
    reason: str  # the reason most of those refusals gave (blocked, badreputation, ...)
    count: int  # refusals about us from that domain within the window
    total: int  # all failures from that domain within the window
    window: int  # seconds

    def body(self) -> dict[str, Any]:
        return {"domain": self.domain, "reason": self.reason, "count": self.count, "total": self.total, "window_s": self.window}

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> Trouble:
        return cls(data["domain"], data["reason"], int(data["count"]), int(data["total"]), int(data["window_s"]))

    def summary(self) -> str:
        """One line an operator reads: "gmail.com: 37 badreputation in 1 h (of 40 failures)"."""
        return f"{self.domain}: {self.count} {self.reason} in {_span(self.window)} (of {self.total} failures)"


@dataclass(frozen=True)
class Event:
    """Something an application or an operator is told, exactly once per action."""

    id: str  # the idempotency key: the same event always has the same id, so a receiver can drop repeats
    type: EventType
    tenant: str
    user: int | None  # None for sender.trouble
    occurred_at: datetime
    addresses: tuple[str, ...] = ()  # the failed addresses (the addresses we sent to): an action touches no other
    reason: str = ""  # why, in words: the rule that fired ("10 hard bounces within 7d (limit 10)") or the complaint type
    rule: str = ""  # which policy rule fired: "limit", "complaint", "hard", "reset", "trouble"
    bounces: tuple[CountedBounce, ...] = ()  # the evidence: the bounces that counted
    trouble: Trouble | None = None  # sender.trouble only
    detail: dict[str, str] = field(default_factory=dict)  # free text for humans (e.g. who reset); never read by code

    def body(self) -> dict[str, Any]:
        """The JSON object a webhook receives and a command reads on stdin."""
        body: dict[str, Any] = {
            "id": self.id,
            "event": self.type.value,
            "tenant": self.tenant,
            "user": self.user,
            "occurred_at": _iso(self.occurred_at),
            "addresses": list(self.addresses),
            "reason": self.reason,
            "rule": self.rule,
            "evidence": [b.body() for b in self.bounces],
        }
        if self.trouble is not None:
            body["trouble"] = self.trouble.body()
        if self.detail:
            body["detail"] = dict(self.detail)
        return body

    def to_json(self) -> bytes:
        """The body as compact UTF-8 JSON (the exact bytes a webhook signs)."""
        return json.dumps(self.body(), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> Event:
        trouble = data.get("trouble")
        return cls(
            id=data["id"],
            type=EventType(data["event"]),
            tenant=data["tenant"],
            user=data.get("user"),
            occurred_at=_datetime(data["occurred_at"]),
            addresses=tuple(data.get("addresses") or ()),
            reason=data.get("reason") or "",
            rule=data.get("rule") or "",
            bounces=tuple(CountedBounce.from_body(b) for b in data.get("evidence") or ()),
            trouble=Trouble.from_body(trouble) if trouble else None,
            detail=dict(data.get("detail") or {}),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        return cls.from_body(json.loads(raw))


@dataclass(frozen=True)
class ForwardPayload:
    """An unrecognized bounce to forward to the admins (the raw message travels beside it)."""

    verps: tuple[str, ...]  # the VERP addresses it was delivered to
    tenant: str
    user: int
    sent_at: datetime
    received_at: datetime
    message_id: str | None

    def body(self) -> dict[str, Any]:
        return {
            "verp": list(self.verps),
            "tenant": self.tenant,
            "user": self.user,
            "sent_at": _iso(self.sent_at),
            "received_at": _iso(self.received_at),
            "message_id": self.message_id,
        }

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> ForwardPayload:
        return cls(
            verps=tuple(data["verp"]),
            tenant=data["tenant"],
            user=int(data["user"]),
            sent_at=_datetime(data["sent_at"]),
            received_at=_datetime(data["received_at"]),
            message_id=data.get("message_id"),
        )


Payload = Event | ForwardPayload


def encode_payload(payload: Payload) -> str:
    """The text stored in an outbox row's ``payload`` column."""
    return json.dumps(payload.body(), ensure_ascii=False, sort_keys=True)


def decode_payload(kind: ActionKind, text: str) -> Payload:
    """The typed payload of an outbox row of ``kind`` (the one place a row's JSON is read)."""
    data = json.loads(text)
    if kind is ActionKind.FORWARD:
        return ForwardPayload.from_body(data)
    return Event.from_body(data)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"

"""The policy seam: one pure function decides what a bounce, a complaint or a reset means for a user.

``decide(history, event, config, now) -> Decision``. The store only supplies the
:class:`History` (the subject's state and its recent bounces), the pipeline only
applies the :class:`Decision` (state change, stored explanation, outbox rows).
Nothing else in verpd knows the rule.

The rule, in order (MediaWiki's Extension:BounceHandler is the default):

1. A bounce counts only if it is one the site's own mail caused, recently, for a
   reason that is the user's: its weight is 1 for a hard failure, ``soft_weight``
   (default 0) for a soft one, and 0 when the reason is about *us* (:data:`OUR_PROBLEMS`:
   a blocked IP, bad reputation, SPF/DKIM/DMARC, missing PTR, relaying, rate limits,
   a refused sender), when the VERP send time is more than ``accept_time`` before
   it arrived, when it arrived before the subject's last reset, or outside ``period``.
2. One sent message counts once: the bounces of one VERP address count as their
   heaviest (N counted bounces need N different mails the site really sent).
3. When the counted weight within ``period`` reaches ``limit``, act: ``act = true``
   suppresses the subject (``subject.suppressed``), ``act = false`` only emits
   ``subject.would_suppress``, once per episode (until a reset).
4. An ARF ``abuse`` complaint acts at once (``complaint_action``), unless
   ``dkim.require_for_complaints`` is set and it did not pass DKIM; every new complaint emits
   ``complaint.received``.
5. A suppressed subject never fires again; a reset makes it active and forgets
   what came before (``subject.reset``).
6. Every newly recorded bounce that counts as hard emits ``bounce.hard``
   (delivered only to actions that subscribe to it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from verpd.config import PolicyConfig, TroubleConfig
from verpd.events import CountedBounce, EventType, Trouble
from verpd.model import Reason, Severity, SubjectState

# Failures that say something about the sending site, not about the user's address: they
# never count against the user, whatever their status code (they feed ``sender.trouble``).
OUR_PROBLEMS = frozenset({
    Reason.BLOCKED, Reason.BADREPUTATION, Reason.AUTHFAILURE, Reason.REQUIREPTR,
    Reason.NORELAYING, Reason.SPEEDING, Reason.TOOMANYCONN, Reason.REJECTED,
    Reason.FAILEDSTARTTLS,
})

# Complaint feedback types that act at once (RFC 5965 §7.3: "abuse" is unsolicited mail).
ACTING_COMPLAINTS = frozenset({"abuse"})


class Action(enum.StrEnum):
    """What the pipeline must do to the subject's state."""

    NONE = "none"
    SUPPRESS = "suppress"  # state becomes suppressed
    WOULD_SUPPRESS = "would_suppress"  # act = false: flag the episode, change nothing else
    RESET = "reset"  # state becomes active, earlier bounces stop counting


class Rule(enum.StrEnum):
    """Which part of the policy decided."""

    BELOW_LIMIT = "below_limit"
    LIMIT = "limit"
    COMPLAINT = "complaint"
    ALREADY_SUPPRESSED = "already_suppressed"
    ALREADY_FLAGGED = "already_flagged"
    RESET = "reset"
    NOT_ACTING = "not_acting"  # a complaint that does not act (type, setting, or DKIM)


@dataclass(frozen=True)
class PastBounce:
    """One stored bounce of the subject, as the policy needs it."""

    verp: str
    address: str  # the address we sent to
    sent_at: datetime
    received_at: datetime
    reason: Reason
    severity: Severity
    status: str | None = None
    evidence: str = ""  # "status 5.1.1", "phrase userunknown#3": the verdict's rule

    def summary(self) -> CountedBounce:
        return CountedBounce(self.verp, self.address, self.received_at, self.reason.value, self.severity.value, self.status, self.evidence)


@dataclass(frozen=True)
class History:
    """What the store knows of one tenant+user."""

    state: SubjectState = SubjectState.ACTIVE
    flagged: bool = False  # a would-suppress was emitted in this episode
    reset_at: datetime | None = None  # bounces received before this no longer count
    bounces: tuple[PastBounce, ...] = ()  # received within the period (at least), newest first


@dataclass(frozen=True)
class Bounces:
    """The event: bounces just recorded (new ones, or ones whose verdict just became harder)."""

    new: tuple[PastBounce, ...]


@dataclass(frozen=True)
class Complaint:
    """The event: a new ARF complaint about a message sent to the subject."""

    address: str
    feedback_type: str
    received_at: datetime
    trusted: bool = True  # False: dkim.require_for_complaints is set and it did not pass DKIM


@dataclass(frozen=True)
class Reset:
    """The event: an operator or the application says the user re-confirmed."""

    by: str = "cli"


PolicyEvent = Bounces | Complaint | Reset


@dataclass(frozen=True)
class Decision:
    """What to do, why, and on what evidence; frozen, so it can be stored and explained as is."""

    action: Action
    rule: Rule
    why: str  # one sentence for humans: "10 hard bounces within 7d (limit 10)"
    counted: tuple[PastBounce, ...] = ()  # the bounces that counted, newest first
    addresses: tuple[str, ...] = ()  # the failed addresses: an action touches no other
    score: float = 0.0  # the counted weight
    events: tuple[EventType, ...] = ()  # what to tell the actions, in order
    hard: tuple[PastBounce, ...] = ()  # new bounces that count as hard (one bounce.hard each)


def weight(bounce: PastBounce, config: PolicyConfig) -> float:
    """What one bounce counts toward the limit (rule 1)."""
    if bounce.reason in OUR_PROBLEMS:
        return 0.0
    if bounce.received_at - bounce.sent_at > timedelta(seconds=config.accept_time):
        return 0.0
    if bounce.severity is Severity.HARD:
        return 1.0
    if bounce.severity is Severity.SOFT:
        return config.soft_weight
    return 0.0


def window_start(now: datetime, config: PolicyConfig, reset_at: datetime | None = None) -> datetime:
    """The oldest receipt time that still counts: the period, or the last reset if later."""
    start = now - timedelta(seconds=config.period)
    return max(start, reset_at) if reset_at is not None else start


def decide(history: History, event: PolicyEvent, config: PolicyConfig, now: datetime) -> Decision:
    """The decision for ``event`` given the subject's ``history`` (see the module docstring)."""
    if isinstance(event, Reset):
        return Decision(Action.RESET, Rule.RESET, f"reset by {event.by}", events=(EventType.SUBJECT_RESET,))
    if isinstance(event, Complaint):
        return _complaint(history, event, config)
    return _bounces(history, event, config, now)


def _bounces(history: History, event: Bounces, config: PolicyConfig, now: datetime) -> Decision:
    start = window_start(now, config, history.reset_at)
    fresh = [b for b in event.new if b.received_at >= start]
    hard = tuple(b for b in fresh if b.severity is Severity.HARD and weight(b, config) == 1.0)
    bounce_events = (EventType.BOUNCE_HARD,) * len(hard)
    heaviest: dict[str, tuple[float, PastBounce]] = {}
    for bounce in (*event.new, *history.bounces):
        if bounce.received_at < start:
            continue
        w = weight(bounce, config)
        if w > 0 and (bounce.verp not in heaviest or w > heaviest[bounce.verp][0]):
            heaviest[bounce.verp] = (w, bounce)
    counted = tuple(sorted((b for _, b in heaviest.values()), key=lambda b: b.received_at, reverse=True))
    score = sum(w for w, _ in heaviest.values())
    addresses = tuple(dict.fromkeys(b.address for b in counted))
    why = _why(counted, score, config)
    base = dict(counted=counted, addresses=addresses, score=score, hard=hard)
    if history.state is SubjectState.SUPPRESSED:
        return Decision(Action.NONE, Rule.ALREADY_SUPPRESSED, "already suppressed", events=bounce_events, **base)  # type: ignore[arg-type]
    if score < config.limit:
        return Decision(Action.NONE, Rule.BELOW_LIMIT, why, events=bounce_events, **base)  # type: ignore[arg-type]
    if config.act:
        return Decision(Action.SUPPRESS, Rule.LIMIT, why, events=(*bounce_events, EventType.SUBJECT_SUPPRESSED), **base)  # type: ignore[arg-type]
    if history.flagged:
        return Decision(Action.NONE, Rule.ALREADY_FLAGGED, why, events=bounce_events, **base)  # type: ignore[arg-type]
    return Decision(Action.WOULD_SUPPRESS, Rule.LIMIT, why, events=(*bounce_events, EventType.SUBJECT_WOULD_SUPPRESS), **base)  # type: ignore[arg-type]


def _complaint(history: History, event: Complaint, config: PolicyConfig) -> Decision:
    received = (EventType.COMPLAINT_RECEIVED,)
    addresses = (event.address,)
    why = f"complaint ({event.feedback_type}) about mail sent to {event.address}"
    if event.feedback_type not in ACTING_COMPLAINTS or not config.complaint_action:
        return Decision(Action.NONE, Rule.NOT_ACTING, why, addresses=addresses, events=received)
    if not event.trusted:
        return Decision(Action.NONE, Rule.NOT_ACTING, f"{why}; no DKIM pass (dkim.require_for_complaints)", addresses=addresses, events=received)
    if history.state is SubjectState.SUPPRESSED:
        return Decision(Action.NONE, Rule.ALREADY_SUPPRESSED, "already suppressed", addresses=addresses, events=received)
    if config.act:
        return Decision(Action.SUPPRESS, Rule.COMPLAINT, why, addresses=addresses, events=(*received, EventType.SUBJECT_SUPPRESSED))
    if history.flagged:
        return Decision(Action.NONE, Rule.ALREADY_FLAGGED, why, addresses=addresses, events=received)
    return Decision(Action.WOULD_SUPPRESS, Rule.COMPLAINT, why, addresses=addresses, events=(*received, EventType.SUBJECT_WOULD_SUPPRESS))


def _why(counted: tuple[PastBounce, ...], score: float, config: PolicyConfig) -> str:
    hard = sum(1 for b in counted if b.severity is Severity.HARD)
    soft = len(counted) - hard
    what = f"{hard} hard bounce{'s' if hard != 1 else ''}"
    if soft:
        what += f" and {soft} soft (weight {config.soft_weight:g})"
    return f"{what} of different messages within {_span(config.period)}: {score:g} of limit {config.limit}"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def trouble(domain: str, failures: dict[str, int], config: TroubleConfig) -> Trouble | None:
    """Whether ``failures`` (a receiving domain's failures in the window, by reason) say it refuses *us*.

    Trouble when the refusals about us (:data:`OUR_PROBLEMS`) reach ``min_count`` and
    ``share`` of all the domain's failures; named after the most frequent of them.
    """
    ours = {reason: n for reason, n in failures.items() if reason in OUR_PROBLEMS}
    count, total = sum(ours.values()), sum(failures.values())
    if count < config.min_count or total == 0 or count / total < config.share:
        return None
    top = max(sorted(ours), key=lambda reason: ours[reason])
    return Trouble(domain, top, count, total, config.window)

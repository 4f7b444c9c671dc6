"""Prometheus metrics: counters, gauges and histograms in a registry of our own.

Every layer above this one records what it does here; ``http`` serves the registry
as ``GET /metrics``. The registry is :data:`REGISTRY`, never prometheus-client's
global one, so two daemons in one process (the tests) or a library that registers
its own collectors cannot collide with ours. Counters are process-wide: they count
from the start of the process, as Prometheus expects (``rate()`` handles restarts).

Bounces, decisions, complaints, unrecognized messages and ``sender.trouble`` are
counted from the pipeline's event lines, which it emits only after the commit
(:func:`observe_event`): a counted bounce is a durable one.

    verpd_sessions_opened_total{protocol}         LMTP/SMTP connections accepted
    verpd_sessions_open{protocol}                 LMTP/SMTP connections open now
    verpd_sessions_limited_total{limit}           connections refused (max_connections) or closed by a
                                                  server limit: idle_timeout, data_timeout, connection_lifetime,
                                                  max_commands, max_errors, shutdown
    verpd_recipients_total{intake, outcome}       each recipient checked: accepted, not_ours,
                                                  bad_signature, expired, future, refused_client, error
    verpd_http_requests_total{endpoint, status}   HTTP requests answered
    verpd_messages_total{outcome}                 accepted recipients by pipeline outcome (recorded,
                                                  duplicate, complaint, autoreply, forwarded, unrecognized)
    verpd_bounces_recorded_total{reason, severity} failures stored (a repeat that turns hard counts again)
    verpd_bounces_duplicate_total                 repeats of stored failures
    verpd_unrecognized_total{forwarded}           messages with nothing understood
    verpd_complaints_total{feedback_type}         ARF complaints stored
    verpd_decisions_total{action}                 subject decisions: suppress, would_suppress, reset
    verpd_sender_trouble_total{reason}            sender.trouble episodes started
    verpd_outbox_attempts_total{kind, result}     side effects attempted: sent, retry, dead
    verpd_outbox_pending / _dead                  outbox rows waiting / given up (at scrape time)
    verpd_outbox_oldest_pending_age_seconds       age of the oldest waiting row, 0 when none (at scrape time)
    verpd_store_up                                1 when the database answered the scrape's queries in time
    verpd_db_commit_seconds                       Store.transaction, BEGIN to durable COMMIT
    verpd_parse_seconds                           parsing one message (in the thread pool)
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from verpd.errors import VerpErrorKind
from verpd.events import EventType

__all__ = [
    "REGISTRY",
    "SESSIONS_OPENED",
    "SESSIONS_OPEN",
    "SESSIONS_LIMITED",
    "RECIPIENTS",
    "HTTP_REQUESTS",
    "MESSAGES",
    "BOUNCES",
    "BOUNCE_DUPLICATES",
    "UNRECOGNIZED",
    "COMPLAINTS",
    "DECISIONS",
    "SENDER_TROUBLE",
    "OUTBOX_ATTEMPTS",
    "OUTBOX_PENDING",
    "OUTBOX_DEAD",
    "OUTBOX_OLDEST_AGE",
    "STORE_UP",
    "DB_COMMIT_SECONDS",
    "WRITE_BATCH",
    "WRITE_BUSY",
    "PARSE_SECONDS",
    "RCPT_ACCEPTED",
    "RCPT_REFUSED_CLIENT",
    "RCPT_ERROR",
    "rcpt_outcome",
    "observe_event",
]

REGISTRY = CollectorRegistry(auto_describe=True)

SESSIONS_OPENED = Counter("verpd_sessions_opened", "LMTP/SMTP connections accepted.", ["protocol"], registry=REGISTRY)
SESSIONS_OPEN = Gauge("verpd_sessions_open", "LMTP/SMTP connections open now.", ["protocol"], registry=REGISTRY)
SESSIONS_LIMITED = Counter(
    "verpd_sessions_limited", "LMTP/SMTP connections refused or closed with a 421 by a server limit, by limit.", ["limit"], registry=REGISTRY
)
RECIPIENTS = Counter(
    "verpd_recipients", "Recipients checked at RCPT (or taken from the To header over HTTP), by outcome.", ["intake", "outcome"], registry=REGISTRY
)
HTTP_REQUESTS = Counter("verpd_http_requests", "HTTP requests answered, by endpoint and status code.", ["endpoint", "status"], registry=REGISTRY)
MESSAGES = Counter("verpd_messages", "Accepted recipients of delivered messages, by pipeline outcome.", ["outcome"], registry=REGISTRY)
BOUNCES = Counter("verpd_bounces_recorded", "Delivery failures stored, by reason and severity.", ["reason", "severity"], registry=REGISTRY)
BOUNCE_DUPLICATES = Counter("verpd_bounces_duplicate", "Reports of failures that were already stored.", registry=REGISTRY)
UNRECOGNIZED = Counter("verpd_unrecognized", "Messages in which no failure was understood.", ["forwarded"], registry=REGISTRY)
COMPLAINTS = Counter("verpd_complaints", "ARF complaints stored, by feedback type.", ["feedback_type"], registry=REGISTRY)
DECISIONS = Counter("verpd_decisions", "Subject decisions committed, by action.", ["action"], registry=REGISTRY)
SENDER_TROUBLE = Counter("verpd_sender_trouble", "sender.trouble episodes started, by reason.", ["reason"], registry=REGISTRY)
OUTBOX_ATTEMPTS = Counter("verpd_outbox_attempts", "Outbox side effects attempted, by kind and result.", ["kind", "result"], registry=REGISTRY)
OUTBOX_PENDING = Gauge("verpd_outbox_pending", "Outbox rows waiting to be carried out (read at scrape time).", registry=REGISTRY)
OUTBOX_DEAD = Gauge("verpd_outbox_dead", "Outbox rows given up until 'verpd outbox retry' (read at scrape time).", registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge(
    "verpd_outbox_oldest_pending_age_seconds", "Age of the oldest waiting outbox row; 0 when none (read at scrape time).", registry=REGISTRY
)
STORE_UP = Gauge("verpd_store_up", "1 if the database answered the scrape's queries in time, else 0.", registry=REGISTRY)
DB_COMMIT_SECONDS = Histogram(
    "verpd_db_commit_seconds",
    "One write transaction (a batch of units on SQLite) from BEGIN to durable COMMIT (successful ones).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WRITE_BATCH = Histogram(
    "verpd_db_write_batch_units",
    "Units of work committed together in one SQLite transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
WRITE_BUSY = Counter(
    "verpd_db_write_busy", "Writes withdrawn (451 4.3.2) after waiting longer than server.write_wait for the write path.", registry=REGISTRY
)
PARSE_SECONDS = Histogram(
    "verpd_parse_seconds",
    "Parsing one message (a large one including the wait for a worker thread).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

# Recipient outcomes that are not a VerpErrorKind.
RCPT_ACCEPTED = "accepted"
RCPT_REFUSED_CLIENT = "refused_client"
RCPT_ERROR = "error"

_DECISION_EVENTS = {
    EventType.SUBJECT_SUPPRESSED.value: "suppress",
    EventType.SUBJECT_WOULD_SUPPRESS.value: "would_suppress",
    EventType.SUBJECT_RESET.value: "reset",
}


def rcpt_outcome(intake: str, outcome: str | VerpErrorKind) -> None:
    """Count one checked recipient: ``accepted``, a :class:`VerpErrorKind`, ``refused_client`` or ``error``."""
    RECIPIENTS.labels(intake, outcome.value if isinstance(outcome, VerpErrorKind) else outcome).inc()


def observe_event(event: str, fields: dict[str, Any]) -> None:
    """Count one of the pipeline's post-commit event lines (``bounce.recorded``, ``sender.trouble``, ...)."""
    if event == "bounce.recorded":
        BOUNCES.labels(str(fields.get("reason", "")), str(fields.get("severity", ""))).inc()
    elif event == "bounce.duplicate":
        BOUNCE_DUPLICATES.inc()
    elif event == "bounce.unrecognized":
        UNRECOGNIZED.labels("true" if fields.get("forwarded") else "false").inc()
    elif event == "complaint.recorded":
        COMPLAINTS.labels(str(fields.get("feedback_type", ""))).inc()
    elif event == EventType.SENDER_TROUBLE.value:
        SENDER_TROUBLE.labels(str(fields.get("reason", ""))).inc()
    elif event in _DECISION_EVENTS:
        DECISIONS.labels(_DECISION_EVENTS[event]).inc()

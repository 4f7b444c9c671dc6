"""Durable state: bounces, complaints, subjects, decisions and the outbox (SQLAlchemy 2 Core, async).

SQLite (the default) runs in WAL mode with ``synchronous=FULL``, so a committed
transaction survives a crash or power loss. Reads go through aiosqlite; every write
is a unit of work (a plain function of a :class:`Transaction`) that
:meth:`Store.run` hands to the group-commit writer (``verpd.writer``): the units that
arrive together share one ``BEGIN IMMEDIATE`` transaction in one thread, so a
read-then-write never loses a race and a busy intake pays one fsync per batch. On
PostgreSQL each unit is its own transaction on a pooled connection. Engines are
created and passed explicitly. Every database failure surfaces as
:class:`~verpd.errors.StoreError`.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from verpd import metrics, migrations
from verpd.config import DatabaseConfig
from verpd.errors import SchemaError, StartupError, StoreError
from verpd.events import ActionKind, Payload, decode_payload, encode_payload
from verpd.migrations import SchemaState, SchemaStatus
from verpd.model import BounceRecord, Reason, Severity, SubjectState
from verpd.policy import Action, Decision, History, PastBounce
from verpd.writer import GroupWriter, describe

T = TypeVar("T")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

bounces = sa.Table(
    "bounces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("verp_local", sa.String(255), nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("address", sa.String(998), nullable=False),
    sa.Column("action", sa.String(32)),
    sa.Column("status", sa.String(16)),
    sa.Column("reply_code", sa.Integer),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("diagnostic", sa.Text),
    sa.Column("remote_mta", sa.String(255)),
    sa.Column("reporting_mta", sa.String(255)),
    sa.Column("detector", sa.String(32)),
    sa.Column("message_id", sa.String(998)),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("final_address", sa.String(998)),  # the address that failed, where it differs from the one we sent to
    sa.Column("evidence", sa.Text),  # JSON: the rule that decided the verdict (Evidence.as_dict)
    sa.Column("seen_count", sa.Integer),  # how many reports of this failure arrived (NULL in rows older than the column: 1)
    sa.Column("last_seen_at", UTCDateTime),  # when the latest of them arrived
    sa.Column("domain", sa.String(255)),  # the lower-cased domain of ``address`` (sender.trouble counts by it)
    sa.Column("dkim", sa.String(16)),  # the bounce's DKIM result: pass, fail, none, temperror, permerror
    sa.Column("raw_id", sa.Integer),  # raw_messages.id while the raw message is kept (policy.raw_retention)
    sa.Index("ix_bounces_subject_time", "tenant", "user_id", "received_at"),
    sa.Index("ix_bounces_received_at", "received_at"),
    sa.Index("ix_bounces_verp", "verp_local"),
    sa.Index("ix_bounces_domain_time", "domain", "received_at"),
)

complaints = sa.Table(
    "complaints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("verp_local", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("address", sa.String(998), nullable=False),
    sa.Column("feedback_type", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(998)),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("dkim", sa.String(16)),
    sa.Column("raw_id", sa.Integer),
    sa.Index("ix_complaints_subject_time", "tenant", "user_id", "received_at"),
    sa.Index("ix_complaints_verp", "verp_local"),
    sa.Index("ix_complaints_received_at", "received_at"),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("tenant", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("first_bounce_at", UTCDateTime, nullable=False),
    sa.Column("last_bounce_at", UTCDateTime, nullable=False),
    sa.Column("state_changed_at", UTCDateTime),
    sa.Column("state_reason", sa.Text),
    sa.Column("flagged_at", UTCDateTime),  # when a would-suppress decision was logged
    sa.Column("reset_at", UTCDateTime),  # bounces received before this no longer count
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("addresses", sa.Text, nullable=False),  # JSON list
    sa.Column("counted", sa.Text, nullable=False),  # JSON list of CountedBounce bodies: the evidence
    sa.Index("ix_decisions_subject", "tenant", "user_id", "decided_at"),
    sa.Index("ix_decisions_decided_at", "decided_at"),
)

raw_messages = sa.Table(
    "raw_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("message", sa.LargeBinary, nullable=False),
    sa.Index("ix_raw_messages_received_at", "received_at"),
)

trouble = sa.Table(
    "trouble",
    metadata,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False),  # the episode's first sender.trouble
    sa.Column("last_seen_at", UTCDateTime, nullable=False),  # the latest refusal about us from the domain
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("payload", sa.Text, nullable=False),  # JSON
    sa.Column("message", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("done_at", UTCDateTime),
    sa.Column("dead_at", UTCDateTime),  # given up after outbox.max_attempts; ``verpd outbox retry`` revives it
    sa.Column("tenant", sa.String(255)),
    sa.Index("ix_outbox_due", "done_at", "next_attempt_at"),
)


@dataclass(frozen=True)
class OutboxItem:
    """A durable side effect waiting to be carried out."""

    id: int
    kind: ActionKind
    key: str
    payload: Payload
    message: bytes
    attempts: int


class Added(enum.Enum):
    """What storing one bounce did."""

    NEW = "new"  # the first report of this failure
    HARDER = "harder"  # a repeat whose verdict is harder than the stored one: the row now says hard
    DUPLICATE = "duplicate"  # a repeat: only seen_count and last_seen_at changed


# --- the dedup-key recipes: the one place that says what counts as "the same" -----------------


def dedup_key(*parts: str) -> str:
    """A fixed-length unique key for a tuple of strings."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def bounce_key(record: BounceRecord) -> str:
    """One bounce per (sent message, address we sent to): a VERP address counts at most once per
    failed address, whatever arrives later (MTA retries, a delay notice then the failure, replays)."""
    return dedup_key("bounce", record.verp_local, record.address.casefold())


def complaint_key(verp_local: str, address: str, feedback_type: str) -> str:
    return dedup_key("complaint", verp_local, address.casefold(), feedback_type)


def event_key(kind: str, *parts: str) -> str:
    """The idempotency key of an event (its ``id``): the same event always gets the same key."""
    return dedup_key("event", kind, *parts)[:32]


def outbox_key(kind: ActionKind, event_id: str) -> str:
    """One outbox row per (action, event): an event is carried out once per action."""
    return dedup_key("outbox", kind.value, event_id)


def engine_for(database: DatabaseConfig) -> AsyncEngine:
    """The engine ``[database]`` describes, with its timeouts and pool."""
    return create_engine(
        database.url, busy_timeout=database.busy_timeout, connect_timeout=database.connect_timeout,
        statement_timeout=database.statement_timeout, pool_size=database.pool_size, max_overflow=database.max_overflow,
    )


def create_engine(
    url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 5.0, statement_timeout: float = 10.0, pool_size: int = 5,
    max_overflow: int = 5,
) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, synchronous=FULL and BEGIN IMMEDIATE.

    PostgreSQL gets bounded waits everywhere, so that a database that is down or slow
    turns into a StoreError (451, the MTA retries) well within the MTA's LMTP timeout:
    ``connect_timeout`` to open a connection and to wait for one from the pool, and
    ``statement_timeout`` per statement (server side, and asyncpg's ``command_timeout``
    on the client side). ``pool_pre_ping`` replaces connections that died, so a
    restart or a failover (the same address answering from a promoted replica) needs
    no restart of verpd.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=connect_timeout,
            connect_args={
                "timeout": connect_timeout,
                "command_timeout": statement_timeout,
                "server_settings": {"statement_timeout": str(int(statement_timeout * 1000)), "lock_timeout": str(int(statement_timeout * 1000))},
            },
        )
    if parsed.database:
        sqlite_directory(parsed.database)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    _sqlite_pragmas(engine.sync_engine, busy_timeout)
    _BUSY_TIMEOUT[engine.sync_engine] = busy_timeout
    return engine


# The busy timeout each SQLite engine was made with: its writer's connection gets the same.
_BUSY_TIMEOUT: weakref.WeakKeyDictionary[sa.Engine, float] = weakref.WeakKeyDictionary()


# The execution option that marks a connection as a reader: on SQLite its transactions begin deferred.
READ_ONLY = "verpd_read_only"


def _sqlite_pragmas(engine: sa.Engine, busy_timeout: float) -> None:
    """WAL, synchronous=FULL and the busy timeout on every connection; BEGIN IMMEDIATE for every transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Reads (READ_ONLY) start a deferred transaction: they never wait for, nor hold up, the write lock.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _sqlite_writer_engine(engine: AsyncEngine) -> sa.Engine:
    """A synchronous engine (the stdlib sqlite3 driver) on the same file, for the writer thread."""
    busy_timeout = _BUSY_TIMEOUT.get(engine.sync_engine, 5.0)
    writer = sa.create_engine(
        engine.url.set(drivername="sqlite+pysqlite"), poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=0,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
    )
    _sqlite_pragmas(writer, busy_timeout)
    return writer


_FIX = "create it for the user verpd runs as, or set database.url to a writable place such as sqlite+aiosqlite:////var/lib/verpd/verpd.sqlite3"


def sqlite_directory(database: str) -> Path:
    """The directory of a SQLite database file, created if missing and checked writable (StartupError if not)."""
    path = Path(database)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StartupError(f"cannot create database directory {directory}: {(e.strerror or str(e)).lower()} (database.url); {_FIX}", 73) from None
    # SQLite writes the database, its -wal and -shm files and a journal beside it: the directory must be writable.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(f"cannot write to database directory {directory}: permission denied (database.url); {_FIX}", 77)
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(f"cannot write to database file {path}: permission denied (database.url); {_FIX}", 77)
    return directory


async def probe(url: str, busy_timeout: float = 5.0, *, auto_upgrade: bool = False) -> None:
    """Prove the database is usable: open it and make its schema ready as serve would
    (:func:`ensure_schema`; StartupError naming what is wrong)."""
    engine = create_engine(url, busy_timeout=busy_timeout)
    try:
        await ensure_schema(engine, auto_upgrade=auto_upgrade)
    except StoreError as e:
        raise StartupError(f"database {make_url(url).render_as_string(hide_password=True)} is not usable: {e} (database.url)", 69) from None
    finally:
        await engine.dispose()


# --- the schema's version: Alembic migrations (verpd/migrations) -----------------------------


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the schema to this verpd's head in one transaction: create it on an empty database, adopt
    an earlier verpd's tables in place, run the revisions not yet applied. (revision before, after)."""
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(migrations.upgrade)
    except SQLAlchemyError as e:
        raise StoreError(f"cannot upgrade the schema: {_describe(e)}") from e


async def current(engine: AsyncEngine) -> str | None:
    """The revision recorded in the database (None: an empty database, or one made before migrations)."""
    return (await schema_status(engine)).revision


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Whether the schema is missing, outdated, current, or newer than this verpd."""
    return (await schema_status(engine)).state


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """The schema's state with its revision, this verpd's head, and what an earlier verpd's tables lack."""
    try:
        async with engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            return await conn.run_sync(migrations.status)
    except SQLAlchemyError as e:
        raise StoreError(f"cannot read the schema: {_describe(e)}") from e


async def init_schema(engine: AsyncEngine) -> None:
    """Upgrade the schema to head, whatever it is (tests, and the code that creates a database)."""
    await upgrade(engine)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> tuple[str | None, str] | None:
    """Make the schema ready for serve and the commands, or refuse (SchemaError, one line):
    an empty database gets the schema; an earlier verpd's tables that lack nothing get their
    revision recorded; an outdated schema is upgraded only with ``auto_upgrade`` (otherwise the
    message names ``verpd db upgrade``); a newer verpd's schema is refused. The upgrade done, if any."""
    try:
        async with engine.begin() as conn:  # one transaction: nobody upgrades between the look and the change
            found = await conn.run_sync(migrations.status)
            if found.state is SchemaState.NEWER:
                raise SchemaError(found.newer_message())
            if found.state is SchemaState.OUTDATED and not auto_upgrade:
                raise SchemaError(found.outdated_message())
            if found.state is SchemaState.CURRENT and found.revision is not None:
                return None
            return await conn.run_sync(migrations.upgrade)
    except SQLAlchemyError as e:
        raise StoreError(f"cannot upgrade the schema: {_describe(e)}") from e


HISTORY_ROWS = 1000  # bounces of one subject read per decision: bounds the work a flood of bounces can cause


def _reason(text: str) -> Reason:
    try:
        return Reason(text)
    except ValueError:  # a row written by a version that knew another reason
        return Reason.UNDEFINED


def _evidence_ref(text: str | None) -> str:
    """"status 5.1.1", "phrase userunknown#3": the verdict's rule, from the stored evidence JSON."""
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    return f"{data.get('rule') or ''} {data.get('ref') or ''}".strip()


def _fit(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every string cut to its column's length and without NUL characters.

    PostgreSQL refuses both (SQLite stores them as given); a report must not be answered
    451, and retried by the MTA for days, over a header field longer than we expected.
    """
    fitted = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = value.replace("\x00", "")[: getattr(table.c[name].type, "length", None)]
        fitted[name] = value
    return fitted


_describe = describe


class Store:
    """Reads and units of work over one engine."""

    def __init__(self, engine: AsyncEngine, *, write_wait: float = 5.0) -> None:
        self.engine = engine
        self.write_wait = write_wait
        self._sqlite = engine.dialect.name == "sqlite"
        self._writer: GroupWriter | None = None

    async def run(self, work: Callable[[Transaction], T], *, wait: float | None = None) -> T:
        """``work(tx)`` in one transaction, committed durably before this returns its result.

        On SQLite the unit joins the group-commit writer; if it is not started within
        ``wait`` seconds (``write_wait`` by default) it is withdrawn with
        :class:`~verpd.errors.WriteBusy`. A database failure raises StoreError and
        nothing of the unit was written; ``work``'s own exception is raised as it is.
        """
        insert = self._insert
        if self._sqlite:
            if self._writer is None:
                self._writer = GroupWriter(_sqlite_writer_engine(self.engine))
                weakref.finalize(self, self._writer.abandon)  # a store dropped without close() frees its thread and file
            return await self._writer.run(lambda conn: work(Transaction(conn, insert)), self.write_wait if wait is None else wait)
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                result = await conn.run_sync(lambda sync: work(Transaction(sync, insert)))
        except SQLAlchemyError as e:
            raise StoreError(_describe(e)) from e
        except TimeoutError as e:  # asyncpg's client-side command_timeout (database.statement_timeout)
            raise StoreError(f"the database did not answer within database.statement_timeout ({e or 'timeout'})") from e
        metrics.DB_COMMIT_SECONDS.observe(time.perf_counter() - started)
        return result

    async def close(self) -> None:
        """Let queued writes finish and close the writer's connection (the engine is the owner's to dispose)."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def _insert(self, table: sa.Table) -> Any:
        return (sqlite.insert if self._sqlite else postgresql.insert)(table)

    # --- reading (for the CLI and tests) ------------------------------------------------

    async def list_bounces(
        self, limit: int | None = None, *, since: datetime | None = None, address: str | None = None, tenant: str | None = None,
        user: int | None = None,
    ) -> list[dict[str, Any]]:
        query = sa.select(bounces).order_by(bounces.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(bounces.c.received_at >= since)
        if address is not None:
            query = query.where(sa.func.lower(bounces.c.address) == address.lower())
        if tenant is not None:
            query = query.where(bounces.c.tenant == tenant)
        if user is not None:
            query = query.where(bounces.c.user_id == user)
        rows = await self._rows(query)
        for row in rows:
            if row.get("evidence"):
                row["evidence"] = json.loads(row["evidence"])
        return rows

    async def list_complaints(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(complaints).order_by(complaints.c.id.desc()).limit(limit)
        return await self._rows(query)

    async def list_subjects(self, *, state: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(subjects).order_by(subjects.c.tenant, subjects.c.user_id)
        if state is not None:
            query = query.where(subjects.c.state == state)
        return await self._rows(query)

    async def stats(self, since: datetime, by: str) -> list[dict[str, Any]]:
        """Counts since ``since`` grouped ``by`` "reason", "day", "domain" or "tenant" (largest first; days in order).

        Each row: the key, ``bounces`` (failures recorded), ``hard``, and for days and
        tenants also ``suppressed`` (suppress decisions) and ``complaints``.
        """
        # PostgreSQL's to_char renders a timestamptz in the session's TimeZone: convert to UTC first.
        day = (lambda c: sa.func.strftime("%Y-%m-%d", c)) if self._sqlite else (lambda c: sa.func.to_char(sa.func.timezone("UTC", c), "YYYY-MM-DD"))
        keys = {"reason": (bounces.c.reason, None, None), "domain": (bounces.c.domain, None, None),
                "day": (day(bounces.c.received_at), day(decisions.c.decided_at), day(complaints.c.received_at)),
                "tenant": (bounces.c.tenant, decisions.c.tenant, complaints.c.tenant)}
        bounce_key, decision_key, complaint_key_ = keys[by]
        hard = sa.func.sum(sa.case((bounces.c.severity == Severity.HARD.value, 1), else_=0))
        rows: dict[Any, dict[str, Any]] = {}
        query = sa.select(bounce_key.label("key"), sa.func.count().label("n"), hard.label("hard")).where(
            bounces.c.received_at >= since).group_by(bounce_key)
        for r in await self._rows(query):
            rows[r["key"]] = {by: r["key"], "bounces": int(r["n"]), "hard": int(r["hard"] or 0)}
        if decision_key is not None and complaint_key_ is not None:
            for name, query in (
                ("suppressed", sa.select(decision_key.label("key"), sa.func.count().label("n")).where(
                    decisions.c.decided_at >= since, decisions.c.action == "suppress").group_by(decision_key)),
                ("complaints", sa.select(complaint_key_.label("key"), sa.func.count().label("n")).where(
                    complaints.c.received_at >= since).group_by(complaint_key_)),
            ):
                for r in await self._rows(query):
                    rows.setdefault(r["key"], {by: r["key"], "bounces": 0, "hard": 0})[name] = int(r["n"])
            for row in rows.values():
                row.setdefault("suppressed", 0)
                row.setdefault("complaints", 0)
        found = list(rows.values())
        if by == "day":
            return sorted(found, key=lambda r: r["day"])
        return sorted(found, key=lambda r: (-r["bounces"], str(r[by])))

    async def prunable(self, policy_max_age: int, raw_retention: int, now: datetime) -> dict[str, int]:
        """What a prune at ``now`` would delete, by table (``verpd prune --dry-run``)."""
        found: dict[str, int] = {}
        if policy_max_age > 0:
            cutoff = now - timedelta(seconds=policy_max_age)
            for name, table, column in (("bounces", bounces, bounces.c.received_at), ("complaints", complaints, complaints.c.received_at),
                                        ("outbox", outbox, outbox.c.done_at)):
                found[name] = int((await self._rows(sa.select(sa.func.count().label("n")).select_from(table).where(column < cutoff)))[0]["n"])
        cutoff = now - timedelta(seconds=raw_retention)
        query = sa.select(sa.func.count().label("n")).select_from(raw_messages).where(raw_messages.c.received_at < cutoff)
        found["raw_messages"] = int((await self._rows(query))[0]["n"])
        return found

    async def list_outbox(self, *, pending_only: bool = False) -> list[dict[str, Any]]:
        """Every outbox row, or with ``pending_only`` those not yet carried out (pending and dead)."""
        query = sa.select(outbox).order_by(outbox.c.id)
        if pending_only:
            query = query.where(outbox.c.done_at.is_(None))
        return await self._rows(query)

    async def bounce(self, bounce_id: int) -> dict[str, Any] | None:
        """One bounce row, with its raw message (``raw``, bytes or None once pruned)."""
        query = sa.select(bounces, raw_messages.c.message.label("raw")).select_from(
            bounces.outerjoin(raw_messages, raw_messages.c.id == bounces.c.raw_id)
        ).where(bounces.c.id == bounce_id)
        rows = await self._rows(query)
        if not rows:
            return None
        row = rows[0]
        if row.get("evidence"):
            row["evidence"] = json.loads(row["evidence"])
        return row

    async def explain(self, tenant: str, user: int, *, limit: int = 50) -> dict[str, Any] | None:
        """A subject's state, its decisions (newest first, with what counted) and its recent bounces and complaints."""
        rows = await self._rows(sa.select(subjects).where(subjects.c.tenant == tenant, subjects.c.user_id == user))
        if not rows:
            return None
        subject = rows[0]
        found = await self._rows(
            sa.select(decisions).where(decisions.c.tenant == tenant, decisions.c.user_id == user)
            .order_by(decisions.c.decided_at.desc(), decisions.c.id.desc()).limit(limit)
        )
        for row in found:
            row["addresses"] = json.loads(row["addresses"])
            row["counted"] = json.loads(row["counted"])
        recent = await self._rows(
            sa.select(bounces).where(bounces.c.tenant == tenant, bounces.c.user_id == user)
            .order_by(bounces.c.received_at.desc(), bounces.c.id.desc()).limit(limit)
        )
        for row in recent:
            if row.get("evidence"):
                row["evidence"] = json.loads(row["evidence"])
        said = await self._rows(
            sa.select(complaints).where(complaints.c.tenant == tenant, complaints.c.user_id == user)
            .order_by(complaints.c.received_at.desc()).limit(limit)
        )
        return {"subject": subject, "decisions": found, "bounces": recent, "complaints": said}

    async def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(**{READ_ONLY: True})
                result = await conn.execute(query)
                return [dict(row._mapping) for row in result]
        except SQLAlchemyError as e:
            raise StoreError(_describe(e)) from e

    # --- maintenance --------------------------------------------------------------------

    async def prune_bounces(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of bounces received before ``older_than``; returns the count."""
        return await self.run(lambda tx: tx.prune(bounces, bounces.c.received_at < older_than, batch))

    async def prune_complaints(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of complaints received before ``older_than``."""
        return await self.run(lambda tx: tx.prune(complaints, complaints.c.received_at < older_than, batch))

    async def prune_outbox(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of outbox items carried out before ``older_than``."""
        return await self.run(lambda tx: tx.prune(outbox, outbox.c.done_at < older_than, batch))

    async def prune_raw(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of raw messages received before ``older_than`` (the bounce rows stay)."""
        return await self.run(lambda tx: tx.prune(raw_messages, raw_messages.c.received_at < older_than, batch))

    async def claim_outbox(self, now: datetime, limit: int, lease: int) -> list[OutboxItem]:
        """Claim up to ``limit`` due items for ``lease`` seconds (never the dead-lettered), oldest first.

        Claiming moves an item's ``next_attempt_at`` past the lease, in one statement,
        so no other daemon sees it due meanwhile; PostgreSQL skips rows another daemon
        is claiming at that moment (``FOR UPDATE SKIP LOCKED``), SQLite's writers are
        serialised anyway. A daemon that dies holding a claim frees it when the lease
        ends: the item is due again and another daemon (or the same, restarted) takes it.
        """
        due = (
            sa.select(outbox.c.id)
            .where(outbox.c.done_at.is_(None), outbox.c.dead_at.is_(None), outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        if not self._sqlite:
            due = due.with_for_update(skip_locked=True)
        claim = outbox.update().where(outbox.c.id.in_(due.scalar_subquery())).values(next_attempt_at=now + timedelta(seconds=lease))
        rows = await self.run(lambda tx: [dict(r._mapping) for r in tx.conn.execute(claim.returning(outbox))])
        items = []
        for r in sorted(rows, key=lambda r: r["id"]):
            kind = ActionKind(r["kind"])
            items.append(OutboxItem(r["id"], kind, r["dedup_key"], decode_payload(kind, r["payload"]), r["message"], r["attempts"]))
        return items

    async def ping(self) -> None:
        """Ask the database a trivial question (``SELECT 1``); StoreError if it cannot answer."""
        await self._rows(sa.select(sa.literal(1).label("one")))

    async def outbox_backlog(self) -> tuple[int, int, datetime | None]:
        """(waiting, dead-lettered, when the oldest waiting row was queued) for the outbox gauges."""
        pending = sa.and_(outbox.c.done_at.is_(None), outbox.c.dead_at.is_(None))
        query = sa.select(
            sa.func.count().filter(pending).label("pending"), sa.func.count().filter(outbox.c.dead_at.is_not(None)).label("dead"),
            sa.func.min(outbox.c.created_at).filter(pending).label("oldest"),
        ).where(outbox.c.done_at.is_(None))
        row = (await self._rows(query))[0]
        return int(row["pending"]), int(row["dead"]), row["oldest"]

    async def next_outbox_due(self) -> datetime | None:
        """When the earliest pending outbox item is due, if any."""
        query = sa.select(sa.func.min(outbox.c.next_attempt_at).label("due")).where(outbox.c.done_at.is_(None), outbox.c.dead_at.is_(None))
        return (await self._rows(query))[0]["due"]

    async def outbox_done(self, item_id: int, now: datetime) -> None:
        done = outbox.update().where(outbox.c.id == item_id).values(done_at=now, attempts=outbox.c.attempts + 1, last_error=None)
        await self.run(lambda tx: tx.conn.execute(done))

    async def outbox_failed(self, item_id: int, error: str, next_attempt_at: datetime, *, dead_at: datetime | None = None) -> None:
        """Count a failed attempt; ``dead_at`` gives the item up (dead letter) until ``retry_outbox``."""
        failed = (
            outbox.update()
            .where(outbox.c.id == item_id)
            .values(attempts=outbox.c.attempts + 1, last_error=error[:2000], next_attempt_at=next_attempt_at, dead_at=dead_at)
        )
        await self.run(lambda tx: tx.conn.execute(failed))

    async def retry_outbox(self, now: datetime, ids: list[int] | None = None) -> int:
        """Make dead-lettered items (``ids``, or all of them) due now with a fresh attempt count; returns how many."""
        condition = sa.and_(outbox.c.done_at.is_(None), outbox.c.dead_at.is_not(None))
        if ids is not None:
            condition = sa.and_(condition, outbox.c.id.in_(ids))
        retry = outbox.update().where(condition).values(dead_at=None, attempts=0, next_attempt_at=now)
        return await self.run(lambda tx: int(tx.conn.execute(retry).rowcount))


# The hot path's statements, built once per dialect and executed with parameters: building a
# statement with its values on every call cost SQLAlchemy about 1 ms per bounce (construction
# and cache-key generation), ten times the database's own work (profile in BENCHMARKS.md).
_PREPARED: dict[tuple[str, str], Any] = {}


def _prepare(insert: Any) -> dict[str, Any]:
    """The statements :class:`Transaction` executes on every message, for one dialect's ``insert``."""
    subject_row = insert(subjects)
    history_since = sa.bindparam("since", type_=UTCDateTime())
    return {
        "add_bounce": insert(bounces).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(bounces.c.id),
        "addresses_of": sa.select(bounces.c.address).where(bounces.c.verp_local == sa.bindparam("verp")).limit(sa.bindparam("limit")),
        "complainants_of": sa.select(complaints.c.address).where(complaints.c.verp_local == sa.bindparam("verp")).limit(sa.bindparam("limit")),
        "store_raw": insert(raw_messages).on_conflict_do_nothing(index_elements=["sha256"]).returning(raw_messages.c.id),
        "raw_id": sa.select(raw_messages.c.id).where(raw_messages.c.sha256 == sa.bindparam("sha256")),
        "add_complaint": insert(complaints).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(complaints.c.id),
        "touch_subject": subject_row.on_conflict_do_update(
            index_elements=["tenant", "user_id"], set_={"last_bounce_at": subject_row.excluded.last_bounce_at}
        ).returning(subjects.c.state, subjects.c.flagged_at, subjects.c.reset_at),
        "history": (
            sa.select(
                bounces.c.verp_local, bounces.c.address, bounces.c.sent_at, bounces.c.received_at, bounces.c.reason,
                bounces.c.severity, bounces.c.status, bounces.c.evidence,
            )
            .where(bounces.c.tenant == sa.bindparam("tenant"), bounces.c.user_id == sa.bindparam("user"), bounces.c.received_at >= history_since)
            .order_by(bounces.c.received_at.desc(), bounces.c.id.desc())
            .limit(sa.bindparam("limit"))
        ),
        "decision": decisions.insert().returning(decisions.c.id),
        "enqueue": insert(outbox).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(outbox.c.id),
    }


class Transaction:
    """The operations a unit of work composes inside one transaction (synchronous: it runs in the writer)."""

    def __init__(self, conn: sa.Connection, insert: Any) -> None:
        self.conn = conn
        self._insert = insert
        dialect = conn.dialect.name
        statements = _PREPARED.get((dialect, ""))
        if statements is None:
            statements = _PREPARED[(dialect, "")] = _prepare(insert)
        self._sql: dict[str, Any] = statements

    def add_bounce(self, record: BounceRecord, *, raw_id: int | None = None, dkim: str | None = None) -> Added:
        """Store ``record`` once per :func:`bounce_key`; a repeat only bumps its seen count, unless it is harder."""
        key = bounce_key(record)
        verdict = _fit(bounces, {
            "action": record.action,
            "status": record.status,
            "reply_code": record.reply_code,
            "reason": record.reason,
            "severity": record.severity.value,
            "diagnostic": record.diagnostic,
            "remote_mta": record.remote_mta,
            "reporting_mta": record.reporting_mta,
            "detector": record.detector,
            "final_address": record.final_address,
            "evidence": json.dumps(record.evidence.as_dict(), ensure_ascii=False) if record.evidence else None,
        })
        values = _fit(bounces, {
            **verdict,
            "tenant": record.tenant,
            "user_id": record.user,
            "verp_local": record.verp_local,
            "sent_at": record.sent_at,
            "received_at": record.received_at,
            "address": record.address,
            "message_id": record.message_id,
            "dedup_key": key,
            "seen_count": 1,
            "last_seen_at": record.received_at,
            "domain": record.address.rpartition("@")[2].lower()[:255] or None,
            "dkim": dkim,
            "raw_id": raw_id,
        })
        if self.conn.execute(self._sql["add_bounce"], values).first() is not None:
            return Added.NEW
        stored = (self.conn.execute(sa.select(bounces.c.id, bounces.c.severity).where(bounces.c.dedup_key == key))).one()
        seen = {"seen_count": sa.func.coalesce(bounces.c.seen_count, 1) + 1, "last_seen_at": record.received_at}
        harder = record.severity is Severity.HARD and stored.severity != Severity.HARD.value
        if harder:  # e.g. a delay notice first, then the failure: the row takes the failure's verdict
            seen.update(verdict)
            seen["received_at"] = record.received_at
        self.conn.execute(bounces.update().where(bounces.c.id == stored.id).values(seen))
        return Added.HARDER if harder else Added.DUPLICATE

    def addresses_of(self, verp_local: str, limit: int) -> set[str]:
        """The (case-folded) addresses already stored for one sent message, at most ``limit`` of them."""
        return {row.address.casefold() for row in self.conn.execute(self._sql["addresses_of"], {"verp": verp_local, "limit": limit})}

    def complainants_of(self, verp_local: str, limit: int) -> set[str]:
        """The (case-folded) addresses that already complained about one sent message, at most ``limit``."""
        return {row.address.casefold() for row in self.conn.execute(self._sql["complainants_of"], {"verp": verp_local, "limit": limit})}

    def store_raw(self, raw: bytes, now: datetime) -> int:
        """Keep ``raw`` for review (once per content); returns its id."""
        digest = hashlib.sha256(raw).hexdigest()
        row = self.conn.execute(self._sql["store_raw"], {"received_at": now, "sha256": digest, "message": raw}).first()
        if row is not None:
            return int(row.id)
        return int(self.conn.execute(self._sql["raw_id"], {"sha256": digest}).scalar_one())

    def add_complaint(
        self, *, tenant: str, user: int, verp_local: str, received_at: datetime, address: str, feedback_type: str, message_id: str | None,
        dkim: str | None = None, raw_id: int | None = None,
    ) -> bool:
        """Store one complaint; False if the same complaint was already stored."""
        values = _fit(complaints, dict(
            tenant=tenant, user_id=user, verp_local=verp_local, received_at=received_at, address=address,
            feedback_type=feedback_type, message_id=message_id, dkim=dkim, raw_id=raw_id,
            dedup_key=complaint_key(verp_local, address, feedback_type),
        ))
        return self.conn.execute(self._sql["add_complaint"], values).first() is not None

    def subject(self, tenant: str, user: int, now: datetime, *, touch: bool = True) -> History:
        """The subject's state (no bounces yet), creating it (active) if it has none.

        It also serialises decisions about one subject across daemons: on PostgreSQL the
        upsert (or ``FOR UPDATE``) locks the subject's row until the transaction ends, so
        a second daemon's decision waits and then reads the first one's bounces and state
        (READ COMMITTED reads afresh per statement); SQLite's writers are serialised by
        ``BEGIN IMMEDIATE``. Callers read the history only after this.
        """
        row_values = {"tenant": tenant, "user_id": user, "state": SubjectState.ACTIVE.value, "first_bounce_at": now, "last_bounce_at": now}
        columns = (subjects.c.state, subjects.c.flagged_at, subjects.c.reset_at)
        if touch:  # one statement: the upsert returns the row, new or updated
            row = self.conn.execute(self._sql["touch_subject"], row_values).one()
        else:
            statement = self._insert(subjects).values(row_values)
            self.conn.execute(statement.on_conflict_do_nothing(index_elements=["tenant", "user_id"]))
            locked = sa.select(*columns).where(subjects.c.tenant == tenant, subjects.c.user_id == user).with_for_update()
            row = (self.conn.execute(locked)).one()
        return History(SubjectState(row.state), row.flagged_at is not None, row.reset_at)

    def has_subject(self, tenant: str, user: int) -> bool:
        query = sa.select(subjects.c.state).where(subjects.c.tenant == tenant, subjects.c.user_id == user)
        return (self.conn.execute(query)).first() is not None

    def history(self, tenant: str, user: int, since: datetime, *, limit: int = HISTORY_ROWS) -> tuple[PastBounce, ...]:
        """The subject's bounces received since ``since``, newest first (at most ``limit``)."""
        rows = self.conn.execute(self._sql["history"], {"tenant": tenant, "user": user, "since": since, "limit": limit})
        return tuple(
            PastBounce(r.verp_local, r.address, r.sent_at, r.received_at, _reason(r.reason), Severity(r.severity), r.status, _evidence_ref(r.evidence))
            for r in rows
        )

    def apply(self, tenant: str, user: int, decision: Decision, now: datetime) -> int:
        """Carry out ``decision``'s state change and store it with its evidence; returns the decision's id."""
        where = sa.and_(subjects.c.tenant == tenant, subjects.c.user_id == user)
        why = decision.why.replace("\x00", "")  # PostgreSQL text holds no NUL (see _fit)
        if decision.action is Action.SUPPRESS:
            self.conn.execute(subjects.update().where(where).values(
                state=SubjectState.SUPPRESSED.value, state_changed_at=now, state_reason=why))
        elif decision.action is Action.WOULD_SUPPRESS:
            self.conn.execute(subjects.update().where(where).values(flagged_at=now))
        elif decision.action is Action.RESET:
            self.conn.execute(subjects.update().where(where).values(
                state=SubjectState.ACTIVE.value, state_changed_at=now, state_reason=why, flagged_at=None, reset_at=now))
        values = dict(
            tenant=tenant, user_id=user, decided_at=now, action=decision.action.value, rule=decision.rule.value, why=why,
            score=decision.score, addresses=json.dumps(list(decision.addresses)),
            counted=json.dumps([b.summary().body() for b in decision.counted], ensure_ascii=False),
        )
        return int(self.conn.execute(self._sql["decision"], values).scalar_one())

    def enqueue(self, kind: ActionKind, key: str, payload: Payload, message: bytes, now: datetime, *, tenant: str | None = None) -> bool:
        """Queue a side effect once per ``key``; False if it was already queued."""
        values = dict(kind=kind.value, dedup_key=key, payload=encode_payload(payload), message=message, created_at=now,
                      next_attempt_at=now, attempts=0, tenant=tenant)
        return self.conn.execute(self._sql["enqueue"], values).first() is not None

    def domain_failures(self, domain: str, since: datetime) -> dict[str, int]:
        """Failures from ``domain`` received since ``since``, counted by reason."""
        query = (
            sa.select(bounces.c.reason, sa.func.count().label("n"))
            .where(bounces.c.domain == domain, bounces.c.received_at >= since)
            .group_by(bounces.c.reason)
        )
        return {r.reason: int(r.n) for r in self.conn.execute(query)}

    def trouble_episode(self, domain: str) -> tuple[datetime, datetime] | None:
        row = (self.conn.execute(sa.select(trouble.c.started_at, trouble.c.last_seen_at).where(trouble.c.domain == domain))).first()
        return (row.started_at, row.last_seen_at) if row else None

    def set_trouble(self, domain: str, started_at: datetime, last_seen_at: datetime) -> None:
        statement = self._insert(trouble).values(domain=domain, started_at=started_at, last_seen_at=last_seen_at).on_conflict_do_update(
            index_elements=["domain"], set_={"started_at": started_at, "last_seen_at": last_seen_at})
        self.conn.execute(statement)

    def prune(self, table: sa.Table, condition: sa.ColumnElement[bool], batch: int) -> int:
        ids = sa.select(table.c.id).where(condition).limit(batch).scalar_subquery()
        result = self.conn.execute(table.delete().where(table.c.id.in_(ids)))
        return result.rowcount


async def copy_database(source: AsyncEngine, target: AsyncEngine, *, batch: int = 1000,
                        progress: Any = None) -> dict[str, int]:
    """Copy every row of verpd's tables from ``source`` to ``target`` (``verpd db copy``); returns rows copied per table.

    The target's schema is created or upgraded first. Rows go in primary-key order, in
    batches of ``batch``, each batch one transaction with ``ON CONFLICT DO NOTHING``:
    a copy that stops half way is resumed by running it again, and running it twice
    copies nothing twice. On PostgreSQL the id sequences are moved past the copied ids.
    ``progress(table, n)`` is called after each batch.
    """
    await init_schema(target)
    target_insert = sqlite.insert if target.dialect.name == "sqlite" else postgresql.insert
    copied: dict[str, int] = {}
    try:
        for table in metadata.sorted_tables:
            keys = list(table.primary_key.columns)
            copied[table.name] = 0
            last: tuple[Any, ...] | None = None
            while True:
                query = sa.select(table).order_by(*keys).limit(batch)
                if last is not None:
                    query = query.where(sa.tuple_(*keys) > sa.tuple_(*last)) if len(keys) > 1 else query.where(keys[0] > last[0])
                async with source.connect() as conn:
                    await conn.execution_options(**{READ_ONLY: True})
                    rows = [dict(r._mapping) for r in await conn.execute(query)]
                if not rows:
                    break
                async with target.begin() as conn:  # RETURNING counts what was new on every driver (rowcount does not on asyncpg)
                    result = await conn.execute(target_insert(table).on_conflict_do_nothing().returning(*keys), rows)
                    copied[table.name] += len(result.all())
                last = tuple(rows[-1][k.name] for k in keys)
                if progress is not None:
                    progress(table.name, len(rows))
            if target.dialect.name == "postgresql" and "id" in table.c:
                async with target.begin() as conn:
                    await conn.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), GREATEST(COALESCE((SELECT max(id) FROM {table.name}), 0), 1))"))
    except SQLAlchemyError as e:
        raise StoreError(f"copy failed: {_describe(e)}") from e
    return copied

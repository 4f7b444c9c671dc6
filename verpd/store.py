"""Durable state: bounces, subjects and the outbox (SQLAlchemy 2 Core, async).

SQLite (the default, through aiosqlite) runs in WAL mode with ``synchronous=FULL``,
so a committed transaction survives a crash or power loss; every write transaction
starts with ``BEGIN IMMEDIATE`` and writers of one process are serialised by a lock,
so a read-then-write never loses a race. Engines are created and passed explicitly.
Every database failure surfaces as :class:`~verpd.errors.StoreError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from verpd.errors import StoreError
from verpd.model import BounceRecord, Severity, SubjectState


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
    sa.Index("ix_bounces_subject_time", "tenant", "user_id", "received_at"),
    sa.Index("ix_bounces_received_at", "received_at"),
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
    sa.Index("ix_complaints_subject_time", "tenant", "user_id", "received_at"),
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
    sa.Index("ix_outbox_due", "done_at", "next_attempt_at"),
)


@dataclass(frozen=True)
class Subject:
    """The stored state of one tenant+user."""

    tenant: str
    user: int
    state: SubjectState
    flagged: bool


@dataclass(frozen=True)
class OutboxItem:
    """A durable side effect waiting to be carried out."""

    id: int
    kind: str
    payload: dict[str, Any]
    message: bytes
    attempts: int


def dedup_key(*parts: str) -> str:
    """A fixed-length unique key for a tuple of strings."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def bounce_key(record: BounceRecord) -> str:
    """One bounce per (sent message, failed address, action): MTA retries and duplicate DSNs collapse."""
    return dedup_key(record.verp_local, record.address.casefold(), record.action or "")


def create_engine(url: str, *, busy_timeout: float = 5.0) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, synchronous=FULL and BEGIN IMMEDIATE."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# Columns added after the first release, with the statement that adds each to an older
# database in place (nullable, so existing rows keep their data). Schema migrations proper
# (Alembic) take over from here.
ADDED_COLUMNS: tuple[tuple[sa.Table, sa.Column[Any]], ...] = (
    (bounces, bounces.c.final_address),
    (bounces, bounces.c.evidence),
)


async def init_schema(engine: AsyncEngine) -> None:
    """Create the tables that do not exist yet; add the columns an older database lacks."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_missing_columns)
    except SQLAlchemyError as e:
        raise StoreError(f"cannot create the schema: {_describe(e)}") from e


def _add_missing_columns(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    for table, column in ADDED_COLUMNS:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        if column.name not in present:
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def _describe(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0]


class Store:
    """Transactions over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One atomic unit of work; committed durably on a clean exit, rolled back otherwise."""
        async with self._serialised():
            try:
                async with self.engine.begin() as conn:
                    yield Transaction(conn, self._insert)
            except SQLAlchemyError as e:
                raise StoreError(_describe(e)) from e

    @asynccontextmanager
    async def _serialised(self) -> AsyncIterator[None]:
        if self._sqlite:
            async with self._write_lock:
                yield
        else:
            yield

    def _insert(self, table: sa.Table) -> Any:
        return (sqlite.insert if self._sqlite else postgresql.insert)(table)

    # --- reading (for the CLI and tests) ------------------------------------------------

    async def list_bounces(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(bounces).order_by(bounces.c.id.desc()).limit(limit)
        rows = await self._rows(query)
        for row in rows:
            if row.get("evidence"):
                row["evidence"] = json.loads(row["evidence"])
        return rows

    async def list_complaints(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(complaints).order_by(complaints.c.id.desc()).limit(limit)
        return await self._rows(query)

    async def list_subjects(self) -> list[dict[str, Any]]:
        query = sa.select(subjects).order_by(subjects.c.tenant, subjects.c.user_id)
        return await self._rows(query)

    async def list_outbox(self) -> list[dict[str, Any]]:
        query = sa.select(outbox).order_by(outbox.c.id)
        return await self._rows(query)

    async def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        try:
            async with self.engine.connect() as conn:
                result = await conn.execute(query)
                return [dict(row._mapping) for row in result]
        except SQLAlchemyError as e:
            raise StoreError(_describe(e)) from e

    # --- maintenance --------------------------------------------------------------------

    async def prune_bounces(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of bounces received before ``older_than``; returns the count."""
        async with self.transaction() as tx:
            return await tx.prune(bounces, bounces.c.received_at < older_than, batch)

    async def prune_complaints(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of complaints received before ``older_than``."""
        async with self.transaction() as tx:
            return await tx.prune(complaints, complaints.c.received_at < older_than, batch)

    async def prune_outbox(self, older_than: datetime, batch: int) -> int:
        """Delete one batch of outbox items carried out before ``older_than``."""
        async with self.transaction() as tx:
            return await tx.prune(outbox, outbox.c.done_at < older_than, batch)

    async def due_outbox(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Outbox items whose next attempt is due."""
        query = (
            sa.select(outbox)
            .where(outbox.c.done_at.is_(None), outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return [
            OutboxItem(r["id"], r["kind"], json.loads(r["payload"]), r["message"], r["attempts"])
            for r in await self._rows(query)
        ]

    async def next_outbox_due(self) -> datetime | None:
        """When the earliest pending outbox item is due, if any."""
        query = sa.select(sa.func.min(outbox.c.next_attempt_at).label("due")).where(outbox.c.done_at.is_(None))
        return (await self._rows(query))[0]["due"]

    async def outbox_done(self, item_id: int, now: datetime) -> None:
        async with self.transaction() as tx:
            await tx.conn.execute(
                outbox.update().where(outbox.c.id == item_id).values(done_at=now, attempts=outbox.c.attempts + 1, last_error=None)
            )

    async def outbox_failed(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        async with self.transaction() as tx:
            await tx.conn.execute(
                outbox.update()
                .where(outbox.c.id == item_id)
                .values(attempts=outbox.c.attempts + 1, last_error=error[:2000], next_attempt_at=next_attempt_at)
            )


class Transaction:
    """The operations the pipeline composes inside one transaction."""

    def __init__(self, conn: AsyncConnection, insert: Any) -> None:
        self.conn = conn
        self._insert = insert

    async def add_bounce(self, record: BounceRecord) -> bool:
        """Store ``record``; False if the same bounce was already stored."""
        values = {
            "tenant": record.tenant,
            "user_id": record.user,
            "verp_local": record.verp_local,
            "sent_at": record.sent_at,
            "received_at": record.received_at,
            "address": record.address,
            "action": record.action,
            "status": record.status,
            "reply_code": record.reply_code,
            "reason": record.reason,
            "severity": record.severity.value,
            "diagnostic": record.diagnostic,
            "remote_mta": record.remote_mta,
            "reporting_mta": record.reporting_mta,
            "detector": record.detector,
            "message_id": record.message_id,
            "dedup_key": bounce_key(record),
            "final_address": record.final_address,
            "evidence": json.dumps(record.evidence.as_dict(), ensure_ascii=False) if record.evidence else None,
        }
        statement = self._insert(bounces).values(values).on_conflict_do_nothing(index_elements=["dedup_key"])
        result = await self.conn.execute(statement.returning(bounces.c.id))
        return result.first() is not None

    async def add_complaint(
        self, *, tenant: str, user: int, verp_local: str, received_at: datetime, address: str, feedback_type: str, message_id: str | None
    ) -> bool:
        """Store one complaint; False if the same complaint was already stored."""
        values = dict(
            tenant=tenant, user_id=user, verp_local=verp_local, received_at=received_at, address=address,
            feedback_type=feedback_type, message_id=message_id,
            dedup_key=dedup_key("complaint", verp_local, address.casefold(), feedback_type),
        )
        statement = self._insert(complaints).values(values).on_conflict_do_nothing(index_elements=["dedup_key"])
        return (await self.conn.execute(statement.returning(complaints.c.id))).first() is not None

    async def subject(self, tenant: str, user: int, now: datetime) -> Subject:
        """The subject's state, creating it (active) on its first bounce."""
        statement = (
            self._insert(subjects)
            .values(tenant=tenant, user_id=user, state=SubjectState.ACTIVE.value, first_bounce_at=now, last_bounce_at=now)
            .on_conflict_do_update(index_elements=["tenant", "user_id"], set_={"last_bounce_at": now})
            .returning(subjects.c.state, subjects.c.flagged_at)
        )
        row = (await self.conn.execute(statement)).one()
        return Subject(tenant, user, SubjectState(row.state), row.flagged_at is not None)

    async def hard_bounce_count(self, tenant: str, user: int, since: datetime) -> int:
        """Distinct sent messages of the subject that bounced hard since ``since``."""
        query = sa.select(sa.func.count(sa.distinct(bounces.c.verp_local))).where(
            bounces.c.tenant == tenant,
            bounces.c.user_id == user,
            bounces.c.severity == Severity.HARD.value,
            bounces.c.received_at >= since,
        )
        return (await self.conn.execute(query)).scalar_one()

    async def suppress(self, tenant: str, user: int, now: datetime, reason: str) -> None:
        await self.conn.execute(
            subjects.update()
            .where(subjects.c.tenant == tenant, subjects.c.user_id == user)
            .values(state=SubjectState.SUPPRESSED.value, state_changed_at=now, state_reason=reason)
        )

    async def flag(self, tenant: str, user: int, now: datetime) -> None:
        await self.conn.execute(
            subjects.update().where(subjects.c.tenant == tenant, subjects.c.user_id == user).values(flagged_at=now)
        )

    async def enqueue(self, kind: str, key: str, payload: dict[str, Any], message: bytes, now: datetime) -> bool:
        """Queue a side effect once per ``key``; False if it was already queued."""
        statement = (
            self._insert(outbox)
            .values(kind=kind, dedup_key=key, payload=json.dumps(payload), message=message, created_at=now, next_attempt_at=now, attempts=0)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
        )
        result = await self.conn.execute(statement.returning(outbox.c.id))
        return result.first() is not None

    async def prune(self, table: sa.Table, condition: sa.ColumnElement[bool], batch: int) -> int:
        ids = sa.select(table.c.id).where(condition).limit(batch).scalar_subquery()
        result = await self.conn.execute(table.delete().where(table.c.id.in_(ids)))
        return result.rowcount

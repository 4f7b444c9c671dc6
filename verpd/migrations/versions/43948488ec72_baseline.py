"""baseline: the whole schema when verpd began versioned migrations; adopts an earlier verpd's database

Revision ID: 43948488ec72
Revises:
Create Date: 2026-05-01

On an empty database this creates every table with its indexes and unique constraints. On a
database an earlier verpd made (it created and extended its tables itself, and recorded no
revision) it adds, in place, what that database lacks: the tables added since the first
release (decisions, raw_messages, trouble), the columns (all nullable, so existing rows keep
their data and read as they did) and the indexes. The tables are written out here, as they
stood, and never imported from verpd.store: later revisions change them, not this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from verpd.errors import SchemaError

revision = "43948488ec72"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)  # verpd.store.UTCDateTime's column type: aware UTC (naive UTC on SQLite)

SCHEMA = sa.MetaData()

sa.Table(
    "bounces",
    SCHEMA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("verp_local", sa.String(255), nullable=False),
    sa.Column("sent_at", UTC_TIME, nullable=False),
    sa.Column("received_at", UTC_TIME, nullable=False),
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
    sa.Column("final_address", sa.String(998)),  # added after the first release, like every column below
    sa.Column("evidence", sa.Text),
    sa.Column("seen_count", sa.Integer),
    sa.Column("last_seen_at", UTC_TIME),
    sa.Column("domain", sa.String(255)),
    sa.Column("dkim", sa.String(16)),
    sa.Column("raw_id", sa.Integer),
    sa.Index("ix_bounces_subject_time", "tenant", "user_id", "received_at"),
    sa.Index("ix_bounces_received_at", "received_at"),
    sa.Index("ix_bounces_verp", "verp_local"),  # added after the first release
    sa.Index("ix_bounces_domain_time", "domain", "received_at"),  # added after the first release
)

sa.Table(
    "complaints",
    SCHEMA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("verp_local", sa.String(255), nullable=False),
    sa.Column("received_at", UTC_TIME, nullable=False),
    sa.Column("address", sa.String(998), nullable=False),
    sa.Column("feedback_type", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(998)),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("dkim", sa.String(16)),  # added after the first release, like raw_id
    sa.Column("raw_id", sa.Integer),
    sa.Index("ix_complaints_subject_time", "tenant", "user_id", "received_at"),
    sa.Index("ix_complaints_verp", "verp_local"),  # added after the first release
    sa.Index("ix_complaints_received_at", "received_at"),
)

sa.Table(
    "subjects",
    SCHEMA,
    sa.Column("tenant", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("first_bounce_at", UTC_TIME, nullable=False),
    sa.Column("last_bounce_at", UTC_TIME, nullable=False),
    sa.Column("state_changed_at", UTC_TIME),
    sa.Column("state_reason", sa.Text),
    sa.Column("flagged_at", UTC_TIME),
    sa.Column("reset_at", UTC_TIME),  # added after the first release
)

sa.Table(  # added after the first release
    "decisions",
    SCHEMA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(255), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("decided_at", UTC_TIME, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("addresses", sa.Text, nullable=False),
    sa.Column("counted", sa.Text, nullable=False),
    sa.Index("ix_decisions_subject", "tenant", "user_id", "decided_at"),
    sa.Index("ix_decisions_decided_at", "decided_at"),
)

sa.Table(  # added after the first release
    "raw_messages",
    SCHEMA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("received_at", UTC_TIME, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("message", sa.LargeBinary, nullable=False),
    sa.Index("ix_raw_messages_received_at", "received_at"),
)

sa.Table(  # added after the first release
    "trouble",
    SCHEMA,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("started_at", UTC_TIME, nullable=False),
    sa.Column("last_seen_at", UTC_TIME, nullable=False),
)

sa.Table(
    "outbox",
    SCHEMA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("message", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTC_TIME, nullable=False),
    sa.Column("next_attempt_at", UTC_TIME, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("done_at", UTC_TIME),
    sa.Column("dead_at", UTC_TIME),  # added after the first release, like tenant
    sa.Column("tenant", sa.String(255)),
    sa.Index("ix_outbox_due", "done_at", "next_attempt_at"),
)


def _gaps(conn: sa.Connection) -> list[tuple[sa.Table, list[sa.Column[object]], list[sa.Index]]]:
    """Per table of SCHEMA: the table itself when it is missing (all of its columns and indexes), or
    the columns and indexes the database's table lacks. SchemaError for a table verpd did not make."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    gaps = []
    for table in SCHEMA.sorted_tables:
        if table.name not in present:
            gaps.append((table, list(table.columns), list(table.indexes)))
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        lacking = [c for c in table.columns if c.name not in columns]
        required = [c.name for c in lacking if not c.nullable or c.primary_key]
        if required:
            raise SchemaError(f"table {table.name} has no column {', '.join(required)}, which every verpd created with it: "
                             "this database holds tables verpd did not make; point database.url at another database")
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        gaps.append((table, lacking, [i for i in table.indexes if i.name not in indexes]))
    return [gap for gap in gaps if gap[1] or gap[2]]


def missing(conn: sa.Connection) -> list[str]:
    """What the database lacks of this schema ("table trouble", "column bounces.dkim", "index ix_bounces_verp"); empty: nothing."""
    present = set(sa.inspect(conn).get_table_names())
    found = []
    for table, columns, indexes in _gaps(conn):
        if table.name not in present:
            found.append(f"table {table.name}")
            continue
        found += [f"column {table.name}.{c.name}" for c in columns] + [f"index {i.name}" for i in indexes]
    return found


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table, columns, indexes in _gaps(bind):
        if table.name not in present:
            table.create(bind)  # with its indexes and unique constraints
            continue
        if columns:
            with op.batch_alter_table(table.name) as batch:  # SQLite: ADD COLUMN in place, no copy of the table
                for column in columns:
                    batch.add_column(sa.Column(column.name, column.type, nullable=True))
        for index in indexes:
            op.create_index(index.name, table.name, [c.name for c in index.columns], unique=index.unique)


def downgrade() -> None:
    raise NotImplementedError("verpd does not downgrade: restore the backup taken before the upgrade")

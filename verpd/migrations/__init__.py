"""Versioned schema migrations (Alembic), shipped inside the package: no alembic.ini at run time.

The revisions live in ``versions/``; each one writes its schema change out in full and never
imports ``verpd.store`` (so a later change to the tables cannot rewrite history). ``env.py``
runs them on a sync connection handed over through ``AsyncConnection.run_sync`` (how the
store calls them) or, for a developer's own use of Alembic's commands, on an async engine
built from ``sqlalchemy.url``. SQLite cannot alter most of a table in place: revisions use
``op.batch_alter_table``, which copies the table where SQLite needs it.

A database an earlier verpd made has no ``alembic_version`` table. It is adopted, never
rejected or emptied: the baseline revision brings it to the baseline in place (it adds the
tables, columns and indexes it lacks; existing rows keep their data), then the revision is
recorded. :func:`status` says what such a database lacks, so that ``serve`` can tell a
bare bookkeeping step (nothing lacking) from a change of schema (an operator's decision).

Everything here works on a sync :class:`sqlalchemy.Connection` inside the caller's
transaction; ``verpd.store`` wraps it for its async engine.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from typing import TYPE_CHECKING

import sqlalchemy as sa

from verpd.errors import SchemaError

if TYPE_CHECKING:  # Alembic is imported only to migrate or to list revisions: a current database needs none of it
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
BASELINE = "43948488ec72"  # versions/43948488ec72_baseline.py: the whole schema when migrations began
# The newest revision in versions/ (tests/test_migrations.py checks it is Alembic's head): a database
# recorded at HEAD is current without loading Alembic, which would cost serve about 10 MiB of memory.
HEAD = "43948488ec72"
_VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))


class SchemaState(enum.Enum):
    """Where a database's schema stands against this verpd's migrations."""

    MISSING = "missing"  # no table of verpd's: an empty database (serve creates the schema)
    OUTDATED = "outdated"  # an older revision, or an earlier verpd's tables lacking part of the baseline
    CURRENT = "current"  # at this verpd's head (or an earlier verpd's tables that need only the revision recorded)
    NEWER = "newer"  # a revision this verpd does not know: a newer verpd wrote it


@dataclass(frozen=True)
class SchemaStatus:
    """A database's schema, as read by :func:`status`."""

    state: SchemaState
    revision: str | None  # as recorded in alembic_version; None when nothing is recorded
    head: str  # the revision this verpd needs
    unversioned: bool = False  # tables of an earlier verpd, made before migrations (no revision recorded)
    missing: tuple[str, ...] = ()  # what those tables lack of the baseline: "column bounces.dkim", "table trouble"

    @property
    def at(self) -> str:
        """The recorded revision, or what stands in for it: "none (...)"."""
        if self.revision is not None:
            return self.revision
        if self.unversioned:
            return "none (tables of an earlier verpd, made before versioned migrations)"
        return "none (empty database)"

    def outdated_message(self) -> str:
        return (f"database schema is at revision {self.at}, this verpd needs {self.head}: "
                "run verpd db upgrade (or set database.auto_upgrade = true)")

    def newer_message(self) -> str:
        return (f"database schema is at revision {self.revision}, which this verpd does not know (it needs {self.head}): "
                "a newer verpd wrote it; run that version, or restore the backup taken before its upgrade")


def config(connection: sa.Connection | None = None, *, url: str | None = None, target_metadata: sa.MetaData | None = None) -> Config:
    """Alembic's configuration, built in code: the scripts in this package, and the connection
    (or the URL of a database) to run them on. ``target_metadata`` is for ``alembic revision
    --autogenerate`` from a developer's shell (``verpd.store.metadata``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    cfg.attributes["target_metadata"] = target_metadata
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this verpd knows: the schema it needs."""
    found = _script().get_current_head()
    assert found is not None, "verpd/migrations/versions holds no revision"
    return found


def known(revision: str) -> bool:
    return any(script.revision == revision for script in _script().walk_revisions())


def baseline() -> ModuleType:
    """The baseline revision's module (its ``missing`` says what an earlier verpd's database lacks)."""
    module: ModuleType = _script().get_revision(BASELINE).module
    return module


def current(conn: sa.Connection) -> str | None:
    """The revision recorded in the database (None: none is, the database is empty or predates migrations)."""
    heads = _recorded(conn)
    return ",".join(heads) if heads else None


def _recorded(conn: sa.Connection) -> tuple[str, ...]:
    """The revisions in ``alembic_version`` (none when the table is missing), read as Alembic reads them."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(sorted(row.version_num for row in conn.execute(sa.select(_VERSION_TABLE.c.version_num))))


def status(conn: sa.Connection) -> SchemaStatus:
    """Where the database's schema stands (SchemaError if it holds tables verpd did not make)."""
    recorded = _recorded(conn)
    if recorded == (HEAD,):
        return SchemaStatus(SchemaState.CURRENT, HEAD, HEAD)
    newest = head()
    if recorded:
        revision = ",".join(recorded)
        if not all(known(r) for r in recorded):
            return SchemaStatus(SchemaState.NEWER, revision, newest)
        return SchemaStatus(SchemaState.CURRENT if recorded == (newest,) else SchemaState.OUTDATED, revision, newest)
    ours = set(baseline().SCHEMA.tables) & set(sa.inspect(conn).get_table_names())
    if not ours:
        return SchemaStatus(SchemaState.MISSING, None, newest)
    missing = tuple(baseline().missing(conn))
    # An earlier verpd's tables with nothing missing need only the revision recorded; that changes no
    # table, so serve does it by itself. Anything missing is a schema change: the operator's decision.
    state = SchemaState.CURRENT if not missing and newest == BASELINE else SchemaState.OUTDATED
    return SchemaStatus(state, None, newest, unversioned=True, missing=missing)


def upgrade(conn: sa.Connection) -> tuple[str | None, str]:
    """Bring the schema to this verpd's head, in the caller's transaction: create it on an empty
    database, adopt an earlier verpd's tables, run the revisions not yet applied. (before, after)."""
    before = status(conn)
    if before.state is SchemaState.NEWER:
        raise SchemaError(before.newer_message())
    from alembic import command

    command.upgrade(config(conn), "head")
    after = current(conn)
    assert after is not None
    return before.revision, after


def run(cfg: Config, connection: sa.Connection, context: Any) -> None:
    """What env.py does with a connection: configure Alembic's context on it and run the migrations."""
    context.configure(
        connection=connection,
        target_metadata=cfg.attributes.get("target_metadata"),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE cannot drop or change a column
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

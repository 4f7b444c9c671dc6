"""Schema migrations: head equals the declared schema, an earlier verpd's database is adopted with
every row, and serve, ingest and the ``db`` commands refuse what they must.

Every test runs on SQLite; with ``VERPD_TEST_PG_URL=postgresql+asyncpg://...`` (a role that may
create databases) each one runs on PostgreSQL too, in a database of its own dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.daemon_process import Process, free_port, write_config, write_config_file
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from tests.test_cli_commands import sent, verpd
from verpd import migrations
from verpd.errors import SchemaError
from verpd.migrations import SchemaState
from verpd.store import Store, create_engine, current, ensure_schema, init_schema, metadata, schema_state, schema_status, upgrade

PG_URL = os.environ.get("VERPD_TEST_PG_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
OUTDATED_MESSAGE = ("verpd: database schema is at revision none (tables of an earlier verpd, made before versioned migrations), "
                    "this verpd needs {head}: run verpd db upgrade (or set database.auto_upgrade = true)")


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file, or a fresh database on VERPD_TEST_PG_URL's server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'verpd.sqlite3'}"
        return
    assert PG_URL is not None
    name = f"verpd_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


# The first release's schema, as its create_all wrote it (verpd/store.py at 8372244), on either backend.
FIRST_RELEASE = """
CREATE TABLE bounces (
    id {serial}, tenant VARCHAR(255) NOT NULL, user_id BIGINT NOT NULL, verp_local VARCHAR(255) NOT NULL,
    sent_at {datetime} NOT NULL, received_at {datetime} NOT NULL, address VARCHAR(998) NOT NULL, action VARCHAR(32),
    status VARCHAR(16), reply_code INTEGER, reason VARCHAR(32) NOT NULL, severity VARCHAR(8) NOT NULL, diagnostic TEXT,
    remote_mta VARCHAR(255), reporting_mta VARCHAR(255), detector VARCHAR(32), message_id VARCHAR(998),
    dedup_key VARCHAR(64) NOT NULL, PRIMARY KEY (id), UNIQUE (dedup_key));
CREATE INDEX ix_bounces_received_at ON bounces (received_at);
CREATE INDEX ix_bounces_subject_time ON bounces (tenant, user_id, received_at);
CREATE TABLE complaints (
    id {serial}, tenant VARCHAR(255) NOT NULL, user_id BIGINT NOT NULL, verp_local VARCHAR(255) NOT NULL,
    received_at {datetime} NOT NULL, address VARCHAR(998) NOT NULL, feedback_type VARCHAR(32) NOT NULL,
    message_id VARCHAR(998), dedup_key VARCHAR(64) NOT NULL, PRIMARY KEY (id), UNIQUE (dedup_key));
CREATE INDEX ix_complaints_subject_time ON complaints (tenant, user_id, received_at);
CREATE INDEX ix_complaints_received_at ON complaints (received_at);
CREATE TABLE outbox (
    id {serial}, kind VARCHAR(32) NOT NULL, dedup_key VARCHAR(64) NOT NULL, payload TEXT NOT NULL, message {blob} NOT NULL,
    created_at {datetime} NOT NULL, next_attempt_at {datetime} NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
    done_at {datetime}, PRIMARY KEY (id), UNIQUE (dedup_key));
CREATE INDEX ix_outbox_due ON outbox (done_at, next_attempt_at);
CREATE TABLE subjects (
    tenant VARCHAR(255) NOT NULL, user_id BIGINT NOT NULL, state VARCHAR(16) NOT NULL, first_bounce_at {datetime} NOT NULL,
    last_bounce_at {datetime} NOT NULL, state_changed_at {datetime}, state_reason TEXT, flagged_at {datetime},
    PRIMARY KEY (tenant, user_id))
"""
TYPES = {
    "sqlite": {"serial": "INTEGER NOT NULL", "datetime": "DATETIME", "blob": "BLOB"},
    "postgresql": {"serial": "SERIAL NOT NULL", "datetime": "TIMESTAMP WITH TIME ZONE", "blob": "BYTEA"},
}
ROWS = {  # one row per table of the first release, every column filled where it can be
    "bounces": ("INSERT INTO bounces (tenant, user_id, verp_local, sent_at, received_at, address, action, status, reply_code, reason,"
                " severity, diagnostic, remote_mta, reporting_mta, detector, message_id, dedup_key) VALUES ('enwiki', 7, 'wiki-enwiki-7-x',"
                " '2025-03-01 10:00:00', '2025-03-01 10:05:00', 'old@example.com', 'failed', '5.1.1', 550, 'userunknown', 'hard',"
                " '550 5.1.1 no such user', 'mx.example.com', 'mta.example.org', 'rfc3464', '<m1@example.org>', 'k-bounce')"),
    "complaints": ("INSERT INTO complaints (tenant, user_id, verp_local, received_at, address, feedback_type, message_id, dedup_key)"
                   " VALUES ('enwiki', 8, 'wiki-enwiki-8-y', '2025-03-02 11:00:00', 'angry@example.net', 'abuse', '<m2@example.org>', 'k-complaint')"),
    "subjects": ("INSERT INTO subjects (tenant, user_id, state, first_bounce_at, last_bounce_at, state_changed_at, state_reason, flagged_at)"
                 " VALUES ('enwiki', 7, 'suppressed', '2025-03-01 10:05:00', '2025-03-01 10:05:00', '2025-03-01 10:05:01', 'limit reached',"
                 " '2025-03-01 10:05:01')"),
    "outbox": ("INSERT INTO outbox (kind, dedup_key, payload, message, created_at, next_attempt_at, attempts, last_error, done_at)"
               " VALUES ('forward', 'k-outbox', '{\"to\": [\"ops@example.org\"]}', :message, '2025-03-01 10:05:02', '2025-03-01 10:06:02', 2,"
               " 'connection refused', NULL)"),
}


async def make_first_release_database(engine: AsyncEngine) -> Snapshot:
    """The first release's tables with a row in each; returns every row, by table."""
    ddl = FIRST_RELEASE.format(**TYPES[engine.dialect.name])
    async with engine.begin() as conn:
        for statement in ddl.split(";"):
            await conn.exec_driver_sql(statement)
        for insert in ROWS.values():
            await conn.execute(sa.text(insert), {"message": b"From: verpd\r\n\r\nforwarded \x00\xff bytes\r\n"})
    return await rows(engine)


Snapshot = dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]


async def rows(engine: AsyncEngine, like: Snapshot | None = None) -> Snapshot:
    """Every row of the first release's tables, by table: in the columns they have now, or in those of ``like``."""
    tables = sa.MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: tables.reflect(sync, only=list(ROWS)))
        out = {}
        for name in ROWS:
            table = tables.tables[name]
            names = like[name][0] if like else tuple(c.name for c in table.columns)
            result = await conn.execute(sa.select(*(table.c[n] for n in names)).order_by(*table.primary_key.columns))
            out[name] = (names, [tuple(row) for row in result])
    return out


async def differences(engine: AsyncEngine) -> list[Any]:
    """What Alembic's autogenerate finds between the database and verpd.store.metadata (nothing, when they agree)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))


# --- upgrade, adoption ------------------------------------------------------------------


async def test_upgrade_of_an_empty_database_gives_exactly_the_declared_schema(engine: AsyncEngine) -> None:
    """``upgrade`` on an empty database reaches head, and the database then equals store.metadata: no difference at all."""
    assert await schema_state(engine) is SchemaState.MISSING
    assert await upgrade(engine) == (None, migrations.head())
    assert await differences(engine) == []
    assert (await current(engine), await schema_state(engine)) == (migrations.head(), SchemaState.CURRENT)
    assert await upgrade(engine) == (migrations.head(), migrations.head())  # a second run does nothing


async def test_a_first_release_database_with_rows_in_every_table_reaches_head_and_loses_nothing(engine: AsyncEngine) -> None:
    """The first release's tables gain what they lack in place; every row keeps every value, and the schema ends equal to metadata."""
    before = await make_first_release_database(engine)
    assert [len(table_rows) for _, table_rows in before.values()] == [1, 1, 1, 1]
    found = await schema_status(engine)
    assert (found.state, found.revision, found.unversioned) == (SchemaState.OUTDATED, None, True)
    assert {"table decisions", "table raw_messages", "table trouble", "column bounces.dkim", "column subjects.reset_at",
            "column outbox.dead_at", "column outbox.tenant", "column complaints.raw_id", "index ix_bounces_verp"} <= set(found.missing)
    assert await upgrade(engine) == (None, migrations.head())
    assert await rows(engine, before) == before
    assert await differences(engine) == []
    assert await schema_state(engine) is SchemaState.CURRENT
    (bounce,) = await Store(engine).list_bounces()
    assert (bounce["address"], bounce["reason"], bounce["evidence"], bounce["dkim"]) == ("old@example.com", "userunknown", None, None)
    (item,) = await Store(engine).list_outbox()
    assert (item["kind"], item["attempts"], item["tenant"]) == ("forward", 2, None)


async def test_a_pre_migration_database_that_lacks_nothing_only_gets_its_revision_recorded(engine: AsyncEngine) -> None:
    """Tables an earlier verpd brought fully up to date count as current: serve records the baseline without asking (while it is head)."""
    async with engine.begin() as conn:
        await conn.run_sync(migrations.baseline().SCHEMA.create_all)
        await conn.execute(sa.text(ROWS["complaints"]))
    found = await schema_status(engine)
    assert (found.state, found.revision, found.unversioned, found.missing) == (SchemaState.CURRENT, None, True, ())
    assert await ensure_schema(engine, auto_upgrade=False) == (None, migrations.BASELINE)
    assert await current(engine) == migrations.BASELINE == migrations.head()
    assert await differences(engine) == []
    assert [c["address"] for c in await Store(engine).list_complaints()] == ["angry@example.net"]


async def test_tables_verpd_did_not_make_are_refused_not_altered(engine: AsyncEngine) -> None:
    """A table named like one of ours but lacking a column every verpd had is refused (SchemaError), never extended."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE bounces (id INTEGER PRIMARY KEY, note TEXT)")
    with pytest.raises(SchemaError, match="table bounces has no column tenant, .*verpd did not make"):
        await init_schema(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()) == ["bounces"]


async def test_a_revision_this_verpd_does_not_know_is_refused(engine: AsyncEngine) -> None:
    """A schema a newer verpd wrote (an unknown revision) is NEWER: upgrade and ensure_schema refuse it and change nothing."""
    await init_schema(engine)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    assert await schema_state(engine) is SchemaState.NEWER
    for attempt in (upgrade(engine), ensure_schema(engine, auto_upgrade=True)):
        with pytest.raises(SchemaError, match="at revision f00dfeedbeef, which this verpd does not know .*a newer verpd wrote it"):
            await attempt
    assert await current(engine) == "f00dfeedbeef"


async def test_an_outdated_schema_is_refused_unless_auto_upgrade(engine: AsyncEngine) -> None:
    """ensure_schema (serve's rule) refuses an outdated schema with the command to run, and upgrades it with auto_upgrade."""
    before = await make_first_release_database(engine)
    with pytest.raises(SchemaError) as refused:
        await ensure_schema(engine, auto_upgrade=False)
    assert f"verpd: {refused.value}" == OUTDATED_MESSAGE.format(head=migrations.head()) and refused.value.status == 78
    assert await schema_state(engine) is SchemaState.OUTDATED  # untouched
    assert await ensure_schema(engine, auto_upgrade=True) == (None, migrations.head())
    assert await rows(engine, before) == before and await schema_state(engine) is SchemaState.CURRENT


# --- the real program ---------------------------------------------------------------------


async def test_db_current_and_db_upgrade_on_a_first_release_database(tmp_path: Path, engine: AsyncEngine, database_url: str) -> None:
    """``db current`` says an old database is not at head (exit 1); ``db upgrade`` prints before → after; then current exits 0."""
    await make_first_release_database(engine)
    config = write_config_file(tmp_path, database={"url": database_url})
    head = migrations.head()
    done = verpd("--config", str(config), "db", "current")
    assert done.returncode == 1 and f"not head: this verpd needs {head}; it lacks column bounces.final_address" in done.stdout.decode()
    assert done.stdout.decode().rstrip().endswith("run verpd db upgrade")
    done = verpd("--config", str(config), "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().endswith(": schema none (tables of an earlier verpd, made before versioned migrations) → " + f"{head} (head)\n")
    done = verpd("--config", str(config), "db", "current")
    assert (done.returncode, done.stdout.decode()) == (0, f"{head} (head)\n")
    assert "nothing to do" in verpd("--config", str(config), "db", "upgrade").stdout.decode()


async def test_serve_refuses_an_outdated_schema_with_one_line_and_status_78(tmp_path: Path, engine: AsyncEngine, database_url: str) -> None:
    """serve on a first-release database exits 78 (systemd does not restart) with one line naming the command; it changes nothing."""
    await make_first_release_database(engine)
    config = write_config_file(tmp_path, database={"url": database_url})
    done = verpd("--config", str(config), "serve")
    lines = [line for line in done.stderr.decode().splitlines() if line.startswith("verpd: ")]
    assert (done.returncode, lines) == (78, [OUTDATED_MESSAGE.format(head=migrations.head())])
    assert await schema_state(engine) is SchemaState.OUTDATED


async def test_serve_with_auto_upgrade_upgrades_an_outdated_schema(tmp_path: Path, engine: AsyncEngine, database_url: str) -> None:
    """With database.auto_upgrade = true serve upgrades a first-release database, logs schema.upgraded, and starts."""
    before = await make_first_release_database(engine)
    port = free_port()
    # max_age = 0: the pruner, which sweeps at start, must not delete the 2025 rows this test compares.
    process = await Process.start(write_config(tmp_path, port, database={"url": database_url, "auto_upgrade": True}, policy={"max_age": 0}))
    try:
        upgraded = await process.wait_for_event("schema.upgraded")
        client = await LMTPClient.connect("127.0.0.1", port)  # serving: SIGTERM is handled from here on
        client.writer.close()
    finally:
        process.proc.terminate()
        assert await process.finish() == 0
    assert (upgraded["from_revision"], upgraded["to_revision"]) == (None, migrations.head())
    # The running daemon's outbox worker may claim the old due row meanwhile (attempts, next_attempt_at,
    # last_error): what the upgrade must keep is every row and every other value.
    worked = {"next_attempt_at", "attempts", "last_error", "done_at", "dead_at"}
    kept = {**before, "outbox": (tuple(n for n in before["outbox"][0] if n not in worked), [])}
    kept["outbox"] = (kept["outbox"][0], [tuple(v for n, v in zip(before["outbox"][0], row) if n not in worked) for row in before["outbox"][1]])
    assert await rows(engine, kept) == kept and await schema_state(engine) is SchemaState.CURRENT


async def test_serve_and_db_upgrade_refuse_a_schema_a_newer_verpd_wrote(tmp_path: Path, engine: AsyncEngine, database_url: str) -> None:
    """An unknown revision: serve and db upgrade exit 78 saying a newer verpd wrote it; db current exits 1."""
    await init_schema(engine)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    config = write_config_file(tmp_path, database={"url": database_url, "auto_upgrade": True})
    for command in ("serve", "db upgrade"):
        done = verpd("--config", str(config), *command.split())
        assert done.returncode == 78 and b"a newer verpd wrote it" in done.stderr, (command, done.stderr)
    done = verpd("--config", str(config), "db", "current")
    assert done.returncode == 1 and b"f00dfeedbeef: unknown to this verpd" in done.stdout


async def test_ingest_leaves_the_message_with_the_mta_while_the_schema_is_outdated(tmp_path: Path, engine: AsyncEngine, database_url: str) -> None:
    """ingest on an outdated schema exits 75 (the MTA keeps the message and retries), not 78 (it would bounce it)."""
    await make_first_release_database(engine)
    config = write_config_file(tmp_path, database={"url": database_url})
    verp = sent(config, 5)
    done = verpd("--config", str(config), "ingest", verp, stdin=dsn(verp))
    assert done.returncode == 75 and b"run verpd db upgrade" in done.stderr and b"the MTA will retry" in done.stderr
    assert await schema_state(engine) is SchemaState.OUTDATED


def test_head_names_the_newest_revision_in_versions() -> None:
    """migrations.HEAD, the revision a current database is recognised by without Alembic, is Alembic's own head:
    a new revision in versions/ must move it."""
    assert migrations.HEAD == migrations.head()


def test_a_current_database_is_opened_without_loading_alembic(tmp_path: Path) -> None:
    """serve and the commands on a database already at head never import Alembic (about 10 MiB of memory)."""
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3"
    program = (
        "import asyncio, sys\n"
        "from verpd.store import create_engine, ensure_schema\n"
        "async def main(made):\n"
        "    engine = create_engine(sys.argv[1])\n"
        "    await ensure_schema(engine, auto_upgrade=False)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main(sys.argv[2]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    made = subprocess.run([sys.executable, "-c", program, url, "create"], capture_output=True, text=True, check=True)
    assert made.stdout.strip() != "[]"  # creating the schema runs the migrations: Alembic is needed then
    opened = subprocess.run([sys.executable, "-c", program, url, "open"], capture_output=True, text=True, check=True)
    assert opened.stdout.strip() == "[]", opened.stdout

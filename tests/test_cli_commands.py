"""The real CLI, command by command: help, the new commands, and one-line errors an operator can act on."""

from __future__ import annotations

import json
import mailbox
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import logaudit
from tests.conftest import REPO, FakeClock, make_config
from tests.daemon_process import write_config_file
from tests.messages import complaint, dsn
from verpd import cli
from verpd.verp import Verp

COMMANDS = [
    ["check-config"], ["serve"], ["verp", "encode"], ["verp", "verify"], ["parse"], ["ingest"], ["log-key"],
    ["bounces", "list"], ["bounces", "show"], ["complaints", "list"], ["subjects", "list"], ["subjects", "show"],
    ["subjects", "reset"], ["outbox", "list"], ["outbox", "retry"], ["stats"], ["prune"], ["db", "upgrade"], ["db", "current"], ["db", "copy"],
]


def verpd(*argv: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real program: ``python -m verpd ARGV`` in a subprocess."""
    done = subprocess.run([sys.executable, "-m", "verpd", *argv], input=stdin, capture_output=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    for line in done.stderr.decode("utf-8", "replace").splitlines():
        logaudit.feed("cli", line)
    return done


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command: list[str]) -> None:
    done = verpd(*command, "--help")
    assert done.returncode == 0 and done.stdout.startswith(b"usage: verpd " + " ".join(command).encode())


def test_the_configuration_is_accepted_before_or_after_the_command(tmp_path: Path) -> None:
    config = write_config_file(tmp_path)
    before, after = verpd("--config", str(config), "subjects", "list", "--json"), verpd("subjects", "list", "--json", "--config", str(config))
    assert before.returncode == after.returncode == 0 and before.stdout == after.stdout == b""


def sent(config_file: Path, user: int, minutes_ago: float = 1) -> str:
    config = make_config(config_file.parent)
    return Verp(config.verp).encode("enwiki", user, int((datetime.now(UTC) - timedelta(minutes=minutes_ago)).timestamp()))


# --- ingest -----------------------------------------------------------------------------


def test_ingest_records_one_message_from_stdin_for_the_named_recipient(tmp_path: Path, database_url: str) -> None:
    config = write_config_file(tmp_path, database={"url": database_url})
    verp = sent(config, 5)
    done = verpd("--config", str(config), "ingest", verp, stdin=dsn(verp))
    assert done.returncode == 0 and done.stdout.strip() == b"recorded"
    rows = json.loads(verpd("--config", str(config), "bounces", "list", "--json").stdout)
    assert (rows["user_id"], rows["address"], rows["reason"]) == (5, "alice@example.com", "userunknown")


def test_ingest_takes_the_recipient_from_delivered_to_when_none_is_named(tmp_path: Path) -> None:
    config = write_config_file(tmp_path)
    verp = sent(config, 6)
    done = verpd("--config", str(config), "ingest", stdin=f"Delivered-To: {verp}\n".encode() + dsn(verp))
    assert done.returncode == 0
    assert json.loads(verpd("--config", str(config), "bounces", "list", "--json").stdout)["user_id"] == 6


def test_ingest_of_a_forged_recipient_exits_67_so_the_mta_bounces_it(tmp_path: Path) -> None:
    config = write_config_file(tmp_path)
    forged = sent(config, 5).replace("enwiki", "dewiki")
    done = verpd("--config", str(config), "ingest", forged, stdin=dsn(forged))
    assert done.returncode == 67 and b"no VERP address of ours among the recipients: bad_signature" in done.stderr


def test_ingest_exits_75_when_the_database_fails_so_the_mta_retries(tmp_path: Path) -> None:
    """A failed write exits 75 (EX_TEMPFAIL) so the MTA keeps the message. SQLite only: the schema is broken by
    opening the database file with the sqlite3 module."""
    config = write_config_file(tmp_path)
    verp = sent(config, 5)
    assert verpd("--config", str(config), "db", "upgrade").returncode == 0
    db = tmp_path / "verpd.sqlite3"
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE bounces")
        conn.execute("CREATE TABLE bounces (id INTEGER PRIMARY KEY)")  # a broken schema: every insert fails
    done = verpd("--config", str(config), "ingest", verp, stdin=dsn(verp))
    assert done.returncode == 75 and b"the MTA will retry" in done.stderr


def test_ingest_imports_an_mbox_as_of_when_each_message_arrived(tmp_path: Path, database_url: str) -> None:
    config = write_config_file(tmp_path, database={"url": database_url})
    box = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    three_days_ago = datetime.now(UTC) - timedelta(days=5)
    for user in (1, 2):
        verp = Verp(make_config(tmp_path).verp).encode("enwiki", user, int((three_days_ago - timedelta(minutes=5)).timestamp()))
        message = mailbox.mboxMessage(f"Delivered-To: {verp}\n".encode() + dsn(verp))
        message.set_from("MAILER-DAEMON", three_days_ago.timetuple())
        box.add(message)
    box.add(mailbox.mboxMessage(b"From: someone@example.net\nSubject: hi\n\nno recipient header\n"))
    box.flush()
    box.close()
    done = verpd("--config", str(config), "ingest", "--mbox", str(tmp_path / "bounces.mbox"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip().endswith("3 messages: 2 recorded; skipped: 1 no VERP recipient header")
    rows = [json.loads(line) for line in verpd("--config", str(config), "bounces", "list", "--json").stdout.splitlines()]
    assert sorted(r["user_id"] for r in rows) == [1, 2]
    assert all(r["received_at"].startswith(three_days_ago.strftime("%Y-%m-%d")) for r in rows)  # when it arrived, not now


# --- stats, prune, db, log-key ----------------------------------------------------------


async def _seed(config_file: Path) -> None:
    from verpd import config as config_module
    from verpd.pipeline import Pipeline
    from verpd.store import Store, create_engine, init_schema

    config = config_module.load(config_file)
    engine = create_engine(config.database.url)
    await init_schema(engine)
    pipeline = Pipeline(config, Store(engine))
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=2))
    verp = Verp(config.verp)
    for user, failed, status, diagnostic in [
        (1, "a@example.com", "5.1.1", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown"),
        (1, "a@example.com", "5.1.1", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown"),
        (2, "b@example.net", "5.2.2", "552 5.2.2 <b@example.net>: mailbox full"),
        (3, "c@example.net", "5.1.1", "550 5.1.1 <c@example.net>: Recipient address rejected: User unknown"),
    ]:
        clock.advance(minutes=1)
        address = verp.encode("enwiki", user, clock.unix - 10)
        await pipeline.deliver(dsn(address, failed=failed, status=status, diagnostic=diagnostic), [verp.verify(address, clock.unix)], clock.now)
    address = verp.encode("enwiki", 4, clock.unix - 10)
    await pipeline.deliver(complaint(address), [verp.verify(address, clock.unix)], clock.now)
    await engine.dispose()


def test_stats_agree_with_the_database(tmp_path: Path, database_url: str) -> None:
    import asyncio

    config = write_config_file(tmp_path, database={"url": database_url}, policy={"limit": 2, "act": True})
    asyncio.run(_seed(config))
    by = {}
    for key in ("reason", "domain", "day", "tenant"):
        done = verpd("--config", str(config), "stats", "--since", "1d", "--by", key, "--json")
        assert done.returncode == 0, done.stderr
        by[key] = [json.loads(line) for line in done.stdout.splitlines()]
    assert by["reason"] == [{"reason": "userunknown", "bounces": 3, "hard": 3}, {"reason": "mailboxfull", "bounces": 1, "hard": 0}]
    assert by["domain"] == [{"domain": "example.com", "bounces": 2, "hard": 2}, {"domain": "example.net", "bounces": 2, "hard": 1}]
    (tenant,) = by["tenant"]
    assert tenant == {"tenant": "enwiki", "bounces": 4, "hard": 3, "suppressed": 2, "complaints": 1}  # user 1 (limit 2) and 4 (complaint)
    assert sum(d["bounces"] for d in by["day"]) == 4 and sum(d["suppressed"] for d in by["day"]) == 2
    text_out = verpd("--config", str(config), "stats", "--by", "reason").stdout.decode()
    assert "userunknown" in text_out and text_out.splitlines()[1].split() == ["reason", "bounces", "hard"]


def test_prune_dry_run_counts_and_prune_deletes(tmp_path: Path, database_url: str) -> None:
    import asyncio

    config = write_config_file(tmp_path, database={"url": database_url}, policy={"max_age": "1h", "raw_retention": "1h"})
    asyncio.run(_seed(config))
    done = verpd("--config", str(config), "prune", "--dry-run")
    assert done.returncode == 0 and done.stdout.decode().startswith("would delete: 4 bounces, 1 complaints, 0 outbox, ")
    assert verpd("--config", str(config), "prune").stdout.decode().startswith("deleted ")
    assert verpd("--config", str(config), "bounces", "list", "--json").stdout == b""


def test_db_upgrade_brings_the_schema_up_to_date(tmp_path: Path) -> None:
    """``db upgrade`` creates the schema on an empty database and prints the revisions before and after.
    SQLite only: it checks that the database file was created."""
    from verpd.migrations import head

    config = write_config_file(tmp_path)
    done = verpd("--config", str(config), "db", "upgrade")
    assert done.returncode == 0 and f"none (empty database) → {head()} (head)" in done.stdout.decode()
    assert (tmp_path / "verpd.sqlite3").exists()


@pytest.mark.parametrize(("mode", "shown"), [("pseudonym", r"h:[0-9a-f]{8}@example\.org"), ("domain", r"\*@example\.org"), ("full", r"Alice@Example\.org")])
def test_log_key_prints_the_form_an_address_takes_in_the_logs(tmp_path: Path, mode: str, shown: str) -> None:
    import re

    config = write_config_file(tmp_path, log={"addresses": mode})
    done = verpd("--config", str(config), "log-key", "Alice@Example.org")
    assert done.returncode == 0 and re.fullmatch(shown, done.stdout.decode().strip())


# --- the operator errors of issue 8: one line naming the thing and the fix -------------------


@pytest.mark.parametrize("command", [["serve"], ["check-config"], ["bounces", "list"]], ids=" ".join)
def test_a_database_directory_that_cannot_be_created_is_named_with_the_fix(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    config = write_config_file(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path}/file/db/verpd.sqlite3"})
    done = verpd("--config", str(config), *command)
    err = done.stderr.decode()
    assert done.returncode == 73 and len(err.splitlines()) == 1, err
    assert err.startswith(f"verpd: cannot create database directory {tmp_path}/file/db: not a directory (database.url); create it")


def test_check_config_names_a_listener_that_cannot_bind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config_file(tmp_path, server={"lmtp": f"127.0.0.1:{port}"})
        done = verpd("--config", str(config), "check-config")
        skipped = verpd("--config", str(config), "check-config", "--no-bind")
    err = done.stderr.decode()
    assert done.returncode == 69 and len(err.splitlines()) == 1
    assert err.startswith(f"verpd: cannot listen on 127.0.0.1:{port} (server.lmtp): address already in use; stop the other process")
    assert skipped.returncode == 0 and b"database sqlite usable" in skipped.stdout


def test_check_config_proves_the_database_and_listeners(tmp_path: Path) -> None:
    done = verpd("--config", str(write_config_file(tmp_path)), "check-config")
    assert done.returncode == 0 and b"database sqlite usable, listeners bindable" in done.stdout


def test_a_bug_is_one_line_not_a_traceback(tmp_path: Path, capsys, monkeypatch) -> None:
    from verpd.cli import records

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(records, "list_rows", broken)
    parser_status = cli.main(["--config", str(write_config_file(tmp_path)), "subjects", "list"])
    err = capsys.readouterr().err
    assert parser_status in (0, 70)  # the parser bound the handler before the patch: either it ran, or the bug was caught
    assert "Traceback" not in err


def test_unknown_options_are_a_usage_error_naming_the_help(capsys) -> None:
    assert cli.main(["stats", "--by", "colour"]) == 64
    err = capsys.readouterr().err
    assert "invalid choice: 'colour'" in err and "verpd stats --help" in err


def test_every_command_of_the_readmes_operations_table_runs(tmp_path: Path) -> None:
    """The README maps Wikitech's BounceHandler queries to commands: each one works on a seeded database."""
    import asyncio
    import re
    import shlex

    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- operations -->", 1)[1].split("\n\n", 1)[0]
    commands = [shlex.split(c) for row in table.splitlines()[2:] for c in re.findall(r"`(verpd [^`]+)`", row.split("|")[2])]
    assert len(commands) >= 10
    config = write_config_file(tmp_path, policy={"limit": 2, "act": True})
    asyncio.run(_seed(config))
    for command in commands:
        done = verpd("--config", str(config), *command[1:])
        assert done.returncode == 0, f"{shlex.join(command)}: {done.stderr.decode()}"


def test_parse_on_a_terminal_without_files_says_what_it_waits_for() -> None:
    import pty
    import select

    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "verpd", "parse"], stdin=terminal, stdout=terminal, stderr=terminal, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    os.close(terminal)
    said = b""
    try:
        while b"Ctrl-D" not in said and select.select([controller], [], [], 20)[0]:
            said += os.read(controller, 1024)
        os.write(controller, b"\x04")  # end of input
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        os.close(controller)
    assert b"reading file paths from stdin, one per line" in said


def test_the_package_built_by_pip_holds_every_module_and_the_verpd_command(tmp_path: Path) -> None:
    """``pip install .`` installs what a checkout runs: every module of verpd/ and the ``verpd`` entry point."""
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, timeout=300)
    if built.returncode != 0 and b"No module named" in built.stderr:
        import pytest

        pytest.skip(f"cannot build a wheel here: {built.stderr.decode()[-200:]}")
    assert built.returncode == 0, built.stderr.decode()[-2000:]
    (wheel,) = tmp_path.glob("verpd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "verpd").rglob("*.py")}
    assert modules <= names, sorted(modules - names)[:5]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "verpd = verpd.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_db_copy_moves_every_record_and_is_safe_to_run_again(tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    config = write_config_file(tmp_path, policy={"limit": 2, "act": True})
    asyncio.run(_seed(config))
    source, target = tmp_path / "verpd.sqlite3", tmp_path / "copy" / "verpd.sqlite3"
    first = verpd("db", "copy", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}", "--batch", "2")
    assert first.returncode == 0, first.stderr
    tables = ("bounces", "complaints", "subjects", "decisions", "raw_messages", "outbox")
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        for table in tables:
            assert a.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() == b.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall(), table
    assert "bounces 4 of 4" in first.stdout.decode()
    again = verpd("db", "copy", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}")
    assert again.returncode == 0 and "bounces 0 of 4" in again.stdout.decode()  # nothing copied twice


@pytest.mark.integration
def test_db_copy_moves_a_sqlite_database_into_postgresql(tmp_path: Path, postgres) -> None:
    import asyncio

    config = write_config_file(tmp_path, policy={"limit": 2, "act": True})
    asyncio.run(_seed(config))
    target = postgres.create_database("verpd_copy")
    done = verpd("db", "copy", "--from", f"sqlite:///{tmp_path}/verpd.sqlite3", "--to", target)
    assert done.returncode == 0, done.stderr
    assert "bounces 4 of 4" in done.stdout.decode() and "decisions 2 of 2" in done.stdout.decode()
    assert postgres.sql("SELECT count(*) FROM bounces", dbname="verpd_copy").strip() == "4"
    # the ids go on after the copied ones: a daemon on the new database inserts without collisions
    assert postgres.sql("SELECT nextval(pg_get_serial_sequence('bounces', 'id'))", dbname="verpd_copy").strip() == "5"

"""Run a real, private PostgreSQL cluster for the tests that use ``database.url = postgresql+asyncpg://...``.

One throwaway cluster per pytest session: ``initdb`` into a new directory in the
system's temporary directory, a ``postmaster`` listening on ``127.0.0.1:<port>``
only (its Unix socket in that directory too), trust authentication for the one
user ``verpd``, fsync left on. The machine's own clusters (``/etc/postgresql``,
``/var/lib/postgresql``, ``/var/run/postgresql``) are neither used nor touched:
only the server binaries are borrowed.

PostgreSQL refuses to run as root, so when the tests run as root (as in CI) the
cluster runs as the ``postgres`` system user that Debian's package creates, and
its directory is handed to that user; otherwise it runs as the current user.
The server's time zone is deliberately not UTC (see ``TIME_ZONE``)::

    from tests.integration.postgres_instance import PostgresInstance, postgres_available
    from tests.integration.processes import instance_directory

    if reason := postgres_available():
        pytest.skip(reason)
    with instance_directory("verpd-postgres-") as root:
        with PostgresInstance.create(root, port=free_port()) as cluster:  # start() ... stop()
            engine = create_engine(cluster.create_database("t1"))  # postgresql+asyncpg://verpd@127.0.0.1:PORT/t1

or, outside pytest, ``with throwaway_cluster() as cluster:`` (RuntimeError if it cannot run).

The session-scoped :func:`postgres` fixture does this once and skips (fails when
``VERPD_REQUIRE_INTEGRATION=1``) when the cluster cannot run here;
``tests/conftest.py``'s ``database_url`` fixture makes a fresh database in it per test.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.processes import instance_directory, running_in_group, wait_until_gone

BINDIR_ENV = "VERPD_PG_BINDIR"
"""Environment variable naming the directory of the PostgreSQL server binaries (initdb, postgres, psql)."""

SERVER_USER = "postgres"
"""The system user the cluster runs as when the tests run as root (Debian's package creates it)."""

DATABASE_USER = "verpd"
"""The cluster's superuser, the one the tests connect as (trust authentication, no password)."""

TIME_ZONE = "Pacific/Auckland"
"""The server's ``TimeZone``: far from UTC, so SQL whose result depends on the session's time
zone (``to_char`` of a ``timestamptz``, ``date_trunc``) shows up as a wrong day in the tests."""

_TOOLS = ("initdb", "postgres", "psql", "pg_isready")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 20.0
_COMMAND_TIMEOUT = 60.0


class PostgresUnavailable(Exception):
    """PostgreSQL can't be used on this machine; the message says why."""


def postgres_bindir() -> Path | None:
    """Where the server binaries are: ``$VERPD_PG_BINDIR``, else ``initdb`` on PATH, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian keeps the server's binaries off PATH)."""
    if configured := os.environ.get(BINDIR_ENV):
        return Path(configured)
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _version(p.parent.parent.name))
    return versions[-1].parent if versions else None


def postgres_available() -> str | None:
    """Return None if a private PostgreSQL cluster can run here, else the reason it can't."""
    bindir = postgres_bindir()
    if bindir is None:
        return f"PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin; set {BINDIR_ENV})"
    if missing := [tool for tool in _TOOLS if not os.access(bindir / tool, os.X_OK)]:
        return f"PostgreSQL in {bindir} lacks {', '.join(missing)}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user to run it as"
    try:
        import asyncpg  # noqa: F401  (the driver of postgresql+asyncpg:// URLs)
    except ImportError:
        return "the asyncpg driver is not installed (pip install asyncpg, or the [test] extra)"
    return None


@dataclass
class PostgresInstance:
    """A private cluster under ``root`` (data in ``root/data``), listening on ``127.0.0.1:port``.

    Build one with :meth:`create`, then :meth:`start` and :meth:`stop` it (or use it
    as a context manager, which does both).
    """

    root: Path
    port: int
    bindir: Path
    _server: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """Where the server writes its log (its stderr)."""
        return self.root / "postgres.log"

    @classmethod
    def create(cls, root: Path, *, port: int) -> PostgresInstance:
        """Run ``initdb`` for a new, stopped cluster under ``root`` (which must be empty and 0700).

        Raises PostgresUnavailable if :func:`postgres_available` finds a reason, and
        RuntimeError with initdb's output if it fails.
        """
        if reason := postgres_available():
            raise PostgresUnavailable(reason)
        instance = cls(root=root, port=port, bindir=postgres_bindir())
        if os.geteuid() == 0:  # the server user must own its directory (and no one else may read it)
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        root.chmod(0o700)
        result = instance._run(
            "initdb", "--pgdata", str(instance.data_dir), "--username", DATABASE_USER, "--auth", "trust",
            "--encoding", "UTF8", "--no-locale",
            # Only initdb's own final flush of the new files is skipped; the server runs with fsync on.
            "--no-sync",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (status {result.returncode}):\n{result.stdout}")
        return instance

    def start(self) -> None:
        """Start the postmaster (our child, leading a process group) and wait until it accepts connections."""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "timezone": TIME_ZONE,
            "fsync": "on",
            "max_connections": "200",  # a test's pool, a daemon's pool and the CLI's, with room to spare
            "logging_collector": "off",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        with self.log_file.open("ab") as log:
            self._server = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data_dir), *options],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=_environment(),
                start_new_session=True,
                **_as_server_user(),
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            ready = self._run("pg_isready", "--host", "127.0.0.1", "--port", str(self.port), "--username", DATABASE_USER,
                              "--dbname", "postgres", "--timeout", "2")
            if ready.returncode == 0:
                return
            if self._server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"PostgreSQL on 127.0.0.1:{self.port} not ready ({ready.stdout.strip()}; is the port free?)"
                    f"{self._log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the cluster ("fast" shutdown: SIGINT) and make sure none of its processes is left. Idempotent."""
        if self._server is None:
            return
        pgid = self._server.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pgid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._server.wait(_STOP_TIMEOUT)
        if not wait_until_gone(pgid, _STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            if not wait_until_gone(pgid, _STOP_TIMEOUT):
                raise RuntimeError(f"PostgreSQL processes {running_in_group(pgid)} survived SIGKILL")
        self._server.wait()
        self._server = None

    def __enter__(self) -> PostgresInstance:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` in this cluster, for verpd's ``database.url``."""
        return f"postgresql+asyncpg://{DATABASE_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` (a plain identifier); returns its :meth:`url`."""
        self.sql(f'CREATE DATABASE "{_identifier(name)}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting whoever is still connected to it."""
        self.sql(f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)')

    def sql(self, statement: str, dbname: str = "postgres") -> str:
        """Run one SQL statement with ``psql`` as the cluster's superuser; returns its unaligned output."""
        result = self._run(
            "psql", "--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--set", "ON_ERROR_STOP=1",
            "--host", "127.0.0.1", "--port", str(self.port), "--username", DATABASE_USER, "--dbname", dbname,
            "--command", statement,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {statement!r} failed (status {result.returncode}):\n{result.stdout}{self._log_tail()}")
        return result.stdout

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the PostgreSQL tools (as the server user for initdb); output in stdout."""
        return subprocess.run(
            [str(self.bindir / tool), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.root,
            env=_environment(),
            timeout=_COMMAND_TIMEOUT,
            check=False,
            **(_as_server_user() if tool == "initdb" else {}),
        )

    def _log_tail(self, lines: int = 40) -> str:
        try:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            tail = ""
        return f"\n--- last {lines} lines of {self.log_file} ---\n{tail}"


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[PostgresInstance]:
    """A started cluster in a new directory on a free port, stopped and removed afterwards.

    Raises RuntimeError saying why when PostgreSQL is missing here or the cluster
    cannot start (for callers outside pytest, such as the benchmarks).
    """
    if reason := postgres_available():
        raise RuntimeError(reason)
    # Not under pytest's tmp_path: see instance_directory (and the server user must reach it).
    with instance_directory("verpd-postgres-") as root:
        try:
            instance = PostgresInstance.create(root, port=_free_port())
        except PostgresUnavailable as e:
            raise RuntimeError(str(e)) from None
        with instance:
            yield instance


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresInstance]:
    """One private PostgreSQL cluster for the whole session; a skip (a failure under
    ``VERPD_REQUIRE_INTEGRATION=1``) saying why when it cannot run here."""
    from tests.conftest import unavailable  # not at the top: tests/conftest.py imports this module

    with contextlib.ExitStack() as stack:
        try:
            instance = stack.enter_context(throwaway_cluster())
        except (RuntimeError, OSError) as e:
            unavailable(f"no private PostgreSQL cluster: {e}")
        yield instance


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> dict[str, object]:
    """Popen arguments that run a process as ``SERVER_USER`` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    owner = pwd.getpwnam(SERVER_USER)
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def _environment() -> dict[str, str]:
    """A small, predictable environment: no PG* variables of the caller's, no locale surprises."""
    return {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "TZ": "UTC"}


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"{name!r} is not a plain lower-case database name of at most 63 characters")
    return name


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))

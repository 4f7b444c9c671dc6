"""Shared fixtures: configurations, a controllable clock, a running daemon, corpora."""

from __future__ import annotations

import copy
import itertools
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.integration.postgres_instance import PostgresInstance, postgres  # noqa: F401  (postgres: a session fixture)
from verpd import config as config_module
from verpd.config import Config
from verpd.daemon import Daemon
from verpd.store import Store, create_engine, init_schema
from verpd.verp import Verp

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERP_DOMAIN = "bounces.example.org"
TEST_SECRET = "test-secret-not-for-production-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    """Audit every log line of the run for secrets and raw message text (tests/logaudit.py)."""
    config.pluginmanager.import_plugin("tests.logaudit")


def shared_dir() -> Path:
    """Where the shared reference data lives: $VERPD_SHARED or ../shared beside the checkout."""
    return Path(os.environ.get("VERPD_SHARED", REPO.parent / "shared"))


def shared_file(relative: str) -> Path:
    """A file under the shared directory, or a skip saying how to provide it."""
    path = shared_dir() / relative
    if not path.exists():
        pytest.skip(f"{relative} not found under {shared_dir()} (set VERPD_SHARED to the shared data directory)")
    return path


def integration_required() -> bool:
    return os.environ.get("VERPD_REQUIRE_INTEGRATION") == "1"


def unavailable(reason: str) -> None:
    """Skip, or fail when VERPD_REQUIRE_INTEGRATION=1 (CI), because a real server is missing."""
    if integration_required():
        pytest.fail(f"integration test required but cannot run: {reason}")
    pytest.skip(reason)


def fixture_bytes(name: str, **substitutions: str) -> bytes:
    """One of our own fixtures, with ``{name}`` placeholders filled in."""
    data = (FIXTURES / name).read_bytes()
    for key, value in substitutions.items():
        data = data.replace(b"{" + key.encode() + b"}", value.encode())
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_dict(tmp_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A valid test configuration as a TOML-shaped dict, with ``sections`` merged in."""
    base = {
        "server": {"lmtp": "127.0.0.1:0", "hostname": "verpd.test", "shutdown_timeout": "5s"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3", "busy_timeout": "1s"},
        "verp": {"domain": VERP_DOMAIN, "prefix": "wiki", "secrets": [TEST_SECRET]},
        "policy": {"limit": 3, "period": "7d", "max_age": "60d", "act": True},
        "forward": {"to": [], "relay": "127.0.0.1:9", "retry_min": "1s", "retry_max": "4s"},
        "log": {"level": "debug"},
    }
    return _merge(base, sections)


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    return config_module.from_dict(config_dict(tmp_path, **sections), source="test", base_dir=tmp_path)


class FakeClock:
    """A clock the test moves by hand; starts at a fixed aware UTC time."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    @property
    def unix(self) -> int:
        return int(self.now.timestamp())


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Undo any logging set-up a test did (``verpd serve`` configures structlog globally)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test, once per backend verpd supports.

    SQLite: the file ``make_config(tmp_path)`` names by default, so a test that
    builds its configuration from ``tmp_path`` alone still finds the same database.
    PostgreSQL: a new database in the session's private cluster (the ``postgres``
    fixture, started only when a test asks for it), dropped afterwards; pass the URL
    on as ``database={"url": database_url}``.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/verpd.sqlite3"
        return
    cluster: PostgresInstance = request.getfixturevalue("postgres")
    name = f"verpd_test_{next(_DATABASES)}"
    cluster.create_database(name)
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store over the test's fresh database (schema created), on each backend."""
    engine = create_engine(database_url)
    await init_schema(engine)
    store = Store(engine)
    yield store
    await store.close()
    await engine.dispose()


@pytest.fixture
async def make_daemon(clock: FakeClock) -> AsyncIterator[Callable[[Config], Any]]:
    """Start daemons on the test's event loop (LMTP on a free loopback port); stopped at teardown."""
    started: list[Daemon] = []

    async def start(config: Config) -> Daemon:
        daemon = Daemon(config, clock=clock)
        await daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in reversed(started):
        await daemon.stop()


@pytest.fixture
async def daemon(make_daemon: Callable[[Config], Any], config: Config) -> Daemon:
    return await make_daemon(config)


def lmtp_port(daemon: Daemon) -> int:
    return daemon.bound()[0].port


def verp_address(config: Config, clock: FakeClock, user: int = 42, tenant: str = "enwiki", sent_ago: float = 60) -> str:
    """A VERP address signed by ``config``'s first secret, sent ``sent_ago`` seconds before now."""
    return Verp(config.verp).encode(tenant, user, clock.unix - int(sent_ago))

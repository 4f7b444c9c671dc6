"""kill -9 under load (issue 10): ``verpd serve`` SIGKILLed ``kills`` times while ``sessions`` LMTP sessions deliver.

The long run of ``tests/crash.py`` (see its docstring for the ledger and the checks);
``tests/test_crash.py`` is the short one in ``make test``. Printed: one block per
database, to paste into BENCHMARKS.md, with every problem found below it. A run with
lost or duplicates above 0 is a bug, whatever the timing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests import crash


def run(sessions: int, messages: int, kills: int, postgres: str | None) -> bool:
    """SQLite, then PostgreSQL (``postgres``, else a throwaway cluster when PostgreSQL is installed); True if both held."""
    command = f"python -m tests.bench crash --sessions {sessions} --messages {messages} --kills {kills}"
    with tempfile.TemporaryDirectory() as tmp:
        held = _one("SQLite WAL, synchronous=FULL", f"sqlite+aiosqlite:///{tmp}/verpd.sqlite3", Path(tmp), sessions, messages, kills, command)
    if postgres:
        with tempfile.TemporaryDirectory() as tmp:
            return _one("PostgreSQL", postgres, Path(tmp), sessions, messages, kills, command) and held
    from tests.integration.postgres_instance import throwaway_cluster

    try:
        with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
            url = cluster.create_database("crash")
            return _one("PostgreSQL, fsync on", url, Path(tmp), sessions, messages, kills, command) and held
    except RuntimeError as e:  # PostgreSQL not installed or cannot start
        print(f"crash: PostgreSQL: not run ({e}); give --postgres URL (an empty database)")
    return held


def _one(label: str, url: str, tmp_path: Path, sessions: int, messages: int, kills: int, command: str) -> bool:
    result = asyncio.run(crash.run(url, tmp_path, sessions=sessions, messages=messages, kills=kills))
    print("\n".join(result.summary(label, command)), flush=True)
    for problem in result.findings.problems:
        print(f"  PROBLEM: {problem}")
    return not result.findings.problems

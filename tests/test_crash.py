"""kill -9 under load (issue 10): what verpd acknowledged is stored once, and retries of the rest store nothing twice.

The short run of ``tests/crash.py``; ``python -m tests.bench crash`` is the long one.
"""

from __future__ import annotations

from pathlib import Path

from tests import crash


async def test_every_250_survives_kill_9_under_load_and_retries_store_nothing_twice(tmp_path: Path, database_url: str) -> None:
    """Killed twice under 4 sessions (at a random moment, then right after a 250) and restarted, verpd has stored every
    acknowledged bounce exactly once, and the MTA-style retries of unacknowledged ones add no bounce, decision or outbox row."""
    result = await crash.run(database_url, tmp_path, sessions=4, messages=200, kills=2, timeout=120)
    report = "\n".join(result.summary("test", f"seed {result.seed}") + result.findings.problems)
    assert result.findings.problems == [], report
    assert (result.findings.lost, result.findings.duplicates) == (0, 0), report
    assert [k.moment for k in result.kills] == [crash.KillMoment.RANDOM, crash.KillMoment.AFTER_250], report
    assert all(k.awaiting >= 1 and k.broken >= 1 for k in result.kills), report  # each kill landed in the middle of the load
    assert all(r.acked for r in result.recipients), report
    assert result.findings.decisions > 0 and result.findings.outbox > 0, report  # the policy's writes were under test too

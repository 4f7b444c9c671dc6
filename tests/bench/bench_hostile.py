"""Hostile clients against a real ``verpd serve``: for each case of tests/hostile.py, what the
attacker sent and how long the legitimate MTA beside it waited for its 250.

One row per case: the case, the attacker's volume, the attack's duration, the legitimate
deliveries made meanwhile, their median and worst latency (connect to 250) and the
bound tests/test_hostile.py asserts. The daemon runs with tests/hostile.LIMITS.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from tests.hostile import CASES, LEGIT_BOUND, LIMITS, run_case


async def run(only: list[str] | None = None) -> None:
    """Run every case (or those whose name contains one of ``only``) and print the table."""
    print(f"hostile: legitimate 250 within {LEGIT_BOUND:.0f} s (the test's bound) while each attack runs; limits "
          + ", ".join(f"{k}={v}" for k, v in LIMITS.items()))
    header = ("case", "attacker volume", "attack s", "legit n", "legit p50 ms", "legit worst ms", "")
    rows = []
    for case in CASES:
        if only and not any(word.lower() in case.name.lower() for word in only):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            outcome = await run_case(case, Path(tmp))
        legit = outcome.legit
        verdict = "ok" if not legit.failures and legit.worst <= LEGIT_BOUND else f"OVER ({len(legit.failures)} failed)"
        rows.append((case.name, outcome.attack.volume, f"{outcome.attack.seconds:.1f}", str(len(legit.latencies)),
                     f"{statistics.median(legit.latencies) * 1000:.0f}" if legit.latencies else "-",
                     f"{legit.worst * 1000:.0f}" if legit.latencies else "-", verdict))
        print("  " + rows[-1][0] + ": done", flush=True)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")

"""Accuracy on the labeled public sets, as the shared scorer reports it.

Runs ``shared/tools/score_corpus.py`` over each set in ``shared/corpus`` (sisimai,
bounceparser, misc-bounce-libs) with ``verpd parse --jsonl`` and prints its summary
line: recipient precision/recall/F1, status, reason and hard/soft accuracy, and
``false-hard`` (soft failures counted hard, as a share of all soft ones).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SETS = ("sisimai", "bounceparser", "misc-bounce-libs")


def run(shared: Path) -> None:
    scorer = shared / "tools" / "score_corpus.py"
    if not scorer.exists():
        print(f"corpus: no scorer at {scorer} (set VERPD_SHARED)")
        return
    for name in SETS:
        corpus = shared / "corpus" / name
        if not (corpus / "labels.jsonl").exists():
            print(f"corpus: {name}: not under {corpus}")
            continue
        result = subprocess.run(
            [sys.executable, str(scorer), "--labels", str(corpus / "labels.jsonl"), "--emails", str(corpus / "emails"),
             "--parser", f"{sys.executable} -m verpd parse --jsonl", "--name", name, "--quiet", "--no-baseline"],
            capture_output=True, text=True, timeout=900,
        )
        line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()
        print(f"corpus: {line}")

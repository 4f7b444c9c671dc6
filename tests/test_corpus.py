"""Conformance on the labeled Sisimai corpus, scored by the shared scorer itself.

Runs ``shared/tools/score_corpus.py`` over ``shared/corpus/sisimai`` (read in place)
with ``verpd parse --jsonl`` as the parser, and asserts the floors the parser is
held to. Skips, saying why, where the shared data is absent (CI has it; with
VERPD_REQUIRE_INTEGRATION=1 its absence is a failure).
"""

from __future__ import annotations

import json
import subprocess
import sys
import pytest

from tests.conftest import FIXTURES, REPO, shared_dir, unavailable
from verpd.classify import classify
from verpd.model import Severity
from verpd.parse import parse

FLOORS = {
    "recipient_precision": 99.0,
    "recipient_recall": 98.0,
    "reason_acc_e2e": 92.0,
    "hard_acc_e2e": 98.0,
}
NOT_FAILURES = ("arf", "rfc3834", "not-bounce")  # complaints, auto-replies, non-bounces


@pytest.fixture(scope="module")
def score(tmp_path_factory: pytest.TempPathFactory) -> dict:
    corpus = shared_dir() / "corpus" / "sisimai"
    scorer = shared_dir() / "tools" / "score_corpus.py"
    if not (corpus / "labels.jsonl").exists() or not scorer.exists():
        unavailable(f"the labeled corpus or its scorer is not under {shared_dir()} (set VERPD_SHARED)")
    out = tmp_path_factory.mktemp("score") / "score.json"
    parser = f"{sys.executable} -m verpd parse --jsonl"
    result = subprocess.run(
        [sys.executable, str(scorer), "--labels", str(corpus / "labels.jsonl"), "--emails", str(corpus / "emails"),
         "--parser", parser, "--name", "verpd", "--quiet", "--no-baseline", "--json-out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    print(result.stdout.strip())
    return json.loads(out.read_text())


@pytest.mark.parametrize(("metric", "floor"), sorted(FLOORS.items()))
def test_corpus_accuracy_meets_its_floor(score: dict, metric: str, floor: float) -> None:
    """On the labeled corpus (failures only), recipients, reasons and hard/soft are at least as accurate as promised."""
    value = score["summary"][metric]
    assert value >= floor, f"{metric} = {value} < {floor}; {json.dumps({k: score['summary'][k] for k in FLOORS})}"


def test_parser_reads_every_message_without_error(score: dict) -> None:
    """Every corpus message gets an answer line, and none is an error."""
    assert score["summary"]["emails_without_output_line"] == 0
    assert score["summary"]["parser_errors"] == 0


def test_complaints_auto_replies_and_non_bounces_produce_no_failure(score: dict) -> None:
    """ARF reports, auto-replies, delivered-only reports and non-bounces yield no failed recipient."""
    quiet = [e for e in score["per_email"] if e["expected"] == 0]
    assert {e["family"] for e in quiet} >= set(NOT_FAILURES)
    loud = [(e["file"], e["predicted"]) for e in quiet if e["predicted"]]
    assert not loud, f"failure records where there are none: {loud}"


def test_delivered_only_reports_are_not_failures() -> None:
    """A DSN whose recipients were all delivered or relayed gives no failure record (our fixture, no corpus needed)."""
    report = parse((FIXTURES / "detectors" / "postfix_delivered_only.eml").read_bytes())
    assert report.recipients and all(classify(f, report.kind).severity is Severity.NONE for f in report.recipients)

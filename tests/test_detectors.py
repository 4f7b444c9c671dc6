"""The detector table: every fixture of ours, what must be read from it, and how it is classified.

Each row is a pair under ``tests/fixtures/detectors/``: ``NAME.eml``, a message we
wrote in the shape a real MTA or provider produces (anonymised to example.*), and
``NAME.json``, the expected result:

    {"about": "one line: the MTA and the quirk this fixture shows",
     "detector": "qmail" | null, "kind": "bounce" | "feedback" | "autoreply" | "challenge" | "unrecognized",
     "recipients": [{"address": ..., and any of "action", "status", "reply_code",
                     "command", "remote_mta", "feedback_type", "reason", "hard",
                     "diagnostic" (a substring of the parsed diagnostic)}]}

Only the fields a row names are compared, so a row states what the fixture is for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from verpd.classify import classify
from verpd.model import ReportKind, Severity
from verpd.parse import DETECTORS, parse

TABLE = FIXTURES / "detectors"
VERP = "wiki-enwiki-42-b7q2xk@bounces.example.org"  # what {verp} becomes in a fixture
FACT_FIELDS = ("action", "status", "reply_code", "command", "remote_mta", "feedback_type")


def rows() -> list:
    return [
        pytest.param(path, json.loads(path.with_suffix(".json").read_text()), id=path.stem)
        for path in sorted(TABLE.glob("*.eml"))
    ]


@pytest.mark.parametrize(("path", "expected"), rows())
def test_fixture_is_read_and_classified_as_its_row_says(path: Path, expected: dict) -> None:
    """Each fixture is recognised by its detector, and each recipient's facts and verdict are as listed."""
    report = parse(path.read_bytes().replace(b"{verp}", VERP.encode()))
    assert (report.detector, report.kind.value) == (expected["detector"], expected["kind"])
    assert [r.address for r in report.recipients] == [e["address"] for e in expected["recipients"]]
    for facts, want in zip(report.recipients, expected["recipients"], strict=True):
        got = {field: getattr(facts, field) for field in FACT_FIELDS if field in want}
        assert got == {field: want[field] for field in FACT_FIELDS if field in want}, facts.address
        if "diagnostic" in want:
            assert want["diagnostic"] in (facts.diagnostic or ""), facts.diagnostic
        if "reason" in want or "hard" in want:
            verdict = classify(facts, report.kind)
            assert verdict.reason == want.get("reason", verdict.reason), facts
            assert (verdict.severity is Severity.HARD) == want.get("hard", verdict.severity is Severity.HARD), facts


def test_every_row_has_both_files_and_says_what_it_is_for() -> None:
    """A fixture without its expectations (or the reverse) is a mistake, and every row has an 'about' line."""
    emails = {p.stem for p in TABLE.glob("*.eml")}
    expectations = {p.stem for p in TABLE.glob("*.json")}
    assert emails == expectations
    for stem in expectations:
        about = json.loads((TABLE / f"{stem}.json").read_text()).get("about", "")
        assert len(about) > 10, stem


def test_every_detector_has_a_fixture_of_ours() -> None:
    """Each registered detector recognises at least one fixture in the table."""
    covered = {json.loads(p.read_text())["detector"] for p in TABLE.glob("*.json")}
    missing = [d.name for d in DETECTORS if d.name not in covered]
    assert not missing, f"detectors without a fixture: {missing}"


def test_fixtures_are_anonymised() -> None:
    """Fixtures use documentation domains only (example.com/.net/.org and the like), never real mail hosts."""
    import re

    allowed = re.compile(r"(^|\.)(example\.(com|net|org|jp|co\.jp|ne\.jp)|invalid|test|localhost|localdomain)$", re.IGNORECASE)
    for path in TABLE.glob("*.eml"):
        text = path.read_text(errors="replace")
        for domain in re.findall(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)", text):
            assert allowed.search(domain.rstrip(".")), f"{path.name}: address at {domain}"


def test_kinds_in_the_table_are_known() -> None:
    """Rows name one of the report kinds verpd knows."""
    kinds = {json.loads(p.read_text())["kind"] for p in TABLE.glob("*.json")}
    assert kinds <= {k.value for k in ReportKind}

"""The threshold rule as a pure function."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_config
from verpd.model import Decision, SubjectState
from verpd.policy import decide


@pytest.mark.parametrize(
    ("state", "flagged", "count", "act", "expected"),
    [
        pytest.param(SubjectState.ACTIVE, False, 2, True, Decision.NONE, id="below-limit"),
        pytest.param(SubjectState.ACTIVE, False, 3, True, Decision.SUPPRESS, id="reaching-limit-acts"),
        pytest.param(SubjectState.ACTIVE, False, 7, True, Decision.SUPPRESS, id="over-limit-acts"),
        pytest.param(SubjectState.SUPPRESSED, False, 9, True, Decision.NONE, id="already-suppressed-never-refires"),
        pytest.param(SubjectState.ACTIVE, False, 3, False, Decision.WOULD_SUPPRESS, id="act-off-only-logs"),
        pytest.param(SubjectState.ACTIVE, True, 4, False, Decision.NONE, id="act-off-logs-once"),
        pytest.param(SubjectState.ACTIVE, True, 4, True, Decision.SUPPRESS, id="flagged-then-act-turned-on"),
    ],
)
def test_decision_follows_limit_state_and_act(tmp_path: Path, state, flagged, count, act, expected) -> None:
    """The Nth hard bounce in the period acts (limit 3); suppressed or already-flagged subjects do not fire again."""
    policy = make_config(tmp_path, policy={"limit": 3, "act": act}).policy
    assert decide(state, flagged, count, policy) is expected

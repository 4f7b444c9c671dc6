"""The policy seam: ``decide(history, event, config, now)``, a pure function, one test per rule."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from verpd.config import PolicyConfig, TroubleConfig
from verpd.events import EventType
from verpd.model import Reason, Severity, SubjectState
from verpd.policy import Action, Bounces, Complaint, History, PastBounce, Reset, Rule, decide, trouble, weight

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# MediaWiki's defaults: $wgBounceRecordLimit = 10, $wgBounceRecordPeriod = 7 days, $wgBounceHandlerUnconfirmUsers = false.
ORIGINAL = PolicyConfig(limit=10, period=7 * 86400, max_age=60 * 86400, act=False, prune_interval=3600, prune_batch=500)
ACTING = dataclasses.replace(ORIGINAL, act=True)


def bounce(n: int, *, hours_ago: float = 1, severity: Severity = Severity.HARD, reason: Reason = Reason.USERUNKNOWN,
           sent_hours_before: float = 0.1, address: str = "user@example.org", verp: str | None = None) -> PastBounce:
    received = NOW - timedelta(hours=hours_ago)
    return PastBounce(verp or f"wiki-enwiki-16-{n}-xtag", address, received - timedelta(hours=sent_hours_before), received, reason, severity, "5.1.1")


def hard(n: int, **kw) -> tuple[PastBounce, ...]:
    return tuple(bounce(i, **kw) for i in range(n))


def test_the_originals_default_ten_hard_bounces_in_seven_days_acts_when_act_is_on() -> None:
    decision = decide(History(bounces=hard(9, hours_ago=5)), Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.SUPPRESS and decision.rule is Rule.LIMIT
    assert EventType.SUBJECT_SUPPRESSED in decision.events
    assert len(decision.counted) == 10 and decision.addresses == ("user@example.org",)
    assert decision.why.startswith("10 hard bounces")


def test_nine_hard_bounces_do_not_act() -> None:
    decision = decide(History(bounces=hard(8)), Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.NONE and decision.rule is Rule.BELOW_LIMIT and decision.score == 9


def test_act_off_emits_one_would_suppress_and_changes_nothing_else() -> None:
    first = decide(History(bounces=hard(9)), Bounces((bounce(99),)), ORIGINAL, NOW)
    assert first.action is Action.WOULD_SUPPRESS and first.events == (EventType.BOUNCE_HARD, EventType.SUBJECT_WOULD_SUPPRESS)
    again = decide(History(flagged=True, bounces=hard(10)), Bounces((bounce(100),)), ORIGINAL, NOW)
    assert again.action is Action.NONE and again.rule is Rule.ALREADY_FLAGGED
    assert EventType.SUBJECT_WOULD_SUPPRESS not in again.events


def test_a_suppressed_subject_never_fires_again() -> None:
    decision = decide(History(SubjectState.SUPPRESSED, bounces=hard(20)), Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.NONE and decision.rule is Rule.ALREADY_SUPPRESSED
    assert EventType.SUBJECT_SUPPRESSED not in decision.events


def test_soft_bounces_do_not_count_by_default() -> None:
    decision = decide(History(bounces=hard(20, severity=Severity.SOFT, reason=Reason.MAILBOXFULL)), Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.NONE and decision.score == 1


def test_soft_weight_lets_soft_bounces_count_partly() -> None:
    config = dataclasses.replace(ACTING, soft_weight=0.5)
    decision = decide(History(bounces=hard(18, severity=Severity.SOFT, reason=Reason.MAILBOXFULL)), Bounces((bounce(99),)), config, NOW)
    assert decision.action is Action.SUPPRESS and decision.score == 10


@pytest.mark.parametrize("reason", [Reason.BLOCKED, Reason.BADREPUTATION, Reason.AUTHFAILURE, Reason.REQUIREPTR, Reason.NORELAYING,
                                    Reason.SPEEDING, Reason.TOOMANYCONN, Reason.REJECTED])
def test_our_problems_never_count_against_the_user_whatever_their_severity(reason: Reason) -> None:
    config = dataclasses.replace(ACTING, soft_weight=1.0, limit=1)
    assert weight(bounce(1, reason=reason, severity=Severity.HARD), config) == 0
    decision = decide(History(), Bounces((bounce(1, reason=reason),)), config, NOW)
    assert decision.action is Action.NONE and not decision.hard


def test_bounces_outside_the_period_do_not_count() -> None:
    decision = decide(History(bounces=hard(9, hours_ago=8 * 24)), Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.NONE and decision.score == 1


def test_a_bounce_of_mail_sent_longer_ago_than_accept_time_never_counts() -> None:
    late = bounce(1, sent_hours_before=4 * 24)
    assert weight(late, ACTING) == 0
    assert decide(History(), Bounces((late,)), dataclasses.replace(ACTING, limit=1), NOW).action is Action.NONE


def test_one_sent_message_counts_once_however_often_it_bounces() -> None:
    replayed = tuple(bounce(1, verp="wiki-enwiki-16-same-xtag", hours_ago=h) for h in range(1, 21))
    decision = decide(History(bounces=replayed[1:]), Bounces(replayed[:1]), ACTING, NOW)
    assert decision.score == 1 and len(decision.counted) == 1


def test_bounces_before_the_last_reset_do_not_count() -> None:
    history = History(reset_at=NOW - timedelta(hours=2), bounces=hard(9, hours_ago=3))
    decision = decide(history, Bounces((bounce(99),)), ACTING, NOW)
    assert decision.action is Action.NONE and decision.score == 1


def test_every_new_counted_hard_bounce_emits_bounce_hard() -> None:
    decision = decide(History(), Bounces((bounce(1), bounce(2, severity=Severity.SOFT, reason=Reason.MAILBOXFULL))), ACTING, NOW)
    assert decision.events == (EventType.BOUNCE_HARD,) and [b.verp for b in decision.hard] == [bounce(1).verp]


def test_a_decision_names_only_the_failed_addresses() -> None:
    old = hard(5, address="old@example.org")
    decision = decide(History(bounces=old), Bounces(tuple(bounce(10 + i, address="new@example.net") for i in range(5))), ACTING, NOW)
    assert decision.action is Action.SUPPRESS
    assert set(decision.addresses) == {"old@example.org", "new@example.net"}


def test_an_abuse_complaint_acts_at_once() -> None:
    decision = decide(History(), Complaint("user@example.org", "abuse", NOW), ACTING, NOW)
    assert decision.action is Action.SUPPRESS and decision.rule is Rule.COMPLAINT
    assert decision.events == (EventType.COMPLAINT_RECEIVED, EventType.SUBJECT_SUPPRESSED)
    assert decision.addresses == ("user@example.org",)


def test_a_complaint_with_act_off_only_would_suppress() -> None:
    decision = decide(History(), Complaint("user@example.org", "abuse", NOW), ORIGINAL, NOW)
    assert decision.action is Action.WOULD_SUPPRESS


@pytest.mark.parametrize(("feedback_type", "config", "trusted"), [
    pytest.param("opt-out", ACTING, True, id="not-abuse"),
    pytest.param("abuse", dataclasses.replace(ACTING, complaint_action=False), True, id="complaint-action-off"),
    pytest.param("abuse", ACTING, False, id="dkim-required-but-not-passed"),
])
def test_a_complaint_that_does_not_act_is_still_reported(feedback_type: str, config: PolicyConfig, trusted: bool) -> None:
    decision = decide(History(), Complaint("user@example.org", feedback_type, NOW, trusted), config, NOW)
    assert decision.action is Action.NONE and decision.rule is Rule.NOT_ACTING
    assert decision.events == (EventType.COMPLAINT_RECEIVED,)


def test_reset_makes_the_subject_active_and_says_so() -> None:
    decision = decide(History(SubjectState.SUPPRESSED, flagged=True), Reset("admin"), ACTING, NOW)
    assert decision.action is Action.RESET and decision.events == (EventType.SUBJECT_RESET,)


TROUBLE = TroubleConfig(window=3600, min_count=20, share=0.5)


def test_many_refusals_about_us_from_one_domain_are_trouble() -> None:
    found = trouble("example.net", {"badreputation": 30, "blocked": 7, "userunknown": 3}, TROUBLE)
    assert found is not None and (found.reason, found.count, found.total) == ("badreputation", 37, 40)
    assert found.summary() == "example.net: 37 badreputation in 1 h (of 40 failures)"


@pytest.mark.parametrize("failures", [{"blocked": 19}, {"blocked": 20, "userunknown": 21}, {"userunknown": 100}])
def test_few_refusals_about_us_or_a_small_share_are_not_trouble(failures: dict[str, int]) -> None:
    assert trouble("example.net", failures, TROUBLE) is None

"""Classification: from a recipient's facts to a Sisimai reason and Sisimai 5's hard/soft."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from verpd.classify import classify, phrases, severity
from verpd.classify.status import meaning
from verpd.model import RecipientFacts, ReportKind, Severity

HARD, SOFT, NONE = Severity.HARD, Severity.SOFT, Severity.NONE


def facts(diagnostic: str | None = None, status: str | None = None, reply_code: int | None = None, action: str = "failed", **extra) -> RecipientFacts:
    return RecipientFacts("someone@example.com", action=action, status=status, reply_code=reply_code, diagnostic=diagnostic, **extra)


@pytest.mark.parametrize(
    ("recipient", "reason", "hard"),
    [
        pytest.param(facts("550 5.1.1 <x@example.com>: Recipient address rejected: User unknown", "5.1.1", 550), "userunknown", HARD, id="user-unknown"),
        pytest.param(facts("550 5.1.2 Host unknown (Name server: example.net: host not found)", "5.1.2", 550), "hostunknown", HARD, id="host-unknown"),
        pytest.param(facts("550 5.1.6 Recipient has moved", "5.1.6", 550), "hasmoved", HARD, id="has-moved"),
        pytest.param(facts("552 5.2.2 Mailbox full", "5.2.2", 552), "mailboxfull", SOFT, id="mailbox-full-is-soft"),
        pytest.param(facts("550 5.1.1 Mailbox is full", "5.1.1", 550), "mailboxfull", SOFT, id="text-vetoes-5.1.1"),
        pytest.param(facts("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "5.7.1", 554), "blocked", SOFT, id="blocklisted-client"),
        pytest.param(facts("550 5.7.1 Message rejected as spam", "5.7.1", 550), "spamdetected", SOFT, id="spam"),
        pytest.param(facts("550 5.7.26 This message does not pass authentication checks (SPF and DKIM both do not pass)", "5.7.26", 550), "authfailure", SOFT, id="dmarc-auth"),
        pytest.param(facts("550 5.7.25 The sending IP does not have a PTR record", "5.7.25", 550), "requireptr", SOFT, id="no-ptr"),
        pytest.param(facts("554 5.3.4 Message too big for system", "5.3.4", 554), "mesgtoobig", SOFT, id="too-big"),
        pytest.param(facts("Connection timed out", "4.4.1", None, action="delayed"), "expired", SOFT, id="timeout-waited-and-gave-up"),
        pytest.param(facts("Name server: example.net.: host name lookup failure", "4.4.3", None, action="delayed"), "networkerror", SOFT, id="dns-failure"),
        pytest.param(facts("retry timeout exceeded", "4.4.7", None, action="delayed"), "expired", SOFT, id="expired"),
        pytest.param(facts(None, "4.0.0", None, action="delayed"), "expired", SOFT, id="delayed-without-text"),
        pytest.param(facts("550 Relaying denied", None, 550), "norelaying", SOFT, id="no-relaying"),
        pytest.param(facts("553 5.1.8 Sender address rejected: Domain not found", "5.1.8", 553, command="MAIL"), "rejected", SOFT, id="sender-rejected"),
        pytest.param(facts("550 Go away", None, 550, command="MAIL"), "rejected", SOFT, id="any-refusal-at-mail-from"),
        pytest.param(facts("554 Go away", None, 554, command="CONN"), "blocked", SOFT, id="refused-at-greeting"),
        pytest.param(facts("556 5.1.10 Recipient address has null MX", "5.1.10", 556), "notaccept", HARD, id="null-mx-5xx-hard"),
        pytest.param(facts("something nobody wrote a rule for", "5.0.0", 550), "onhold", SOFT, id="no-rule-with-text"),
        pytest.param(facts(None, None, None), "undefined", SOFT, id="nothing-said"),
    ],
)
def test_reason_and_hardness_follow_the_servers_words(recipient: RecipientFacts, reason: str, hard: Severity) -> None:
    """Each wording maps to its Sisimai reason; only dead addresses are hard."""
    verdict = classify(recipient)
    assert (verdict.reason, verdict.severity) == (reason, hard)


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_successful_recipients_are_not_failures(action: str) -> None:
    """A delivered/relayed/expanded recipient is 'delivered' and never counts."""
    verdict = classify(facts("250 2.0.0 OK", "2.0.0", 250, action=action))
    assert (verdict.reason, verdict.severity) == ("delivered", NONE)


@pytest.mark.parametrize(("kind", "reason"), [(ReportKind.FEEDBACK, "feedback"), (ReportKind.AUTOREPLY, "vacation")])
def test_complaints_and_auto_replies_are_not_failures(kind: ReportKind, reason: str) -> None:
    """An ARF complaint is 'feedback', an auto-reply 'vacation'; neither is a failure."""
    verdict = classify(facts("550 5.1.1 user unknown", "5.1.1", 550), kind)
    assert (verdict.reason, verdict.severity) == (reason, NONE)


def test_status_meanings_ignore_the_class_digit() -> None:
    """x.1.1 means userunknown in either class; x.0.0 means nothing by itself."""
    assert (meaning("5.1.1"), meaning("4.1.1"), meaning("5.0.0"), meaning(None)) == ("userunknown", "userunknown", None, None)


@pytest.mark.parametrize(
    ("reason", "status", "reply", "expected"),
    [
        ("userunknown", "5.1.1", 550, HARD),
        ("mailboxfull", "5.2.2", 552, SOFT),
        ("blocked", "5.7.1", 554, SOFT),
        ("notaccept", "5.1.10", 556, HARD),
        ("notaccept", "4.3.2", 421, SOFT),
        ("feedback", None, None, NONE),
    ],
)
def test_hard_means_the_address_is_dead(reason: str, status: str | None, reply: int | None, expected: Severity) -> None:
    """Sisimai 5: hard only for userunknown, hostunknown, hasmoved and a 5xx notaccept."""
    assert severity(reason, status, reply) is expected


PHRASE_SETS = [(name, value) for name, value in sorted(vars(phrases).items()) if isinstance(value, phrases.Phrases)]


@pytest.mark.parametrize(("name", "phrase_set"), PHRASE_SETS, ids=[name for name, _ in PHRASE_SETS])
def test_keyword_shortcuts_answer_as_the_whole_pattern(name: str, phrase_set: phrases.Phrases) -> None:
    """Skipping alternatives whose keywords are absent never hides a match nor invents one."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.one_of(st.from_regex(phrase_set.regex), st.text(alphabet="abcdeilmnorstu .-'", max_size=60)))
    def same_answer(text: str) -> None:
        assert phrase_set.search(text) == bool(phrase_set.regex.search(text)), text

    same_answer()


def test_top_level_alternatives_split_outside_groups_and_classes() -> None:
    assert phrases.split_branches(r"a|b(?:c|d)|[|]e|\|f|[]|]g|[^]|]h") == ["a", "b(?:c|d)", "[|]e", r"\|f", "[]|]g", "[^]|]h"]

"""Classifying one recipient's facts: a reason name, and whether the failure is hard, soft or no failure at all."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_bytes
from verpd.classify import classify
from verpd.model import RecipientFacts, Severity, Verdict
from verpd.parse import parse

HARD, SOFT, NONE = Severity.HARD, Severity.SOFT, Severity.NONE
A = "someone@example.com"


def facts(action: str | None = None, status: str | None = None, reply_code: int | None = None) -> RecipientFacts:
    return RecipientFacts(A, action=action, status=status, reply_code=reply_code)


CASES = [
    # The enhanced status code names the reason, and its class (5 / 4 / 2) decides the severity.
    pytest.param(facts("failed", "5.1.1", 550), "userunknown", HARD, id="5.1.1-user-unknown-hard"),
    pytest.param(facts("failed", "5.1.10", 550), "userunknown", HARD, id="5.1.10-exchange-recipient-not-found-hard"),
    pytest.param(facts("failed", "5.1.2", 550), "hostunknown", HARD, id="5.1.2-host-unknown-hard"),
    pytest.param(facts("failed", "5.1.6", 551), "hasmoved", HARD, id="5.1.6-has-moved-hard"),
    pytest.param(facts("failed", "5.2.2", 552), "mailboxfull", HARD, id="5.2.2-mailbox-full-hard"),
    pytest.param(facts("failed", "5.3.4", 552), "mesgtoobig", HARD, id="5.3.4-too-big-hard"),
    pytest.param(facts("failed", "5.7.1", 554), "undefined", HARD, id="other-5.x.x-undefined-hard"),
    pytest.param(facts("failed", "5.0.0"), "undefined", HARD, id="5.0.0-without-reply-hard"),
    pytest.param(facts("delayed", "4.2.2", 452), "mailboxfull", SOFT, id="4.2.2-mailbox-full-soft"),
    pytest.param(facts("delayed", "4.4.7"), "expired", SOFT, id="4.4.7-expired-soft"),
    pytest.param(facts("delayed", "4.4.1", 451), "expired", SOFT, id="4.x.x-delayed-soft"),
    pytest.param(facts("failed", "4.7.1", 451), "undefined", SOFT, id="4.x.x-soft-even-when-action-says-failed"),
    # Precedence: status over reply code over action.
    pytest.param(facts("failed", "4.2.2", 550), "mailboxfull", SOFT, id="status-4-beats-reply-5xx"),
    pytest.param(facts("delayed", "5.1.1", 450), "userunknown", HARD, id="status-5-beats-reply-4xx-and-delayed"),
    pytest.param(facts("failed", "2.0.0", 550), "delivered", NONE, id="status-2-beats-reply-and-failed"),
    pytest.param(facts(None, None, 550), "undefined", HARD, id="reply-5xx-without-status-hard"),
    pytest.param(facts("failed", None, 450), "undefined", SOFT, id="reply-4xx-beats-action-failed"),
    pytest.param(facts("delivered", None, 550), "undefined", HARD, id="reply-5xx-beats-action-delivered"),
    pytest.param(facts("failed", None, 250), "delivered", NONE, id="reply-2xx-beats-action-failed"),
    # Success actions are no failure at all.
    pytest.param(facts("delivered", "2.0.0", 250), "delivered", NONE, id="delivered-none"),
    pytest.param(facts("relayed", "2.0.0"), "delivered", NONE, id="relayed-none"),
    pytest.param(facts("expanded"), "delivered", NONE, id="expanded-without-codes-none"),
    pytest.param(facts(None, "2.1.5"), "delivered", NONE, id="status-2.x.x-without-action-none"),
    # Exim's X-Failed-Recipients: action failed, often no code at all; Exim writes it for permanent failures only.
    pytest.param(facts("failed"), "undefined", HARD, id="exim-failed-without-codes-hard"),
    pytest.param(facts("failed", None, 550), "undefined", HARD, id="exim-failed-with-reply-hard"),
    # Nothing known: soft, so an unexplained message never counts toward suppression.
    pytest.param(facts("delayed"), "expired", SOFT, id="delayed-without-codes-soft"),
    pytest.param(facts(), "undefined", SOFT, id="nothing-known-soft"),
    pytest.param(facts("x-unknown-action"), "undefined", SOFT, id="unknown-action-soft"),
]


@pytest.mark.parametrize(("recipient", "reason", "severity"), CASES)
def test_verdict_follows_status_then_reply_code_then_action(recipient: RecipientFacts, reason: str, severity: Severity) -> None:
    """The verdict comes from the status code if any, else the reply code, else the action; unknown is soft."""
    assert classify(recipient) == Verdict(reason, severity)


def test_every_recipient_of_a_mixed_dsn_gets_its_own_verdict() -> None:
    """A DSN with a failed, a delayed and a delivered recipient yields a hard, a soft and a no-failure verdict."""
    report = parse(fixture_bytes("multi_recipient_mixed.eml", verp="wiki-enwiki-42-b7q2xk@bounces.example.org"))
    assert [(r.address, classify(r)) for r in report.recipients] == [
        ("judy@example.com", Verdict("mailboxfull", HARD)),
        ("ken@example.net", Verdict("expired", SOFT)),
        ("leo@example.org", Verdict("delivered", NONE)),
    ]

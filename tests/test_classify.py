"""Classification: from a recipient's facts to a reason, hard or soft, and the evidence.

The precedence of ``verpd.classify`` (its docstring's numbered list) is tested as one
table, a row per rule; the safe default (weak evidence is never hard) as a property.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from verpd.classify import BROAD_ORDER, WORDING_ORDER, classify, codes
from verpd.classify.matching import Matcher
from verpd.classify.tables import TABLES, WORDED
from verpd.model import Command, Reason, RecipientFacts, ReportKind, Rule, Severity

HARD, SOFT, NONE = Severity.HARD, Severity.SOFT, Severity.NONE
R = Reason


def facts(diagnostic: str | None = None, status: str | None = None, reply_code: int | None = None, action: str = "failed", **extra) -> RecipientFacts:
    return RecipientFacts("someone@example.com", action=action, status=status, reply_code=reply_code, diagnostic=diagnostic, **extra)


# One row per rule of the precedence, in the docstring's order: (facts, kind, reason, severity, rule that decided).
PRECEDENCE = [
    # 1. the report's kind
    pytest.param(facts("550 5.1.1 user unknown", "5.1.1", 550), ReportKind.FEEDBACK, R.FEEDBACK, NONE, Rule.REPORT, id="1-complaint-is-feedback"),
    pytest.param(facts("550 5.1.1 user unknown", "5.1.1", 550), ReportKind.AUTOREPLY, R.VACATION, NONE, Rule.REPORT, id="1-auto-reply-is-vacation"),
    pytest.param(facts("4.7.0 sender not pre-approved", "4.7.0"), ReportKind.CHALLENGE, R.VACATION, NONE, Rule.REPORT, id="1-challenge-is-vacation"),
    # 2. success
    pytest.param(facts("250 2.0.0 OK", "2.0.0", 250, action="relayed"), ReportKind.BOUNCE, R.DELIVERED, NONE, Rule.SUCCESS, id="2-relayed-is-delivered"),
    pytest.param(facts("250 ok", "2.1.5", 250), ReportKind.BOUNCE, R.DELIVERED, NONE, Rule.SUCCESS, id="2-2xx-status-is-delivered"),
    # 3. a local delivery program
    pytest.param(facts("procmail: Couldn't create /var/mail/x", "5.1.1", diagnostic_type="X-Unix"), ReportKind.BOUNCE, R.MAILERERROR, SOFT, Rule.MAILER, id="3-x-unix-beats-its-exit-code-status"),
    pytest.param(facts("maildrop: maildir over quota", "5.2.2", diagnostic_type="X-Unix"), ReportKind.BOUNCE, R.MAILBOXFULL, SOFT, Rule.PHRASE, id="3-x-unix-full-mailbox-words"),
    # 4. provider rules have the last word
    pytest.param(facts("550 : User unknown", "5.1.1", 550, remote_mta="lsean.ezweb.ne.jp"), ReportKind.BOUNCE, R.FILTERED, SOFT, Rule.PROVIDER, id="4-kddi-filter-despite-5.1.1"),
    pytest.param(facts("550 5.4.1 Recipient address rejected: Access denied", "5.4.1", 550, remote_mta="example-com.mail.protection.outlook.com"), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PROVIDER, id="4-microsoft-edge-blocking-is-unknown-user"),
    # 5. decisive status codes
    pytest.param(facts("550 5.1.1 Recipient address rejected", "5.1.1", 550), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.STATUS, id="5-x.1.1-decides-alone"),
    pytest.param(facts("550 5.1.2 Go away", "5.1.2", 550), ReportKind.BOUNCE, R.HOSTUNKNOWN, HARD, Rule.STATUS, id="5-x.1.2-decides-alone"),
    pytest.param(facts("550 5.1.6 Recipient has left", "5.1.6", 550), ReportKind.BOUNCE, R.HASMOVED, HARD, Rule.STATUS, id="5-x.1.6-decides-alone"),
    pytest.param(facts("552 5.2.2 User unknown", "5.2.2", 552), ReportKind.BOUNCE, R.MAILBOXFULL, SOFT, Rule.STATUS, id="5-x.2.2-beats-unrelated-words"),
    pytest.param(facts("552 5.3.4 no", "5.3.4", 552), ReportKind.BOUNCE, R.MESGTOOBIG, SOFT, Rule.STATUS, id="5-x.3.4-decides-alone"),
    pytest.param(facts("550 5.7.25 no", "5.7.25", 550), ReportKind.BOUNCE, R.REQUIREPTR, SOFT, Rule.STATUS, id="5-x.7.25-decides-alone"),
    pytest.param(facts("550 5.7.26 Unauthenticated email", "5.7.26", 550), ReportKind.BOUNCE, R.AUTHFAILURE, SOFT, Rule.STATUS, id="5-x.7.26-decides-alone"),
    pytest.param(facts("550 5.1.1 Mailbox is full", "5.1.1", 550), ReportKind.BOUNCE, R.MAILBOXFULL, SOFT, Rule.PHRASE, id="5-soft-words-veto-a-hard-code"),
    pytest.param(facts("550 5.1.1 Relay access denied", "5.1.1", 550), ReportKind.BOUNCE, R.NORELAYING, SOFT, Rule.PHRASE, id="5-relay-words-veto-a-hard-code"),
    # 6. specific wording, in context
    pytest.param(facts("550 5.0.0 Sorry, no mailbox here by that name", "5.0.0", 550, command=Command.RCPT), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PHRASE, id="6-x.0.0-defers-to-the-words"),
    pytest.param(facts("550 5.7.1 <x@example.com>: Recipient address rejected: User unknown", "5.7.1", 550, command=Command.RCPT), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PHRASE, id="6-x.7.1-defers-to-the-words"),
    pytest.param(facts("550 User unknown", None, 550, command=Command.RCPT), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PHRASE, id="6-words-over-a-bare-reply-code"),
    pytest.param(facts("550 User unknown", None, 550, command=Command.DATA), ReportKind.BOUNCE, R.FILTERED, SOFT, Rule.PHRASE, id="6-unknown-user-after-data-is-a-filter"),
    pytest.param(facts("550 User unknown", None, 550), ReportKind.BOUNCE, R.FILTERED, SOFT, Rule.PHRASE, id="6-unknown-user-at-an-unknown-stage-is-soft"),
    pytest.param(facts("Sorry, no mailbox here by that name."), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PHRASE, id="6-mail-stores-own-words-at-any-stage"),
    pytest.param(facts("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", None, 550), ReportKind.BOUNCE, R.USERUNKNOWN, HARD, Rule.PHRASE, id="6-directory-wording-at-any-stage"),
    pytest.param(facts("550 User unknown", None, 550, command=Command.MAIL), ReportKind.BOUNCE, R.REJECTED, SOFT, Rule.STAGE, id="6-refusal-of-mail-from-is-about-the-sender"),
    pytest.param(facts("550 5.1.0 <s@example.org>: Sender address rejected: unknown user", "5.1.0", 550, command=Command.RCPT), ReportKind.BOUNCE, R.REJECTED, SOFT, Rule.PHRASE, id="6-sender-refused-at-rcpt-is-not-an-unknown-recipient"),
    pytest.param(facts("550 5.7.1 Client host rejected: blocked using zen.spamhaus.org", "5.7.1", 550, command=Command.MAIL), ReportKind.BOUNCE, R.BLOCKED, SOFT, Rule.PHRASE, id="6-host-words-at-mail-from-are-about-the-host"),
    pytest.param(facts("554 5.7.1 Message rejected as spam", "5.7.1", 554, command=Command.DATA), ReportKind.BOUNCE, R.SPAMDETECTED, SOFT, Rule.PHRASE, id="6-spam"),
    pytest.param(facts("550 Message filtered", None, 550, command=Command.RCPT), ReportKind.BOUNCE, R.ONHOLD, SOFT, Rule.DEFAULT, id="6-filter-words-before-data-do-not-count"),
    # 7. a deferring code's confident meaning
    pytest.param(facts("550 5.2.1 Account disabled for policy reasons", "5.2.1", 550), ReportKind.BOUNCE, R.SUSPEND, SOFT, Rule.PHRASE, id="7-x.2.1-defers-to-specific-words"),
    pytest.param(facts("550 5.2.1 Service refused", "5.2.1", 550), ReportKind.BOUNCE, R.FILTERED, SOFT, Rule.DEFAULT, id="7-x.2.1-meaning-before-broad-words"),
    pytest.param(facts("554 5.4.4 Name service error for name=example.net type=MX: no route", "5.4.4", 554), ReportKind.BOUNCE, R.NOTACCEPT, HARD, Rule.STATUS, id="7-specific-deferring-code-is-strong"),
    # 8. broad wording, then a vague code's meaning
    pytest.param(facts("554 5.7.1 Virus found in message", "5.7.1", 554), ReportKind.BOUNCE, R.VIRUSDETECTED, SOFT, Rule.PHRASE, id="8-broad-words-beat-a-vague-code"),
    pytest.param(facts("554 5.7.1 Go away", "5.7.1", 554), ReportKind.BOUNCE, R.SECURITYERROR, SOFT, Rule.DEFAULT, id="8-vague-code-meaning-last"),
    pytest.param(facts("550 5.1.0 Go away", "5.1.0", 550), ReportKind.BOUNCE, R.USERUNKNOWN, SOFT, Rule.DEFAULT, id="8-generic-address-code-is-never-hard"),
    pytest.param(facts("552-5.7.0 This message was blocked because its content presents a potential 552-5.7.0 security issue.", "5.7.0", 552), ReportKind.BOUNCE, R.POLICYVIOLATION, SOFT, Rule.PHRASE, id="8-continuation-codes-do-not-split-a-wording"),
    pytest.param(facts("kijitora@example.net; Action: Delayed", "4.4.0", action="delayed"), ReportKind.BOUNCE, R.EXPIRED, SOFT, Rule.DEFAULT, id="8-delayed-before-a-vague-code"),
    pytest.param(facts("541 5.4.1 Mail rejected by destination domain", "5.4.1", 541), ReportKind.BOUNCE, R.ONHOLD, SOFT, Rule.DEFAULT, id="8-no-answer-from-host-means-nothing-in-class-5"),
    pytest.param(facts("connect to mx.example.net[192.0.2.1]:25: Connection timed out", "4.4.1"), ReportKind.BOUNCE, R.EXPIRED, SOFT, Rule.PHRASE, id="8-a-connect-time-out-is-expiry"),
    # 9. stage and action
    pytest.param(facts("503 5.5.1 Bad sequence of commands", None, 503), ReportKind.BOUNCE, R.SYNTAXERROR, SOFT, Rule.PHRASE, id="9-syntax-words"),
    pytest.param(facts("501 what", None, 501), ReportKind.BOUNCE, R.SYNTAXERROR, SOFT, Rule.DEFAULT, id="9-50x-reply"),
    pytest.param(facts(None, "4.0.0", action="delayed"), ReportKind.BOUNCE, R.EXPIRED, SOFT, Rule.DEFAULT, id="9-delayed-is-expired"),
    pytest.param(facts("554 Go away", None, 554, command=Command.CONN), ReportKind.BOUNCE, R.BLOCKED, SOFT, Rule.STAGE, id="9-refused-at-greeting-is-blocked"),
    pytest.param(facts("550 Go away", None, 550, command=Command.MAIL), ReportKind.BOUNCE, R.REJECTED, SOFT, Rule.STAGE, id="9-any-refusal-at-mail-from-is-rejected"),
    # 10. nothing known
    pytest.param(facts("something nobody wrote a rule for", "5.0.0", 550), ReportKind.BOUNCE, R.ONHOLD, SOFT, Rule.DEFAULT, id="10-words-but-no-rule"),
    pytest.param(facts(None), ReportKind.BOUNCE, R.UNDEFINED, SOFT, Rule.DEFAULT, id="10-nothing-said"),
    # the safe default
    pytest.param(facts("550 5.1.1 user unknown", "5.1.1", 550), ReportKind.BOUNCE, R.USERUNKNOWN, SOFT, Rule.STATUS, id="safe-fallback-detector-never-hard"),
    pytest.param(facts("User unknown", "4.1.1", None, action="delayed", command=Command.RCPT), ReportKind.BOUNCE, R.USERUNKNOWN, SOFT, Rule.STATUS, id="safe-delayed-never-hard"),
]


@pytest.mark.parametrize(("recipient", "kind", "reason", "severity", "rule"), PRECEDENCE)
def test_precedence_rule(request: pytest.FixtureRequest, recipient: RecipientFacts, kind: ReportKind, reason: Reason, severity: Severity, rule: Rule) -> None:
    """Each rule of the precedence decides its case: the reason, hard or soft, and which kind of rule it was."""
    detector = "fallback" if "fallback" in request.node.callspec.id else "dsn"
    verdict = classify(recipient, kind, detector)
    assert (verdict.reason, verdict.severity, verdict.evidence.rule) == (reason, severity, rule), verdict.evidence


def test_evidence_names_the_detector_and_the_deciding_row() -> None:
    """A verdict carries the detector, the table and row that decided, and that row's provenance."""
    verdict = classify(facts("550 5.0.0 <x@example.com>... User unknown", "5.0.0", 550, command=Command.RCPT), detector="sendmail")
    assert verdict.evidence.detector == "sendmail"
    assert verdict.evidence.rule is Rule.PHRASE
    table, _, index = verdict.evidence.ref.partition("#")
    row = TABLES[Reason(table)].rows[int(index)]
    assert re.search(row.pattern, "550 5.0.0 <x@example.com>... user unknown")
    assert verdict.evidence.source == f"{row.emitter}: {row.source}"
    assert verdict.evidence.as_dict()["rule"] == "phrase"


def test_evidence_of_a_provider_rule_names_the_provider() -> None:
    """A provider's rule is cited by provider and index, with the page that documents it."""
    verdict = classify(facts("550 5.4.1 Recipient address rejected: Access denied", "5.4.1", 550, remote_mta="mx.outlook.com"))
    assert verdict.evidence.ref.startswith("microsoft#") and "learn.microsoft.com" in verdict.evidence.source


# --- the safe default, as a property ---------------------------------------------------------

ALL_ROWS = [row.pattern for reason in WORDED for row in TABLES[reason].rows]  # no remote host below: no provider rule applies
_KNOWN = re.compile("|".join(f"(?:{p})" for p in ALL_ROWS))
GENERIC_CODES = [None, "5.0.0", "4.0.0", "5.7.1", "5.7.0", "5.5.0", "5.2.1", "5.3.0", "5.2.0", "5.1.0", "5.6.0", "4.7.1", "5.4.0"]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    text=st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz .,:;'<>@-_0123456789")), max_size=120),
    status=st.sampled_from(GENERIC_CODES),
    reply=st.sampled_from([None, 421, 450, 451, 500, 501, 550, 553, 554]),
    command=st.sampled_from([None, *Command]),
    action=st.sampled_from(["failed", "delayed", None]),
    detector=st.sampled_from(["dsn", "fallback", "exim", "qmail"]),
)
def test_unknown_words_with_a_generic_code_are_never_hard(text: str, status: str | None, reply: int | None, command: Command | None, action: str | None, detector: str) -> None:
    """For any diagnostic that matches no table (and no known provider's host), with any generic code, the verdict is not hard."""
    lowered = " ".join(text.split())
    assume(not _KNOWN.search(lowered))
    verdict = classify(RecipientFacts("someone@example.com", action=action, status=status, reply_code=reply, diagnostic=text, command=command), detector=detector)
    assert verdict.severity is not Severity.HARD, verdict


HARD_ROWS = [row for reason in (R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED) for row in TABLES[reason].rows]


@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_even_known_hard_words_are_never_hard_from_a_guessing_detector(data: st.DataObject) -> None:
    """The fallback and the one-sentence reader guess at a format they do not know: whatever the words, their verdict is soft."""
    row = data.draw(st.sampled_from(HARD_ROWS))
    text = data.draw(st.from_regex(row.pattern, fullmatch=True))
    verdict = classify(facts(text, "5.1.1", 550, command=Command.RCPT), detector=data.draw(st.sampled_from(["fallback", "minimal"])))
    assert verdict.severity is not Severity.HARD


# --- codes and tables as data ----------------------------------------------------------------


def test_decisive_and_deferring_codes_do_not_overlap() -> None:
    """A code either decides alone or defers to the words, never both."""
    assert not set(codes.DECISIVE) & set(codes.DEFERRING)
    assert codes.decisive("5.1.1") is R.USERUNKNOWN and codes.decisive("4.1.1") is R.USERUNKNOWN
    assert codes.decisive("5.0.0") is None and codes.decisive("5.7.1") is None and codes.decisive(None) is None


def test_every_worded_reason_is_tried_exactly_once() -> None:
    """Each reason with a table is in exactly one of the two wording orders."""
    tried = list(WORDING_ORDER) + list(BROAD_ORDER)
    assert sorted(tried) == sorted(set(tried))
    assert set(tried) == set(WORDED)


@pytest.mark.parametrize("reason", WORDED, ids=lambda r: r.value)
def test_every_row_is_a_lower_case_pattern_with_its_provenance(reason: Reason) -> None:
    """Rows compile, match lower-cased text only, and say who emits the wording and where that is documented."""
    for row in TABLES[reason].rows:
        re.compile(row.pattern)
        assert row.pattern == row.pattern.lower() or "\\" in row.pattern, row.pattern
        assert row.emitter.strip() and row.source.strip(), row


def test_alone_rows_come_first_in_their_table() -> None:
    """The user-unknown rule relies on it: when a self-sufficient wording occurs, it is the first match."""
    for reason in WORDED:
        flags = [row.alone for row in TABLES[reason].rows]
        assert flags == sorted(flags, reverse=True), reason


@pytest.mark.parametrize("reason", WORDED, ids=lambda r: r.value)
def test_keyword_shortcuts_answer_as_the_patterns_alone(reason: Reason) -> None:
    """Skipping rows whose keywords are absent never hides a match nor invents one."""
    table = TABLES[reason]
    if not table.rows:
        return
    matcher = Matcher([row.pattern for row in table.rows])
    whole = "|".join(f"(?:{row.pattern})" for row in table.rows)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.one_of(st.from_regex(whole), st.text(alphabet="abcdeilmnorstu .-'", max_size=60)))
    def same_answer(text: str) -> None:
        assert matcher.first(text) == matcher.first_plain(text), text

    same_answer()


def test_provider_lookups_remember_a_bounded_number_of_hosts() -> None:
    """Host names are cached for speed, but a stream of made-up names cannot grow the cache without bound."""
    from verpd.classify import providers

    for i in range(providers._CACHE_SIZE + 100):
        providers.TABLE.provider_of((f"mx{i}.example.net",))
    assert len(providers.TABLE._cache) <= providers._CACHE_SIZE
    assert providers.TABLE.provider_of(("mx.example.net", "aspmx.l.google.com")).name == "google"

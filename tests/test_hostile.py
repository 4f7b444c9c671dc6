"""Hostile clients against a real ``verpd serve``: each limit ends its attack with the reply the
README promises, and a legitimate MTA beside it still gets its 250 within LEGIT_BOUND seconds.

The cases live in tests/hostile.py (tests/bench/bench_hostile.py prints their figures).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.hostile import CASE_BY_NAME, LEGIT_BOUND, LIMITS, Outcome, run_case
from verpd import log
from verpd.config import DEFAULT_MAX_RECIPIENTS, PolicyConfig

MAX_ERRORS = LIMITS["max_errors"]
MAX_RECIPIENTS = LIMITS["max_recipients"]


async def attacked(name: str, tmp_path: Path) -> Outcome:
    """Run case ``name`` and check the legitimate client: every delivery got 250, the slowest within LEGIT_BOUND."""
    outcome = await run_case(CASE_BY_NAME[name], tmp_path)
    assert outcome.legit.failures == [], outcome.legit.failures[:3]
    assert outcome.legit.latencies, "the legitimate client delivered nothing while the attack ran"
    assert outcome.legit.worst <= LEGIT_BOUND, f"legitimate delivery took {outcome.legit.worst:.2f} s under {name}"
    return outcome


def logged_at_most(outcome: Outcome, event: str, seconds: float) -> None:
    """``event`` was written no more often than the rate limit lets it through in ``seconds``."""
    intervals = int(seconds // log.RATE_INTERVAL) + 2  # an interval may begin just before the attack and end just after
    assert len(outcome.named(event)) <= log.RATE_BURST * intervals, Counter(e.get("event") for e in outcome.events)


def logged_or_counted(outcome: Outcome, event: str) -> int:
    """How many ``event`` lines were written, plus those log.suppressed lines counted instead."""
    return len(outcome.named(event)) + sum(e["count"] for e in outcome.named("log.suppressed") if e["suppressed"] == event)


async def test_a_command_line_trickled_a_byte_at_a_time_gets_421_after_idle_timeout(tmp_path: Path) -> None:
    """Slowloris on a command line: each connection gets 421 4.4.2 once idle_timeout passes without a whole command."""
    outcome = await attacked("slowloris: command line", tmp_path)
    assert all(line.startswith("421 4.4.2") for line in outcome.attack.facts["last_lines"]), outcome.attack.facts["last_lines"]
    assert all(2 <= s < 2 + LEGIT_BOUND for s in outcome.attack.facts["seconds"])  # idle_timeout = 2s


async def test_a_noop_keep_alive_is_closed_when_connection_lifetime_is_over(tmp_path: Path) -> None:
    """A NOOP every second keeps idle_timeout (2s) away, but connection_lifetime (4s) closes it with 421 4.4.2."""
    outcome = await attacked("slowloris: NOOP keep-alive", tmp_path)
    assert all(line.startswith("421 4.4.2") and "too long" in line for line in outcome.attack.facts["last_lines"])
    assert all(4 <= s < 4 + LEGIT_BOUND for s in outcome.attack.facts["seconds"])


async def test_a_noop_flood_is_closed_after_max_commands(tmp_path: Path) -> None:
    """Pipelined NOOPs: the command after max_commands (LHLO counted) gets 421 4.4.2, and nothing after it runs."""
    outcome = await attacked("NOOP flood", tmp_path)
    for lines in outcome.attack.facts["lines"]:
        assert Counter(line[:3] for line in lines) == {"250": LIMITS["max_commands"] - 1, "421": 1}
        assert lines[-1].startswith("421 4.4.2 Too many commands")


async def test_a_data_body_trickled_a_byte_at_a_time_gets_421_after_data_timeout(tmp_path: Path) -> None:
    """Slowloris in DATA: the body must arrive within data_timeout (3s), else 421 4.4.2."""
    outcome = await attacked("slowloris: DATA body", tmp_path)
    assert all(line.startswith("421 4.4.2 DATA") for line in outcome.attack.facts["last_lines"])
    assert all(3 <= s < 3 + LEGIT_BOUND for s in outcome.attack.facts["seconds"])


async def test_connections_beyond_max_connections_each_get_421_and_the_episode_is_logged_once(tmp_path: Path) -> None:
    """Every connection beyond max_connections is answered 421 4.3.2 and closed (none dropped silently); the episode
    is two log lines, not one per refusal; once the holders leave, a new client delivers."""
    outcome = await attacked("connection flood", tmp_path)
    answers = outcome.attack.facts["answers"]
    assert answers == [["421 4.3.2 Too many connections, try again later"]] * len(answers)
    assert outcome.attack.facts["after"] == [250]
    (reached,), (cleared,) = outcome.named("server.max_connections_reached"), outcome.named("server.max_connections_cleared")
    assert reached["limit"] == LIMITS["max_connections"] and cleared["refused"] == len(answers)


async def test_a_burst_of_two_thousand_connections_is_greeted_every_one(tmp_path: Path) -> None:
    """2,000 connections at once (max_connections 200, backlog 1024): each gets its first line, a 220 greeting or
    421 4.3.2, within LEGIT_BOUND; none is left waiting in the listen queue."""
    outcome = await attacked("connection burst", tmp_path)
    first = Counter(line[:9] if line.startswith("421") else line[:3] for line in outcome.attack.facts["first_lines"])
    assert set(first) <= {"220", "421 4.3.2"} and first.total() == 2_000, first
    assert max(outcome.attack.facts["seconds"]) <= LEGIT_BOUND


async def test_ten_thousand_recipients_get_452_past_max_recipients_then_421_after_max_errors(tmp_path: Path) -> None:
    """One transaction naming 10,000 recipients: 250 up to max_recipients, 452 4.5.3 for as many again without
    penalty (Postfix's overshoot), then each 452 counts as an error and max_errors of them end it with 421 4.7.0."""
    outcome = await attacked("10,000 RCPTs, one transaction", tmp_path)
    expected = ["250 2.1.5"] * MAX_RECIPIENTS + ["452 4.5.3"] * (MAX_RECIPIENTS + MAX_ERRORS) + ["421 4.7.0"]
    for lines in outcome.attack.facts["rounds"]:
        assert [line[:9] for line in lines] == expected
    assert logged_or_counted(outcome, "rcpt.too_many") == len(outcome.attack.facts["rounds"])  # once per transaction


async def test_ten_thousand_invalid_recipients_are_cut_off_after_max_errors_and_log_a_few_lines(tmp_path: Path) -> None:
    """Invalid RCPTs: each connection gets max_errors 550s then 421 4.7.0; of 10,000 rejections the log holds a few
    rcpt.rejected lines and log.suppressed lines that count the rest exactly."""
    outcome = await attacked("10,000 invalid RCPTs", tmp_path)
    facts = outcome.attack.facts
    assert set(facts["rejected"]) == {MAX_ERRORS} and set(facts["closes"]) == {"421 4.7.0 Too many errors, closing connection"}
    logged_at_most(outcome, "rcpt.rejected", outcome.attack.seconds)
    assert logged_or_counted(outcome, "rcpt.rejected") == facts["sent"] == 10_000


async def test_garbage_and_non_ascii_lines_end_the_session(tmp_path: Path) -> None:
    """Unknown commands: aiosmtpd's 502 5.5.1 after five. Non-ASCII lines (500 each): 421 4.7.0 after max_errors."""
    outcome = await attacked("garbage and non-ASCII lines", tmp_path)
    facts = outcome.attack.facts
    assert [line[:3] for line in facts["unknown"]] == ["500"] * 4 + ["502"]
    assert set(facts["errors"]) == {MAX_ERRORS} and set(facts["closes"]) == {"421 4.7.0 Too many errors, closing connection"}
    assert sum(facts["errors"]) >= 5_000
    logged_at_most(outcome, "session.limited", outcome.attack.seconds)


async def test_lines_over_one_mebibyte_get_554_per_recipient_in_data_and_500_as_a_command(tmp_path: Path) -> None:
    """A body line of 1 MiB + 1 byte: 554 5.6.0 once per recipient; the same as a command line: 500; the session stays usable."""
    outcome = await attacked("lines over 1 MiB", tmp_path)
    for seen in outcome.attack.facts["rounds"]:
        assert seen == {"data": ["554 5.6.0"] * 3, "command": 500, "after": 250}


async def test_nul_and_eight_bit_bytes_get_error_replies_and_a_binary_body_is_accepted(tmp_path: Path) -> None:
    """NULs and 8-bit bytes in commands get 5xx replies without breaking the session; a binary body gets 250."""
    outcome = await attacked("binary commands and body", tmp_path)
    for seen in outcome.attack.facts["rounds"]:
        assert [a[:3] for a in seen["answers"]] == ["500", "500", "503", "250", "250", "550", "354"]
        assert seen["data"].startswith("250 2.0.0") and seen["after"].startswith("250")


async def test_a_dsn_with_ten_thousand_recipients_is_accepted_and_summarised(tmp_path: Path) -> None:
    """A DSN of 10,000 recipient blocks gets 250; parse reports parse.max_recipients and one summary for the rest,
    and the store keeps policy.max_failed_per_message of them."""
    outcome = await attacked("DSN of 10,000 recipients", tmp_path)
    rounds = outcome.attack.facts["data"]
    assert rounds == [["250 2.0.0"]] * len(rounds)
    kept = PolicyConfig.__dataclass_fields__["max_failed_per_message"].default
    assert [e["dropped"] for e in outcome.named("bounce.excess")] == [DEFAULT_MAX_RECIPIENTS + 1 - kept] * len(rounds)


async def test_accept_failing_for_lack_of_file_descriptors_logs_a_few_lines_and_recovers(tmp_path: Path) -> None:
    """With fewer descriptors than connections, accept() fails with EMFILE: verpd warns at start, writes a few
    rate-limited server.accept_failed lines instead of thousands, and serves the queued clients once they leave."""
    outcome = await attacked("file descriptors exhausted", tmp_path)
    assert outcome.attack.facts["after"] == [250]
    assert len(outcome.named("server.fd_limit_low")) == 1
    failed = outcome.named("server.accept_failed")
    assert failed and {e["error"] for e in failed} == {"EMFILE"}
    logged_at_most(outcome, "server.accept_failed", outcome.attack.seconds)
    assert not [e for e in outcome.named("library.log") if "accept" in e.get("message", "")]


def test_every_case_has_a_test_here() -> None:
    """Each case of tests/hostile.py is run by a test of this module (a new case cannot go untested)."""
    source = Path(__file__).read_text().split("def test_every_case_has_a_test_here")[0]
    assert [case for case in CASE_BY_NAME if f'attacked("{case}"' not in source] == []

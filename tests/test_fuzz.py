"""Fuzzing under a CI budget: whatever arrives, parsing, VERP verification and the LMTP intake keep their rules.

The targets and their inputs live in ``tests/fuzz.py``; ``python -m tests.bench fuzz``
runs them under 10^5 inputs and more. Here each runs a few hundred to a few thousand
derandomized examples (the same ones every run, no example database written), about
half a minute in all.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings

from tests import fuzz
from verpd.model import RecipientFacts, Report, ReportKind

CI = settings(fuzz.FUZZ, derandomize=True)


@settings(CI, max_examples=2500)
@given(case=fuzz.st.tuples(fuzz.parse_inputs(), fuzz.max_recipients))
def test_parse_and_classify_never_raise_and_report_bounded_well_typed_facts(case: tuple[bytes, int]) -> None:
    """Structured, random and damaged mail parses within the time limit to a bounded report, and every recipient classifies."""
    fuzz.check_parse(*case)


@settings(CI, max_examples=2000)
@given(case=fuzz.verp_inputs())
def test_only_the_address_we_signed_verifies_and_everything_else_is_a_verp_error(case: tuple[str, int, fuzz.Signed | None]) -> None:
    """Arbitrary strings and mutated signed addresses raise VerpError with a kind; only the signed address (up to the case its format ignores) verifies, to what was signed, inside its time window."""
    fuzz.check_verify(*case)


def test_lmtp_answers_every_session_well_formed_and_once_per_recipient_then_still_delivers(tmp_path: Path) -> None:
    """Random command sequences, pipelined bursts, messages and raw bytes get well-formed replies, one per accepted
    recipient after DATA, within the time bound, with no error logged; afterwards a legitimate bounce still gets 250."""
    with fuzz.LmtpHarness(tmp_path) as harness:

        @settings(CI, max_examples=300)
        @given(steps=fuzz.lmtp_sessions(harness.valid))
        def sessions(steps: list[fuzz.Burst | fuzz.Raw]) -> None:
            harness.run_session(steps)

        sessions()
        harness.deliver_legit()
        assert harness.figures["deliveries"] > 50  # the sessions reached DATA, not just the command parser


@settings(CI, max_examples=60)
@given(raw=fuzz.memory_inputs(sizes=(64_000, 256_000)))
def test_parse_memory_stays_a_bounded_multiple_of_the_message_size(raw: bytes) -> None:
    """The traced peak of parsing a message stays under a fixed multiple of its size, or of what the email package takes to read it."""
    fuzz.check_memory(raw)


@settings(CI, max_examples=12)
@given(shape=fuzz.shapes())
def test_parse_time_of_random_shapes_grows_linearly(shape: tuple[str, Callable[[int], bytes]]) -> None:
    """A random unit repeated 8 times as often takes well under 64 times as long to parse (quadratic work would)."""
    fuzz.check_linear(shape[1])


@pytest.mark.parametrize("line", [b"MAIL FROM:<", b"RCPT TO:a@", b"RCPT TO:<a@"], ids=["mail-from-lone-bracket", "rcpt-to-no-domain", "rcpt-to-unclosed"])
def test_an_address_the_parser_chokes_on_is_a_malformed_address_not_our_failure(tmp_path: Path, line: bytes) -> None:
    """An address on which CPython's parser raises IndexError (aiosmtpd catches only HeaderParseError) gets
    aiosmtpd's own answer to a malformed address, 553 5.1.3 (counted toward max_errors), not 451 and no error log line."""
    assert fuzz.crashes_address_parser(line + b"\r\n")  # still a line that makes the parser raise
    with fuzz.LmtpHarness(tmp_path) as harness:
        lines = (b"LHLO mx.example.org\r\n", b"MAIL FROM:<>\r\n", line + b"\r\n") if line.startswith(b"RCPT") else (b"LHLO mx.example.org\r\n", line + b"\r\n")
        transcript = harness.run_session([fuzz.Burst(lines)])
        reply = transcript.replies[len(lines) - 1]
        assert (reply.code, reply.text.split()[0]) == (553, "5.1.3")


# --- the checks themselves can fail --------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b"250 OK\n", b"25 OK\r\n", b"250_OK\r\n", b"250 caf\xc3\xa9\r\n", b"250 a\x00b\r\n", b"250 " + b"x" * 600 + b"\r\n"],
    ids=["bare-lf", "two-digits", "no-separator", "8-bit", "nul", "over-512-octets"],
)
def test_reply_reader_refuses_a_reply_line_rfc_5321_does_not_allow(line: bytes) -> None:
    """The LMTP check fails on a reply line outside RFC 5321 §4.2's grammar or longer than 512 octets."""
    server, client = socket.socketpair()
    with server, client:
        conn = fuzz.Conn(client)
        server.sendall(line)
        with pytest.raises(fuzz.FuzzFailure, match="malformed reply line"):
            conn.reply()


@pytest.mark.parametrize(
    ("body", "wire"),
    [(b"", b".\r\n"), (b"a", b"a\r\n.\r\n"), (b".\r\n", b"..\r\n.\r\n"), (b"x\r\n.\r\ny", b"x\r\n..\r\ny\r\n.\r\n"), (b"x\n.\n", b"x\n.\n\r\n.\r\n")],
    ids=["empty", "no-final-crlf", "lone-dot", "dot-line-inside", "bare-lf-dot-is-data"],
)
def test_message_is_sent_dot_stuffed_with_the_final_dot(body: bytes, wire: bytes) -> None:
    """The fuzz client dot-stuffs each CRLF line starting with '.', treats bare LF as data, and ends with CRLF.CRLF."""
    assert fuzz.wire_body(body) == wire


def test_report_check_refuses_more_recipients_than_max_recipients_plus_one() -> None:
    """The parse check fails on a report naming more than max_recipients + 1 recipients."""
    report = Report(ReportKind.BOUNCE, "dsn", tuple(RecipientFacts(f"user{i}@example.org", "failed") for i in range(4)))
    with pytest.raises(fuzz.FuzzFailure, match="4 recipients for max_recipients = 2"):
        fuzz.check_report(report, 2)


def test_verify_check_refuses_a_mutated_address_that_verifies() -> None:
    """The VERP check fails when an address other than the signed one (beyond letter case) verifies."""
    signed = fuzz.VERP.sign("enwiki", 42, 1_700_000_000)
    other = fuzz.VERP.sign("enwiki", 43, 1_700_000_000)
    with pytest.raises(fuzz.FuzzFailure, match="verified as"):
        fuzz.check_verify(other.address, 1_700_000_000, signed)
    assert isinstance(fuzz.check_verify(signed.address.upper(), 1_700_000_060, signed).user, int)

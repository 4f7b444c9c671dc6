"""Parsing never raises and never hangs, whatever bytes arrive (hypothesis, >= 2,000 examples each)."""

from __future__ import annotations

import base64
import signal
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import FIXTURES
from verpd.classify import classify
from verpd.model import Report
from verpd.parse import parse

EXAMPLES = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_MESSAGE_LIMIT = 5  # seconds: far beyond any message's parse time, so only a hang trips it
SEEDS = [p.read_bytes() for p in sorted((FIXTURES / "detectors").glob("*.eml"))]


def parsed_with_peak(raw: bytes) -> tuple[Report, int]:
    """``parse(raw)`` and the peak of memory it allocated (tracemalloc), in bytes."""
    tracemalloc.start()
    try:
        report = parse(raw)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextmanager
def no_hang(seconds: int) -> Iterator[None]:
    """Fail (instead of waiting forever) if the block runs longer than ``seconds``."""

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"parse took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def parse_and_classify(raw: bytes) -> None:
    with no_hang(PER_MESSAGE_LIMIT):
        report = parse(raw)
        for facts in report.recipients:
            classify(facts, report.kind)


@EXAMPLES
@given(st.binary(max_size=4096))
def test_parse_survives_arbitrary_bytes(raw: bytes) -> None:
    """Any byte string is parsed to some report without an exception or a hang."""
    parse_and_classify(raw)


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    """One of our fixtures with random damage: bytes replaced, inserted, deleted, truncated, line ends changed."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        operation = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "crlf", "cr", "duplicate"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if operation == "replace" and data:
            data[at] = draw(st.integers(min_value=0, max_value=255))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64) | st.sampled_from([b"\n--", b"\n\n", b"Content-Type: multipart/mixed; boundary=x\n", b"=?utf-8?b?", b"\x00", b"\r"]))
        elif operation == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=200))]
        elif operation == "truncate":
            del data[at:]
        elif operation == "crlf":
            data = bytearray(bytes(data).replace(b"\n", b"\r\n"))
        elif operation == "cr":
            data = bytearray(bytes(data).replace(b"\n", b"\r"))
        elif operation == "duplicate":
            data = data + data  # two messages concatenated
    return bytes(data)


@EXAMPLES
@given(mutated_fixtures())
def test_parse_survives_damaged_bounces(raw: bytes) -> None:
    """Our fixtures with random damage are parsed without an exception or a hang."""
    parse_and_classify(raw)


def test_deeply_nested_multiparts_do_not_hang(tmp_path: Path) -> None:
    """Thousands of nested multipart levels are read in bounded time."""
    depth = 3000
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)) + b"\nend\n"
    parse_and_classify(b"From: a@example.com\nSubject: x\n" + raw)


def test_huge_attachment_is_read_in_bounded_time() -> None:
    """A bounce carrying a multi-megabyte returned message is parsed without blowing up."""
    body = b"A" * 76 + b"\n"
    raw = SEEDS[0] + b"\n" + body * 120_000  # ~9 MB of extra body
    parse_and_classify(raw)


def test_memory_for_a_huge_nested_attachment_stays_a_small_multiple_of_its_size() -> None:
    """A returned copy with a multi-megabyte attachment costs memory in proportion to its size.

    Each MIME level keeps its own slice of the text (as the email package does: it peaks
    at about 8x here too); the bound catches a copy per line or per level of nesting.
    """
    attachment = base64.encodebytes(b"\0" * 3_000_000)
    raw = (
        b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nDelivery failed.\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        b"Final-Recipient: rfc822; user@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        b"--B\nContent-Type: message/rfc822\n\nFrom: sender@example.com\nContent-Type: multipart/mixed; boundary=C\n\n"
        b"--C\nContent-Type: text/plain\n\nhello\n"
        b"--C\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + attachment + b"--C--\n--B--\n"
    )
    report, peak = parsed_with_peak(raw)
    assert [f.address for f in report.recipients] == ["user@example.org"]
    assert peak <= 8 * len(raw), f"peak {peak / 1e6:.1f} MB for {len(raw) / 1e6:.1f} MB"


def test_memory_for_deep_nesting_does_not_grow_with_the_depth() -> None:
    """Fifty levels of nested multiparts around a megabyte of text cost memory of a few times its size, not fifty.

    Each level is read as a span of the message's text: no level copies what it encloses.
    """
    levels = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(60))
    raw = b"From: MAILER-DAEMON@example.com\nSubject: x\n" + levels + b"\n" + (b"A" * 76 + b"\n") * 14_000
    _, peak = parsed_with_peak(raw)
    assert peak <= 8 * len(raw), f"peak {peak / 1e6:.1f} MB for {len(raw) / 1e6:.1f} MB"


def test_memory_for_a_header_folded_over_many_lines_stays_a_small_multiple_of_its_size() -> None:
    """A header folded over half a million short lines costs memory of a few times its size.

    Found by tests/fuzz.py: the header block's regular expressions kept a backtracking
    record per continuation line, and such a megabyte header peaked at 100 times its size.
    """
    raw = b"From: MAILER-DAEMON@example.com\nSubject: x\nX-Long: " + b"\n " * 500_000 + b"\n\nbody\n"
    _, peak = parsed_with_peak(raw)
    assert peak <= 8 * len(raw), f"peak {peak / 1e6:.1f} MB for {len(raw) / 1e6:.1f} MB"


def test_memory_for_a_delivery_status_part_of_blank_lines_stays_a_small_multiple_of_its_size() -> None:
    """A delivery-status part of a hundred thousand blank lines costs memory of a few times its size.

    Found by tests/fuzz.py: each blank line after another made an empty header block, a
    Message and a field dict of its own, and such a part peaked at 380 times its size.
    """
    raw = (
        b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n" + b"\n" * 100_000 + b"--B--\n"
    )
    _, peak = parsed_with_peak(raw)
    assert peak <= 32 * len(raw), f"peak {peak / 1e6:.1f} MB for {len(raw) / 1e6:.1f} MB"

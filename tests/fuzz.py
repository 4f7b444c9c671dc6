"""Fuzz targets over the parser, the VERP verifier and the LMTP intake (issue 10, item 6).

Anyone who holds one VERP address can put any bytes through our MX, so each target
states what must hold whatever arrives. A target is a plain function of one input: it
returns normally or raises :class:`FuzzFailure` naming the rule that broke; any other
exception escaping it is a failure too. The inputs come from hypothesis strategies:

* ``parse``: :func:`check_parse` on structured mail (:func:`mail`: headers, random MIME
  trees of multipart/report, message/delivery-status blocks with random field values,
  returned copies, base64 / quoted-printable / 8bit bodies in random charsets,
  Diagnostic-Code texts made of the words of the reason tables and lines of our
  fixtures), on raw bytes, and on :func:`mutated` seeds (our fixtures, the shared corpus
  read in place where it exists, structured mail): bytes flipped, inserted, deleted,
  repeated, spliced from another seed, truncated.
* ``verp``: :func:`check_verify` on arbitrary and address-shaped strings, and on
  :func:`mutated_address` copies of addresses we signed (:class:`VerpFixture`).
* ``lmtp``: :meth:`LmtpHarness.run_session` drives a real verpd (``Daemon`` on a
  temporary SQLite database, in a thread of its own) with :func:`lmtp_sessions`: random
  command sequences, pipelined bursts, DATA with random bodies, raw bytes.
* ``linear``: :func:`check_linear`, a random recipient block, text line or header
  repeated ``n`` and ``8 n`` times, and :func:`check_memory`.

``tests/test_fuzz.py`` runs them under a small budget (CI); ``python -m tests.bench
fuzz`` under 10^5 inputs and more (``tests/bench/bench_fuzz.py``).
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.parser
import email.policy
import logging
import os
import quopri
import re
import signal
import socket
import string
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from email.message import Message
from functools import cache
from pathlib import Path
from random import Random
from typing import Any

import structlog
from hypothesis import HealthCheck, settings, strategies as st

from tests.conftest import FIXTURES, VERP_DOMAIN, FakeClock, make_config, shared_dir, verp_address
from tests.messages import dsn
from tests.test_parse_linear import MAX_RATIO, gc_paused
from verpd.classify import HARD_REASONS, NOT_FAILURES, classify
from verpd.classify.tables import TABLES
from verpd.config import Config, Secret, VerpConfig
from verpd.errors import VerpError, VerpErrorKind
from verpd.model import (
    GUESSING_DETECTORS,
    Command,
    Reason,
    RecipientFacts,
    Report,
    ReportKind,
    Severity,
    Verdict,
    VerpAddress,
    VerpFormat,
)
from verpd.parse import DETECTORS, MAX_RECIPIENTS, parse
from verpd.parse.message.text import MAX_DIAGNOSTIC
from verpd.verp import MAX_TIME, Verp, VerpSet

# Hypothesis settings every fuzz run shares: no example database written into the
# checkout, no deadline (a loaded two-core box), no health check about slow or large data.
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class FuzzFailure(AssertionError):
    """A rule a target checks did not hold for one input."""


def require(condition: object, rule: str) -> None:
    if not condition:
        raise FuzzFailure(rule)


# --- time and memory bounds -------------------------------------------------------------

PARSE_LIMIT = 10.0  # seconds for one message: far beyond any parse time, so only a hang trips it


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail (instead of waiting forever) if the block runs longer than ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise FuzzFailure(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the parse target ---------------------------------------------------------------------

DETECTOR_NAMES = frozenset(d.name for d in DETECTORS)
STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
MAX_MESSAGE_ID = 998  # RFC 5322 §2.1.1: a header line is at most 998 characters
# The dead-address reasons a hard verdict may name (``classify``: and notaccept with a 5xx).
HARD_ALLOWED = HARD_REASONS | {Reason.NOTACCEPT}
_FIELDS = ("address", "action", "status", "diagnostic", "remote_mta", "reporting_mta", "original_recipient", "diagnostic_type", "feedback_type")


def check_parse(raw: bytes, max_recipients: int = MAX_RECIPIENTS) -> tuple[Report, list[Verdict]]:
    """Parse ``raw`` and classify every recipient: no exception, no hang, a well-typed bounded report."""
    with time_limit(PARSE_LIMIT, f"parsing {len(raw)} bytes"):
        report = parse(raw, max_recipients=max_recipients)
        verdicts = [classify(facts, report.kind, report.detector) for facts in report.recipients]
    check_report(report, max_recipients)
    for facts, verdict in zip(report.recipients, verdicts, strict=True):
        check_verdict(report, facts, verdict)
    return report, verdicts


def check_report(report: Report, max_recipients: int) -> None:
    """The report's shape: a kind, a known detector, at most ``max_recipients`` + 1 distinct recipients of bounded facts."""
    require(isinstance(report, Report) and isinstance(report.kind, ReportKind), f"not a Report: {report!r}")
    require((report.detector is None) == (report.kind is ReportKind.UNRECOGNIZED), f"kind {report.kind} with detector {report.detector!r}")
    require(report.detector is None or report.detector in DETECTOR_NAMES, f"unknown detector {report.detector!r}")
    require(report.kind is not ReportKind.UNRECOGNIZED or not report.recipients, "an unrecognized report names recipients")
    require(report.message_id is None or (isinstance(report.message_id, str) and 0 < len(report.message_id) <= MAX_MESSAGE_ID and _encodes(report.message_id)),
            f"Message-ID {(report.message_id or '')[:200]!r} of {len(report.message_id or '')} characters")
    require(isinstance(report.recipients, tuple), "recipients are not a tuple")
    require(len(report.recipients) <= max_recipients + 1, f"{len(report.recipients)} recipients for max_recipients = {max_recipients}")
    keys = [(f.address.lower(), f.action) for f in report.recipients]
    require(len(set(keys)) == len(keys), "a recipient is reported twice with the same action")
    for facts in report.recipients:
        require(isinstance(facts, RecipientFacts), f"not RecipientFacts: {facts!r}")
        for name in _FIELDS:
            value = getattr(facts, name)
            require(value is None or isinstance(value, str), f"{name} is a {type(value).__name__}")
            if value is not None and not _encodes(value):
                raise FuzzFailure(f"{name} {value[:200]!r} cannot be written as UTF-8 (a database or a JSON log would refuse it)")
        require(facts.address and "\n" not in facts.address and "\r" not in facts.address, f"address {facts.address!r}")
        require(facts.diagnostic is None or len(facts.diagnostic) <= MAX_DIAGNOSTIC, f"diagnostic of {len(facts.diagnostic or '')} characters")
        require(facts.action is None or facts.action == facts.action.lower(), f"action {facts.action!r} not lower-cased")
        require(facts.status is None or STATUS.fullmatch(facts.status), f"status {facts.status!r}")
        require(facts.reply_code is None or (type(facts.reply_code) is int and 200 <= facts.reply_code <= 599), f"reply code {facts.reply_code!r}")
        require(not (facts.status and facts.reply_code) or str(facts.reply_code)[0] == facts.status[0],
                f"status {facts.status} beside reply code {facts.reply_code}")
        require(facts.command is None or isinstance(facts.command, Command), f"command {facts.command!r}")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_verdict(report: Report, facts: RecipientFacts, verdict: Verdict) -> None:
    """A verdict of the closed types; hard only for a dead address on strong evidence of a format we know, from an MTA that gave up."""
    require(isinstance(verdict, Verdict) and isinstance(verdict.reason, Reason) and isinstance(verdict.severity, Severity), f"verdict {verdict!r}")
    require(verdict.evidence.detector == report.detector, "the evidence names another detector")
    require((verdict.severity is Severity.NONE) == (verdict.reason in NOT_FAILURES), f"{verdict.reason} is {verdict.severity}")
    if report.kind is ReportKind.FEEDBACK:
        require(verdict.reason is Reason.FEEDBACK, f"a complaint's recipient is {verdict.reason}")
    if verdict.severity is Severity.HARD:
        require(verdict.reason in HARD_ALLOWED, f"hard for {verdict.reason}")
        require(verdict.evidence.strong and report.detector not in GUESSING_DETECTORS, f"hard on weak evidence {verdict.evidence}")
        require(facts.action != "delayed", "hard while the MTA is still retrying")


# --- structured mail ----------------------------------------------------------------------


def _table_phrases() -> list[list[str]]:
    """Each row of each reason table as the words and codes it contains, in order (a rough reading of its pattern)."""
    rows = []
    for table in TABLES.values():
        for row in table.rows:
            pattern = re.sub(r"\(\?<?[!=][^)]*\)|\\[dswbDSWB]|\{\d+(,\d*)?\}", " ", row.pattern)
            words = re.findall(r"[a-z][a-z'.]*[a-z]|\d\\?\.\d\\?\.\d+", pattern)
            if words:
                rows.append([w.replace("\\", "") for w in words])
    return rows


TABLE_PHRASES = _table_phrases()
TABLE_WORDS = sorted({w for row in TABLE_PHRASES for w in row})


@cache
def fixture_seeds() -> tuple[bytes, ...]:
    """Our own fixtures (tests/fixtures/detectors)."""
    return tuple(p.read_bytes() for p in sorted((FIXTURES / "detectors").glob("*.eml")))


@cache
def corpus_seeds() -> tuple[bytes, ...]:
    """The shared corpus's messages, read in place where it exists (never copied); none when it is absent."""
    root = shared_dir() / "corpus"
    if not root.is_dir():
        return ()
    return tuple(p.read_bytes() for p in sorted(root.rglob("*.eml")) if p.stat().st_size < 1 << 20)


@cache
def fixture_lines() -> tuple[str, ...]:
    """The distinct non-blank lines of our fixtures: the cue lines detectors key on, in their own words."""
    lines = {line.strip() for raw in fixture_seeds() for line in raw.decode("utf-8", "replace").splitlines()}
    return tuple(sorted(line for line in lines if line and len(line) < 200))


def seeds() -> tuple[bytes, ...]:
    return fixture_seeds() + corpus_seeds()


CHARSETS = ["us-ascii", "utf-8", "iso-8859-1", "iso-8859-15", "windows-1252", "shift_jis", "iso-2022-jp", "euc-kr", "koi8-r", "gb2312", "utf-16", "x-unknown", ""]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
DOMAINS = ["example.org", "example.com", "mx.example.net", "EXAMPLE.ORG", "[192.0.2.1]", "xn--bcher-kva.example", "bücher.example", "localhost", ""]
SUBJECTS = [
    "Undelivered Mail Returned to Sender", "Mail delivery failed: returning message to sender", "Delivery Status Notification (Failure)",
    "Undeliverable: hello", "failure notice", "Returned mail: see transcript for details", "Delivery Status Notification (Delay)",
    "Automatic reply: hello", "Out of Office", "Abuse report", "Warning: could not send message for past 4 hours", "Delivery has failed",
    "Please confirm your message", "hello",
]
SENDERS = [
    "Mail Delivery System <MAILER-DAEMON@mx.example.com>", "MAILER-DAEMON@example.org (Mail Delivery System)", "postmaster@example.net",
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Microsoft Outlook <postmaster@outlook.com>", "<>", "user@example.org",
    "Internet Mail Delivery <postmaster@ms1.example.org>", "System Administrator <postmaster@example.com>",
]
ACTIONS = ["failed", "delayed", "delivered", "relayed", "expanded", "FAILED", "Failed ", "failed (bad)", "", "x-unknown"]
ADDRESS_TYPES = ["rfc822", "RFC822", "utf-8", "x400", "x-local", "unknown", ""]
COMMANDS = ["RCPT TO", "MAIL FROM", "DATA", "end of DATA", "EHLO", "HELO", "connect", "CONN"]


# The builders below take a seeded ``random.Random`` (hypothesis draws the seed and the
# few choices that shape a message): drawing every character through hypothesis costs
# about 50 ms a message, which a budget of 10^5 inputs cannot afford.

LETTERS = string.ascii_letters + string.digits
TEXT_CHARS = LETTERS + " .,;:!?'\"()<>[]@-_/=+%#&*\t" + "éüßçñ日本語メール邮件ошибка"


def _text(r: Random, alphabet: str, low: int, high: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(r.randint(low, high)))


def some_words(r: Random, low: int = 0, high: int = 12) -> str:
    return " ".join(r.choice(TABLE_WORDS) if r.random() < 0.7 else _text(r, string.ascii_letters, 1, 8) for _ in range(r.randint(low, high)))


def address(r: Random) -> str:
    """A mailbox as reports write them: plain, quoted, routed, percent-hacked, X.400-ish, 8-bit, or nonsense."""
    local = r.choice(["user", "alice", "bob.smith", "postmaster", "\"john doe\"", "a+tag", "u%x@y", "ユーザー", "x" * 70, _text(r, LETTERS + ".-_+=%!", 1, 20)])
    domain = r.choice(DOMAINS + [".".join(_text(r, string.ascii_lowercase + string.digits, 1, 10) for _ in range(r.randint(1, 4)))])
    shape = r.randrange(10)
    if shape == 0:
        return f"@relay.example.net:{local}@{domain}"
    if shape == 1:
        return f"c=US;a= ;p=Example;o=Org;s={local};"
    if shape == 2:
        return f"{local}@{domain}@{r.choice(DOMAINS)}"
    if shape == 3:
        return local
    return f"{local}@{domain}"


def status_code(r: Random) -> str:
    if r.randrange(8) == 0:
        return r.choice(["", "5", "5.1", "5.1.1.1", "9.9.9", "5.1.1 (unknown)", "x.y.z", "5.10000.1", "550", "2.0.0", "4.4.7", "5.0.0"])
    return f"{r.choice('245')}.{r.randint(0, 7)}.{r.randint(0, 30)}"


def diagnostic(r: Random) -> str:
    """A remote server's words: a reply code, an enhanced code, an address, a reason table's phrase and more words."""
    parts = []
    if r.random() < 0.6:
        parts.append(str(r.choice([550, 551, 552, 553, 554, 450, 451, 452, 421, 500, 501, 530, 535, 250, r.randint(0, 999)])))
    if r.random() < 0.5:
        parts.append(status_code(r))
    if r.random() < 0.4:
        parts.append(f"<{address(r)}>:")
    parts.append(" ".join(r.choice(TABLE_PHRASES)))
    parts.append(some_words(r))
    if r.random() < 0.25:
        parts.append(f"(in reply to {r.choice(COMMANDS)} command)")
    return " ".join(p for p in parts if p)


def recipient_block(r: Random) -> str:
    """One recipient's fields of a delivery-status part, in random order, some missing, some repeated or folded."""
    fields = [f"Final-Recipient: {r.choice(ADDRESS_TYPES)}; {address(r)}", f"Action: {r.choice(ACTIONS)}", f"Status: {status_code(r)}"]
    if r.random() < 0.5:
        fields.append(f"Original-Recipient: {r.choice(ADDRESS_TYPES)};{address(r)}")
    if r.random() < 0.5:
        fields.append(f"Remote-MTA: dns; {r.choice(DOMAINS)}")
    if r.random() < 0.7:
        text = diagnostic(r)
        if r.random() < 0.3:  # folded, as Postfix folds long diagnostics
            cut = r.randint(0, len(text))
            text = text[:cut] + "\n    " + text[cut:]
        fields.append(f"Diagnostic-Code: {r.choice(['smtp', 'SMTP', 'X-Unix', 'X-Postfix', 'x-local', ''])}; {text}")
    if r.random() < 0.3:
        fields.append(r.choice(["Last-Attempt-Date: Sat, 21 Nov 2026 11:59:58 +0000", "Will-Retry-Until: tomorrow",
                                "X-Actual-Recipient: rfc822; x@example.org", "X-Display-Name: Someone", "Garbage without a colon", fields[0]]))
    r.shuffle(fields)
    if r.random() < 0.3:
        del fields[r.randrange(len(fields))]
    return "\n".join(fields) + "\n"


def delivery_status(r: Random) -> str:
    message = [f"Reporting-MTA: dns; {r.choice(DOMAINS)}"]
    if r.random() < 0.5:
        message.append("Arrival-Date: Sat, 21 Nov 2026 11:59:58 +0000")
    if r.random() < 0.3:
        message.append(f"X-Postfix-Queue-ID: {_text(r, string.ascii_uppercase + string.digits, 0, 12)}")
    separator = r.choice(["\n", "\n\n", "\n\n", "\n\n\n"])
    return "\n".join(message) + "\n" + separator + separator.join(recipient_block(r) for _ in range(r.choice([0, 1, 1, 1, 2, 3, 5])))


def report_text(r: Random) -> str:
    """The human-readable part: our fixtures' lines, addresses and diagnostics, in paragraphs."""
    lines = []
    for _ in range(r.randint(0, 12)):
        kind = r.randrange(6)
        if kind < 2:
            lines.append(r.choice(fixture_lines()))
        elif kind == 2:
            lines.append(diagnostic(r))
        elif kind == 3:
            lines.append(f"<{address(r)}>: host mx.example.org[192.0.2.1] said: {diagnostic(r)}")
        elif kind == 4:
            lines.append(f"  {address(r)}")
        else:
            lines.append(_text(r, TEXT_CHARS, 0, 80))
        if r.random() < 0.4:
            lines.append("")
    return "\n".join(lines) + "\n"


def headers_text(r: Random, returned: bool) -> str:
    if returned:
        lines = ["From: Example Wiki <wiki@example.org>", f"To: {address(r)}", f"Return-Path: <{address(r)}>"]
    else:
        lines = [f"From: {r.choice(SENDERS)}", f"To: {address(r)}"]
    subject = r.choice(SUBJECTS) if r.random() < 0.8 else some_words(r, 1, 6)
    if r.random() < 0.2:
        subject = r.choice(["=?utf-8?b?", "=?iso-8859-1?q?", "=?utf-8?q?", "=?bogus?b?", "=?iso-2022-jp?B?"]) + subject.replace(" ", "_") + "?="
    lines.append(f"Subject: {subject}")
    lines.append(f"Message-ID: <{_text(r, LETTERS + '.@', 0, 30)}>")
    extras = ["Auto-Submitted: auto-replied", "Auto-Submitted: auto-generated", "X-Failed-Recipients: user@example.org",
              "Precedence: bulk", "X-Autoreply: yes", "Return-Path: <>", "MIME-Version: 1.0", "Date: Sat, 21 Nov 2026 12:00:00 +0000",
              "X-MS-Embedded-Report: ", "Received: from mx.example.net by mx.example.com", "Content-Language: ja",
              "X-Mailer: qmail", "List-Id: <x.example.org>", f"X-Failed-Recipients: {address(r)},\n {address(r)}", "Subject: a second subject"]
    lines += r.sample(extras, r.randint(0, 4))
    return "\n".join(lines)


@dataclass
class _Part:
    content_type: str
    body: bytes
    headers: list[str] = field(default_factory=list)


def _render(part: _Part) -> bytes:
    return ("\n".join([f"Content-Type: {part.content_type}", *part.headers]) + "\n\n").encode("utf-8", "surrogateescape") + part.body


def _encoded_text(r: Random, subtype: str, text: str) -> _Part:
    """``text`` in a random charset and transfer encoding (base64 sometimes cut short)."""
    charset = r.choice(CHARSETS)
    try:
        body = text.encode(charset or "utf-8", "replace")
    except LookupError:
        body = text.encode("utf-8")
    encoding = r.choice(ENCODINGS)
    if encoding == "base64":
        body = base64.encodebytes(body)
        if r.random() < 0.15:
            body = body[: r.randint(0, len(body))]
    elif encoding == "quoted-printable":
        body = quopri.encodestring(body)
    content_type = f"text/{subtype}; charset={charset}" if charset else f"text/{subtype}"
    return _Part(content_type, body, [f"Content-Transfer-Encoding: {encoding}"] if encoding else [])


def leaf(r: Random) -> _Part:
    kind = r.choice(["text", "text", "html", "status", "status", "headers", "feedback", "binary"])
    if kind in ("text", "html"):
        text = report_text(r)
        if kind == "html":
            text = "<html><body><p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p></body></html>"
        return _encoded_text(r, "plain" if kind == "text" else "html", text)
    if kind == "status":
        return _Part(r.choice(["message/delivery-status", "message/delivery-status", "message/global-delivery-status", "text/plain"]), delivery_status(r).encode("utf-8"))
    if kind == "headers":
        return _Part(r.choice(["text/rfc822-headers", "message/rfc822-headers", "text/plain"]), (headers_text(r, True) + "\n").encode("utf-8"))
    if kind == "feedback":
        fields = [f"Feedback-Type: {r.choice(['abuse', 'fraud', 'opt-out', 'not-spam', 'virus', 'x-other', ''])}", "User-Agent: Example-FBL/1.0",
                  f"Version: {r.choice(['1', '0.1', 'x'])}", f"Original-Rcpt-To: {address(r)}", f"Original-Mail-From: <{address(r)}>"]
        r.shuffle(fields)
        return _Part("message/feedback-report", ("\n".join(fields) + "\n").encode("utf-8"))
    return _Part(r.choice(["application/octet-stream", "image/png", "application/json"]), r.randbytes(r.randint(0, 200)))


def mime_tree(r: Random, depth: int = 0) -> _Part:
    """A random MIME tree: multiparts (boundaries quoted or not, closed or not, wrong) and returned copies around leaves."""
    kind = r.random() if depth < 4 else 1.0
    if kind < 0.35:
        subtype = r.choice(["report; report-type=delivery-status", "report; report-type=delivery-status", "report; report-type=feedback-report",
                            "mixed", "alternative", "related", "report"])
        boundary = r.choice(["B", "=_boundary", "----=_Part_0_1.2", "a b", "x" * 80, _text(r, LETTERS + "'()+_,-./:=?", 1, 20)])
        out = [r.choice([b"", b"This is a multi-part message in MIME format.\n\n"])]
        for _ in range(r.randint(0, 4)):
            out.append(b"--" + boundary.encode() + b"\n" + _render(mime_tree(r, depth + 1)) + b"\n")
        out.append(b"--" + boundary.encode() + r.choice([b"--", b"--", b"", b"-", b"--  "]) + b"\n")  # the close delimiter, or none, or a wrong one
        if r.random() < 0.3:
            out.append(b"epilogue\n")
        param = r.choice([f'boundary="{boundary}"', f"boundary={boundary}"])
        if r.random() < 0.1:
            param = r.choice(["", "boundary=", 'boundary="unterminated', "boundary=other"])
        return _Part(f"multipart/{subtype}; {param}", b"".join(out))
    if kind < 0.5:
        inner = mime_tree(r, depth + 1)
        content_type = r.choice(["message/rfc822", "message/rfc822", "message/global", "message/rfc822; x=y"])
        return _Part(content_type, headers_text(r, True).encode("utf-8") + b"\n" + _render(inner))
    return leaf(r)


def line_ends(r: Random, raw: bytes) -> bytes:
    ends = r.choice(["lf", "lf", "crlf", "crlf", "cr", "mixed"])
    if ends == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if ends == "cr":
        return raw.replace(b"\n", b"\r")
    if ends == "mixed":
        return b"".join(line + r.choice([b"\n", b"\r\n"]) for line in raw.split(b"\n"))
    return raw


def build_mail(r: Random) -> bytes:
    """A bounce-, complaint- or auto-reply-shaped message with a random MIME tree, encodings and line ends."""
    raw = (headers_text(r, False) + "\n").encode("utf-8") + _render(mime_tree(r))
    if r.random() < 0.15:  # an mbox of two
        raw = b"From MAILER-DAEMON Sat Nov 21 12:00:00 2026\n" + raw + b"\nFrom MAILER-DAEMON Sat Nov 21 12:00:01 2026\n" + r.choice(fixture_seeds())
    return line_ends(r, raw)


randoms = st.randoms(use_true_random=True)


def mail() -> st.SearchStrategy[bytes]:
    """Structured mail, built from a seed hypothesis draws (:func:`build_mail`)."""
    return randoms.map(build_mail)


# --- mutations ------------------------------------------------------------------------

TOKENS = [
    b"\n", b"\r\n", b"\r", b"\n\n", b"--", b"\n--", b"--\n", b"\x00", b"\xff", b"\xc3", b"\xe3\x81", b"=?utf-8?b?", b"=?iso-2022-jp?q?", b"?=",
    b"=\n", b"=3D", b"=", b'"', b"<", b">", b"@", b"(", b")", b";", b":", b" ", b"\t", b"\x1b$B", b"<br>", b"<p",
    b"Content-Type: multipart/mixed; boundary=", b"Content-Type: message/rfc822\n\n", b"Content-Type: message/delivery-status\n\n",
    b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: quoted-printable\n", b"; charset=utf-16", b"\n\t",
    b"Final-Recipient: rfc822; ", b"Status: 5.1.1\n", b"Action: failed\n", b"Diagnostic-Code: smtp; 550 ", b"X-Failed-Recipients: ",
    b"\nFrom MAILER-DAEMON Sat Nov 21 12:00:00 2026\n", b"Subject: Undelivered Mail Returned to Sender\n", b"Feedback-Type: abuse\n",
]


def mutate(r: Random, data: bytes) -> bytes:
    """``data`` with random damage: bits flipped, bytes set, tokens inserted, ranges deleted, repeated or spliced from another seed, cut short."""
    out = bytearray(data)
    for _ in range(r.randint(1, 10)):
        op = r.choice(["flip", "set", "token", "token", "delete", "repeat", "splice", "truncate", "case", "ends"])
        at = r.randint(0, len(out))
        span = r.randint(1, 400)
        if op == "flip" and at < len(out):
            out[at] ^= 1 << r.randrange(8)
        elif op == "set" and at < len(out):
            out[at] = r.randrange(256)
        elif op == "token":
            out[at:at] = r.choice(TOKENS)
        elif op == "delete":
            del out[at : at + span]
        elif op == "repeat":  # a range repeated: many recipients, parts or lines out of one
            out[at:at] = bytes(out[at : at + span]) * r.randint(2, 50)
        elif op == "splice":
            other = r.choice(seeds())
            start = r.randint(0, len(other))
            out[at:at] = other[start : start + span * 4]
        elif op == "truncate":
            del out[at:]
        elif op == "case":
            out[at : at + span] = bytes(out[at : at + span]).swapcase()
        elif op == "ends":
            out = bytearray(bytes(out).replace(b"\r\n", b"\n").replace(b"\n", r.choice([b"\r\n", b"\r", b"\n\n"])))
    return bytes(out)


def mutated(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A message of ``base`` damaged by :func:`mutate`."""
    return st.tuples(base, randoms).map(lambda pair: mutate(pair[1], pair[0]))


def seed_messages() -> st.SearchStrategy[bytes]:
    return st.sampled_from(seeds())


def parse_inputs() -> st.SearchStrategy[bytes]:
    """Every kind of parse input: structured mail, raw bytes, damaged seeds, damaged structured mail."""
    return st.one_of(mail(), st.binary(max_size=4096), mutated(seed_messages()), mutated(mail()))


# --- the VERP target --------------------------------------------------------------------

ACCEPT_TIME = 259200
CLOCK_SKEW = 300
# Characters a mutation puts in: the address alphabet of both formats, and look-alikes that
# lower-case or casefold onto it (KELVIN SIGN, LONG S, dotless i, fullwidth letters).
MUTATION_CHARS = string.ascii_letters + string.digits + "-.@+/_=?% \t<>\"" + "\u212a\u017f\u0131\u0130\uff41\uff10\u00df\x00"


@dataclass(frozen=True)
class Signed:
    """An address we signed, the configuration that signed it, and what it says."""

    address: str
    format: VerpFormat
    tenant: str
    user: int
    sent_at: int


class VerpFixture:
    """A ``VerpSet`` of a native default and two tenants of their own (one native, one MediaWiki)."""

    DEFAULT = VerpConfig(VerpFormat.VERPD, "wiki", VERP_DOMAIN, "sha256", (Secret(b"default-secret-0"), Secret(b"older-secret")), ACCEPT_TIME, CLOCK_SKEW)
    OWN = VerpConfig(VerpFormat.VERPD, "wiki", VERP_DOMAIN, "sha1", (Secret(b"dewiki-only"),), ACCEPT_TIME, CLOCK_SKEW)
    MEDIAWIKI = VerpConfig(VerpFormat.MEDIAWIKI, "wiki", "Bounces.Example.NET", "md5", (Secret(b"mw-secret"),), ACCEPT_TIME, CLOCK_SKEW)

    def __init__(self) -> None:
        self.verps = VerpSet(self.DEFAULT, {"dewiki": self.OWN, "mw": self.MEDIAWIKI})
        self.signers = {None: Verp(self.DEFAULT), "dewiki": Verp(self.OWN), "mw": Verp(self.MEDIAWIKI)}
        self.formats = {None: VerpFormat.VERPD, "dewiki": VerpFormat.VERPD, "mw": VerpFormat.MEDIAWIKI}

    def sign(self, tenant: str, user: int, sent_at: int) -> Signed:
        owner = tenant if tenant in self.signers else None
        return Signed(self.signers[owner].encode(tenant, user, sent_at), self.formats[owner], tenant, user, sent_at)


VERP = VerpFixture()
LOWER_DIGITS = string.ascii_lowercase + string.digits


def native_tenant(r: Random) -> str:
    middle = _text(r, LOWER_DIGITS + ".", 0, 10)
    return r.choice(LOWER_DIGITS) + (middle + r.choice(LOWER_DIGITS) if r.random() < 0.8 else "")


verp_tenants = st.sampled_from(["enwiki", "dewiki", "mw", "a", "x.y", "0"]) | randoms.map(native_tenant)
verp_times = st.integers(min_value=ACCEPT_TIME, max_value=MAX_TIME - 1 - CLOCK_SKEW)


@st.composite
def signed_addresses(draw: st.DrawFn) -> Signed:
    return VERP.sign(draw(verp_tenants), draw(st.integers(0, 2**63 - 1) | st.integers(0, 1000)), draw(verp_times))


@st.composite
def mutated_address(draw: st.DrawFn, signed: Signed) -> str:
    """``signed.address`` with a few characters replaced, inserted, deleted, swapped, re-cased, or segments moved."""
    text = signed.address
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "swap", "case", "segments", "affix"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "replace":
            text = text[:at] + draw(st.sampled_from(MUTATION_CHARS)) + text[at + 1 :]
        elif op == "insert":
            text = text[:at] + draw(st.sampled_from(MUTATION_CHARS)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "swap" and at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif op == "case":
            text = text[:at] + text[at:].swapcase()
        elif op == "segments":
            local, _, domain = text.rpartition("@")
            parts = draw(st.permutations(local.split("-")))
            text = "-".join(parts) + "@" + domain
        else:
            text = draw(st.sampled_from(["<", "x", " ", "wiki-", ""])) + text + draw(st.sampled_from([">", ".", "@x", "-x", " ", "\n", ""]))
    return text


def equivalent(signed: Signed, address: str) -> bool:
    """Whether ``address`` is ``signed.address`` up to the letter case its format ignores (the domain; the native local part)."""
    if not address.isascii():
        return False
    local, at, domain = address.rpartition("@")
    original_local, _, original_domain = signed.address.rpartition("@")
    if not at or domain.lower() != original_domain.lower():
        return False
    return local.lower() == original_local.lower() if signed.format is VerpFormat.VERPD else local == original_local


def check_verify(address: str, now: int, signed: Signed | None = None) -> VerpAddress | VerpError:
    """Verify ``address``: a VerpError of a known kind, or, only for the signed address up to case, what was signed."""
    try:
        decoded = VERP.verps.verify(address, now)
    except VerpError as e:
        require(isinstance(e.kind, VerpErrorKind), f"VerpError without a kind: {e!r}")
        if signed is not None and equivalent(signed, address):
            offset = now - signed.sent_at
            require(offset >= ACCEPT_TIME or -offset > CLOCK_SKEW, f"{address!r} (signed, {offset} s old) refused: {e}")
            require(e.kind is (VerpErrorKind.EXPIRED if offset >= ACCEPT_TIME else VerpErrorKind.FUTURE), f"{address!r} refused as {e.kind}")
        return e
    require(isinstance(decoded, VerpAddress), f"verify returned {decoded!r}")
    require(signed is not None and equivalent(signed, address), f"{address!r} verified as {decoded} (signed: {signed})")
    assert signed is not None
    require((decoded.tenant, decoded.user, decoded.sent_at) == (signed.tenant, signed.user, datetime.fromtimestamp(signed.sent_at, UTC)),
            f"{address!r} decoded as {decoded}, signed for {signed}")
    require(decoded.local_part == signed.address.rpartition("@")[0] if signed.format is VerpFormat.MEDIAWIKI else decoded.local_part == signed.address.rpartition("@")[0].lower(),
            f"local part {decoded.local_part!r}")
    offset = now - signed.sent_at
    require(-CLOCK_SKEW <= offset < ACCEPT_TIME, f"{address!r} verified {offset} s after it was sent")
    return decoded


def address_shaped(r: Random) -> str:
    """PREFIX-TENANT-USER-TIME-TAG@domain with random segments: reaches the signature check."""
    segments = [r.choice(["wiki", "WIKI", "wiki2", ""]), native_tenant(r), _text(r, LOWER_DIGITS, 1, 14), _text(r, LOWER_DIGITS, 1, 14),
                _text(r, LETTERS + "+/=", 0, 20)]
    if r.random() < 0.2:
        segments.insert(r.randint(0, 5), _text(r, LETTERS, 0, 5))
    return "-".join(segments) + "@" + r.choice([VERP_DOMAIN, VERP_DOMAIN.upper(), "bounces.example.net", "Bounces.Example.NET", "example.org", ""])


address_like = st.one_of(
    st.text(max_size=120),
    st.text(MUTATION_CHARS, max_size=90).map(lambda s: s + "@" + VERP_DOMAIN),
    randoms.map(address_shaped),
)


@st.composite
def verp_inputs(draw: st.DrawFn) -> tuple[str, int, Signed | None]:
    """(address, now, what was signed or None): arbitrary strings, and mutated or intact signed addresses at a random time."""
    if draw(st.integers(0, 3)) == 0:
        return draw(address_like), draw(st.integers(0, MAX_TIME)), None
    signed = draw(signed_addresses())
    address = draw(mutated_address(signed)) if draw(st.integers(0, 4)) else signed.address
    offset = draw(st.integers(-CLOCK_SKEW, ACCEPT_TIME - 1) | st.integers(-2 * ACCEPT_TIME, 2 * ACCEPT_TIME))
    return address, signed.sent_at + offset, signed


# --- the LMTP target --------------------------------------------------------------------

# RFC 5321 §4.2: Reply-code [ SP / "-" textstring ] CRLF, textstring = 1*(%d09 / %d32-126)
REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])([ -])([\t\x20-\x7e]*)\r\n")
ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?: |$)")
MAX_REPLY_LINE = 512  # RFC 5321 §4.5.3.1.5, with the CRLF
# aiosmtpd answers an unknown command by echoing it; verpd.lmtp makes that line printable
# and at most 512 octets (found by this fuzzing), so no reply line is exempt from the rule.
EXCHANGE_LIMIT = 20.0  # seconds for any one reply: only a hang trips it on a loaded box
# Codes aiosmtpd itself answers a RCPT with (syntax and sequence errors): they carry no enhanced code.
ENGINE_RCPT_CODES = frozenset({500, 501, 502, 503, 530, 553, 555})


# aiosmtpd parses a MAIL or RCPT address with CPython's low-level get_angle_addr /
# get_addr_spec and catches only HeaderParseError, but they raise IndexError on "<", "a@",
# "<a@" and the like (found by this fuzzing): verpd.lmtp reads that as a malformed address,
# 553 5.1.3, never our 451. crashes_address_parser names such lines for the tests.


def crashes_address_parser(line: bytes) -> bool:
    """Whether ``line`` is a MAIL or RCPT command whose address makes aiosmtpd's ``_getaddr`` raise IndexError."""
    command, _, arg = line.rstrip(b"\r\n").partition(b" ")
    keyword = {b"MAIL": "FROM:", b"RCPT": "TO:"}.get(command.upper())
    text = arg.strip().decode("utf-8", "surrogateescape")
    if keyword is None or text[: len(keyword)].upper() != keyword:
        return False
    text = text[len(keyword) :].strip()
    if not text:
        return False
    try:
        (get_angle_addr if text.lstrip().startswith("<") else get_addr_spec)(text)
    except IndexError:
        return True
    except HeaderParseError:
        pass
    return False


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.lines[0]


class Conn:
    """A blocking LMTP client socket that checks every reply line it reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(EXCHANGE_LIMIT)
        self.buffer = b""
        self.reset = False  # a write or read failed with a reset: an unread goodbye may be lost

    @classmethod
    def connect(cls, port: int) -> Conn:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=EXCHANGE_LIMIT))

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.reset = True  # the server closed first (after a 421 not read yet): what it sent may be lost

    def _line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError as e:
                raise FuzzFailure(f"no reply within {EXCHANGE_LIMIT} s") from e
            except ConnectionResetError:
                self.reset, chunk = True, b""
            if not chunk:
                require(not self.buffer, f"the connection closed in the middle of a reply line: {self.buffer[:200]!r}")
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def reply(self) -> Reply | None:
        """The next reply (all its lines), or None once the server has closed the connection."""
        lines: list[str] = []
        code = None
        while True:
            line = self._line()
            if line is None:
                require(not lines, "the connection closed in the middle of a multi-line reply")
                return None
            found = REPLY_LINE.fullmatch(line)
            if found and len(line) <= MAX_REPLY_LINE:
                line_code, last, text = int(found[1]), found[2] == b" ", found[3].decode("ascii")
            else:
                raise FuzzFailure(f"malformed reply line of {len(line)} octets: {line[:200]!r}")
            require(code is None or line_code == code, f"a multi-line reply changes its code: {line!r}")
            code = line_code
            lines.append(text)
            if last:
                return Reply(code, tuple(lines))

    def drain(self) -> list[Reply]:
        """Every reply up to the end of the connection (after the client has shut down its side)."""
        replies = []
        while (reply := self.reply()) is not None:
            replies.append(reply)
        return replies

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Burst:
    """Command lines sent in one write (RFC 2920), the last possibly DATA; ``body`` is sent if DATA gets 354."""

    lines: tuple[bytes, ...]
    body: bytes = b""


@dataclass(frozen=True)
class Raw:
    """Arbitrary bytes; the session ends after them (the client shuts down its side and reads to the end)."""

    data: bytes


@dataclass
class Expect:
    """What the client knows of the addresses: the valid ones, and the forged ones (no RCPT of them may get 250)."""

    valid: frozenset[str]
    forged: frozenset[str] = frozenset()


def verb_of(line: bytes) -> str:
    return line.split(b" ", 1)[0].rstrip(b"\r\n").upper().decode("ascii", "replace")


def wire_body(body: bytes) -> bytes:
    """``body`` as a correct client sends it: dot-stuffed per CRLF line (bare LF or CR are data), then the final dot."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    lines = body.split(b"\r\n")[:-1] if body else []
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


SYNC = b"NOOP\r\n"  # after a message: its reply "250 OK" ends the DATA replies (verpd's carry an enhanced code)


@dataclass
class Transcript:
    """What one session exchanged, for the failure message and the counts."""

    sent: list[bytes] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    deliveries: int = 0


def check_rcpt_reply(line: bytes, reply: Reply, expect: Expect, in_transaction: bool, accepted: int, max_recipients: int) -> None:
    address = line.partition(b":")[2].strip().partition(b">")[0].lstrip(b"<").decode("utf-8", "surrogateescape")
    exact = line.rstrip(b"\r\n") == b"RCPT TO:<" + address.encode("utf-8", "surrogateescape") + b">"
    if reply.code not in ENGINE_RCPT_CODES:
        require(ENHANCED.match(reply.text), f"RCPT reply without an enhanced status code: {reply}")
    if reply.code == 250:
        require(address not in expect.forged, f"a forged address was accepted: {line!r}")
        require(in_transaction and accepted < max_recipients, f"RCPT accepted outside a transaction or beyond max_recipients: {line!r}")
    elif exact and address in expect.valid and in_transaction and accepted < max_recipients:
        raise FuzzFailure(f"a valid VERP address was refused: {line!r} -> {reply}")


class LmtpHarness:
    """A verpd daemon (real Pipeline, Store on SQLite in ``directory``) serving LMTP on a loopback port from a thread of its own.

    Errors the daemon logs (``session.error``, ``rcpt.failed``, ``data.failed``: an
    exception that reached the intake) are collected in :attr:`errors`.
    """

    MAX_RECIPIENTS = 4
    MAX_MESSAGE_SIZE = 32 * 1024

    def __init__(self, directory: Path) -> None:
        self.clock = FakeClock()
        self.config: Config = make_config(directory, server={"max_recipients": self.MAX_RECIPIENTS, "max_message_size": f"{self.MAX_MESSAGE_SIZE}B"},
                                          log={"level": "info"}, policy={"act": False})
        self.valid = [verp_address(self.config, self.clock, user=u) for u in range(8)]
        self.errors: list[dict[str, Any]] = []
        self.figures: dict[str, float] = {"deliveries": 0, "replies": 0}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-lmtp", daemon=True)

    def _collect(self, logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if method in ("error", "exception", "critical"):
            self.errors.append(dict(event))
        return event

    def __enter__(self) -> LmtpHarness:
        from verpd import log as verpd_log
        from verpd.daemon import Daemon

        # Logging as ``verpd serve`` sets it up (JSON lines, rate-limited), into nothing, with
        # the errors collected first: under pytest the log audit (tests/logaudit.py) still reads every line.
        root = logging.getLogger()
        self._root = root.handlers[:], root.level
        self._sink = open(os.devnull, "w")
        verpd_log.configure(self.config.log, self._sink, key=verpd_log.pseudonym_key(self.config.verp.secrets[0].value))
        structlog.configure(processors=[self._collect, *structlog.get_config()["processors"]])
        self.thread.start()
        self.daemon = Daemon(self.config, clock=self.clock)
        asyncio.run_coroutine_threadsafe(self.daemon.start(), self.loop).result(60)
        self.port = self.daemon.bound()[0].port
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.daemon.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)
        self.loop.close()
        structlog.reset_defaults()
        logging.getLogger().handlers[:], level = self._root
        logging.getLogger().setLevel(level)
        self._sink.close()

    def expect(self) -> Expect:
        forged = set()
        for address in self.valid:
            local, _, domain = address.rpartition("@")
            forged |= {local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain, local.replace("-enwiki-", "-dewiki-") + "@" + domain}
        return Expect(frozenset(self.valid), frozenset(forged))

    def run_session(self, steps: list[Burst | Raw]) -> Transcript:
        """One connection: LHLO, ``steps``, then (if still open) NOOP to prove the session is in step, and QUIT."""
        require(self.thread.is_alive(), "the daemon's thread has died")
        errors_before = len(self.errors)
        transcript = Transcript()
        conn = Conn.connect(self.port)
        try:
            greeting = conn.reply()
            require(greeting is not None and greeting.code == 220, f"greeting {greeting}")
            self._session(conn, steps, transcript)
        except FuzzFailure as e:
            raise FuzzFailure(f"{e}\n  sent: {[s[:300] for s in transcript.sent]}\n  replies: {[(r.code, r.text[:80]) for r in transcript.replies]}") from None
        finally:
            conn.close()
            self.figures["deliveries"] += transcript.deliveries
            self.figures["replies"] += len(transcript.replies)
        errors = [e for e in self.errors[errors_before:] if e.get("event") != "log.suppressed"]  # (a count of lines already seen here)
        require(not errors, f"the daemon logged an error: {errors}\n  sent: {[s[:300] for s in transcript.sent]}")
        return transcript

    def _session(self, conn: Conn, steps: list[Burst | Raw], transcript: Transcript) -> None:
        expect = self.expect()
        in_transaction, accepted = False, 0
        enhanced = False  # whether LHLO advertised ENHANCEDSTATUSCODES: then RFC 2034 wants a code in every 2xx/4xx/5xx reply

        def read(after_lhlo: bool = False) -> Reply | None:
            reply = conn.reply()
            if reply is not None:
                transcript.replies.append(reply)
                if enhanced and not after_lhlo and reply.code // 100 in (2, 4, 5):
                    require(ENHANCED.match(reply.text), f"ENHANCEDSTATUSCODES was advertised, but: {reply}")
            return reply

        def closing(reply: Reply) -> bool:
            """Whether ``reply`` says goodbye (QUIT's 221, a limit's 421: server.max_errors, ...); if so the connection must close."""
            if reply.code in (221, 421) or reply.text.endswith("goodbye."):
                require(conn.reply() is None, f"the server kept talking after saying goodbye with {reply}")
                return True
            return False

        for step in steps:
            if isinstance(step, Raw):
                transcript.sent.append(step.data)
                conn.send(step.data + b"\r\n.\r\nQUIT\r\n")
                with _suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_WR)
                transcript.replies += conn.drain()
                return
            transcript.sent.append(b"".join(step.lines))
            conn.send(b"".join(step.lines))
            for line in step.lines:
                verb = verb_of(line)
                reply = read(after_lhlo=verb == "LHLO")
                if reply is None:
                    require(conn.reset, "the server closed the connection without a goodbye")
                    return
                if closing(reply):  # a 421 may answer any command (or follow the reply of the one before)
                    return
                if verb == "LHLO" and reply.code == 250:
                    enhanced = "ENHANCEDSTATUSCODES" in (text.upper() for text in reply.lines)
                if verb == "RCPT":
                    check_rcpt_reply(line, reply, expect, in_transaction, accepted, self.MAX_RECIPIENTS)
                    accepted += reply.code == 250
                elif verb == "MAIL" and reply.code == 250:
                    in_transaction, accepted = True, 0
                elif verb in ("RSET", "LHLO") and reply.code == 250:
                    in_transaction, accepted = False, 0
                elif verb == "DATA" and reply.code == 354:
                    require(accepted > 0, "DATA got 354 without an accepted recipient")
                    transcript.sent.append(step.body)
                    conn.send(wire_body(step.body) + SYNC)
                    replies = []
                    while (reply := read()) is not None and reply.code != 421 and not (reply.code == 250 and reply.lines == ("OK",)):
                        replies.append(reply)
                    if reply is None:
                        require(conn.reset, "the server closed the connection after a message without a goodbye")
                        return
                    require(len(replies) == accepted, f"{len(replies)} replies after DATA for {accepted} accepted recipients: {replies}")
                    for r in replies:
                        require(r.code in (250, 451, 452, 552, 554) and ENHANCED.match(r.text), f"DATA reply {r}")
                    transcript.deliveries += 1
                    in_transaction, accepted = False, 0
                elif verb == "DATA":
                    require(accepted == 0 or reply.code != 503, f"DATA refused with accepted recipients: {reply}")
                if closing(reply):
                    return
        conn.send(SYNC)
        reply = read()
        require(reply is not None or conn.reset, "the server closed the connection without a goodbye")
        if reply is None:
            return
        assert reply is not None
        if closing(reply):  # a 421 after the last error reply of the steps
            return
        require(reply.code == 250 and reply.lines == ("OK",), f"the session is out of step: NOOP got {reply}")
        conn.send(b"QUIT\r\n")
        reply = read()
        require(reply is not None and reply.code == 221, f"QUIT got {reply}")

    def deliver_legit(self, user: int = 99) -> None:
        """A well-behaved MTA still delivers a bounce: RCPT 250 2.1.5, DATA 250 2.0.0."""
        address = verp_address(self.config, self.clock, user=user)
        transcript = self.run_session([Burst((b"LHLO mx.example.org\r\n", b"MAIL FROM:<>\r\n", f"RCPT TO:<{address}>\r\n".encode(), b"DATA\r\n"),
                                             dsn(address, message_id=f"<legit.{time.monotonic_ns()}@mx.example.com>"))])
        codes = [r.code for r in transcript.replies]
        require(codes == [250, 250, 250, 354, 250, 250, 250, 221] and transcript.replies[4].text.startswith("2.0.0"), f"a legitimate delivery got {transcript.replies}")


@contextmanager
def _suppress(*errors: type[BaseException]) -> Iterator[None]:
    try:
        yield
    except errors:
        pass


# The strategies of LMTP sessions; they draw recipients from ``valid`` (the harness's addresses).
PARAMS = [b"", b" SIZE=100", b" SIZE=999999999", b" BODY=8BITMIME", b" BODY=BINARYMIME", b" SMTPUTF8", b" RET=HDRS ENVID=x",
          b" NOTIFY=FAILURE,DELAY", b" ORCPT=rfc822;user@example.org", b" X=\xff", b" =", b" SIZE=", b"  "]
DOT_LINES = [b".", b"..", b". ", b".\n", b"\n.\n", b"\r.\r", b".\r", b"...", b"\x00.", b" .", b".x"]


def _rcpt_targets(valid: list[str]) -> st.SearchStrategy[bytes]:
    forged = [v[:-len(VERP_DOMAIN) - 2] + ("a" if v[-len(VERP_DOMAIN) - 2] != "a" else "b") + "@" + VERP_DOMAIN for v in valid]
    return st.one_of(
        st.sampled_from(valid).map(str.encode),
        st.sampled_from(valid).map(lambda v: v.upper().encode()),
        st.sampled_from(forged).map(str.encode),
        st.sampled_from([b"", b"postmaster@" + VERP_DOMAIN.encode(), b"user@example.org", b"\xff@" + VERP_DOMAIN.encode(), b"a" * 600 + b"@x",
                         "wiki-enwiki-ユーザー-1-x@bounces.example.org".encode()]),
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    )


def lmtp_command(valid: list[str]) -> st.SearchStrategy[bytes]:
    """One command line, with its line end (CRLF mostly, sometimes a bare LF)."""
    end = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"])
    command = st.one_of(
        st.just(b"MAIL FROM:<>"),
        st.tuples(st.sampled_from([b"MAIL FROM:<>", b"MAIL FROM:<mailer-daemon@example.com>", b"mail from: <>", b"MAIL FROM:", b"MAIL FROM:<\x00>"]),
                  st.sampled_from(PARAMS)).map(b"".join),
        st.tuples(st.sampled_from([b"RCPT TO:<", b"rcpt to:<", b"RCPT TO: <"]), _rcpt_targets(valid), st.just(b">"), st.sampled_from(PARAMS)).map(b"".join),
        st.sampled_from([b"RCPT TO:<%s>" % v.encode() for v in valid]),
        st.sampled_from([b"RSET", b"NOOP", b"NOOP x", b"VRFY postmaster", b"HELP", b"LHLO mx.example.org", b"LHLO", b"EHLO x", b"HELO x",
                         b"STARTTLS", b"AUTH PLAIN", b"BDAT 10", b"", b" ", b"\x00", b"\xff\xfe", b"NOOP \xff", b"X" * 600, b"DATA x",
                         b"MAIL FROM:<", b"RCPT TO:a@", b"RCPT TO:<a@"]),
        st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    )
    return st.tuples(command, end).map(b"".join)


@st.composite
def message_bodies(draw: st.DrawFn, valid: list[str]) -> bytes:
    body = draw(st.one_of(
        st.sampled_from(valid).map(dsn),
        mail(),
        st.binary(max_size=2000),
        mutated(st.sampled_from(valid).map(dsn)),
        st.sampled_from(fixture_seeds()),
        st.sampled_from([b"", b"\r\n", b"x" * (LmtpHarness.MAX_MESSAGE_SIZE + 10), (b"y" * 70 + b"\r\n") * 600]),
    ))
    for _ in range(draw(st.integers(0, 3))):  # lines a client must dot-stuff, or that only look like the end
        at = draw(st.integers(0, len(body)))
        body = body[:at] + b"\r\n" + draw(st.sampled_from(DOT_LINES)) + b"\r\n" + body[at:]
    return body


@st.composite
def lmtp_sessions(draw: st.DrawFn, valid: list[str]) -> list[Burst | Raw]:
    """LHLO, then bursts of commands (a burst may end with DATA and a message), maybe raw bytes at the end."""
    steps: list[Burst | Raw] = [Burst((b"LHLO mx.example.org\r\n",))] if draw(st.integers(0, 9)) else []
    for _ in range(draw(st.integers(0, 5))):
        lines = draw(st.lists(lmtp_command(valid), max_size=6))
        if draw(st.booleans()):  # a well-formed transaction around them
            lines = [b"MAIL FROM:<>\r\n", *[b"RCPT TO:<%s>\r\n" % v.encode() for v in draw(st.lists(st.sampled_from(valid), min_size=1, max_size=6))], *lines]
        lines = [line for line in lines if verb_of(line) != "DATA"]
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from([b"DATA\r\n", b"data\r\n", b"DATA\n"])))
        if draw(st.integers(0, 2)) == 0:  # sent one line per write instead of pipelined
            steps += [Burst((line,)) for line in lines[:-1]]
            lines = lines[-1:]
        body = draw(message_bodies(valid)) if lines and verb_of(lines[-1]) == "DATA" else b""
        steps.append(Burst(tuple(lines), body))
    if draw(st.integers(0, 4)) == 0:
        steps.append(Raw(draw(st.binary(max_size=3000) | mutated(st.sampled_from(valid).map(lambda v: b"MAIL FROM:<>\r\nRCPT TO:<%s>\r\nDATA\r\n" % v.encode() + dsn(v))))))
    return steps


# --- linearity and memory ---------------------------------------------------------------

LINEAR_TARGET = 24_000  # bytes of the small message: a few ms of parsing, enough to time
# Peak traced memory per input byte. Shapes dense in short lines and recipients measured up
# to about 20 (a str per line and per field, RecipientFacts per recipient).
MEMORY_FACTOR = 32
MEMORY_BASE = 2 << 20  # plus what any message costs (a report, the regular expressions' state)
# Beyond that, parsing may cost at most this times what the email package's own reading of
# the message costs. mime builds the email package's tree (a Message per part and header
# block, a defect object per stray continuation line), and that costs 60 to 250 times the
# size of a message made of nothing else, the email package's as ours (up to 1.7 times
# its: mime's header index per part). Measured, with the worst shapes, in the report of
# issue 10's fuzzing; what grows beyond that is a bug of ours.
EMAIL_FACTOR = 2.5
MEMORY_SIZES = (64_000, 1_000_000)  # bytes of the large messages the memory target builds from shapes


@st.composite
def shapes(draw: st.DrawFn) -> tuple[str, Callable[[int], bytes]]:
    """(name, build): a random unit (a recipient block, a text line, a header, a MIME part, random bytes) repeated n times in a random frame."""
    unit_kind = draw(st.sampled_from(["recipient", "text", "header", "part", "bytes", "message"]))
    r = draw(randoms)
    if unit_kind == "recipient":
        unit = (recipient_block(r) + "\n").encode("utf-8")
    elif unit_kind == "text":
        unit = report_text(r).encode("utf-8")
    elif unit_kind == "header":
        unit = r.choice([b"X-Failed-Recipients: ", b"To: ", b"Received: ", b" ", b"\t"]) + address(r).encode("utf-8") + r.choice([b",\n ", b"\n", b" ", b"("])
    elif unit_kind == "part":
        unit = b"--B\n" + _render(leaf(r)) + b"\n"
    elif unit_kind == "message":
        unit = b"\nFrom MAILER-DAEMON Sat Nov 21 12:00:00 2026\n" + build_mail(r)
    else:
        unit = r.randbytes(r.randint(1, 200))
    frame = draw(st.sampled_from(["dsn", "text", "headers", "multipart", "bare"]))
    head = b"From: Mail Delivery System <MAILER-DAEMON@example.com>\nSubject: Undelivered Mail Returned to Sender\n"

    def build(n: int) -> bytes:
        body = unit * n
        if frame == "dsn":
            return (head + b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: text/plain\n\nDelivery failed.\n"
                    b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n" + body + b"\n--B--\n")
        if frame == "text":
            return head + b"\n" + body
        if frame == "headers":
            return head + b"X-Long: " + body.replace(b"\n", b"\n ") + b"\n\nbody\n"
        if frame == "multipart":
            return head + b"Content-Type: multipart/mixed; boundary=B\n\n" + body + b"--B--\n"
        return body

    return f"{unit_kind}-in-{frame}", build


def parse_seconds(raw: bytes) -> float:
    started = time.thread_time()
    parse(raw)
    return time.thread_time() - started


def check_linear(build: Callable[[int], bytes]) -> float:
    """Parsing the shape at 8 n takes well under 64 times as long as at n (MAX_RATIO, as tests/test_parse_linear.py). Returns the ratio."""
    unit = max(1, len(build(2)) - len(build(1)))
    n = max(1, LINEAR_TARGET // unit)
    small, large = build(n), build(8 * n)
    best_small = best_large = float("inf")
    with gc_paused(), time_limit(120, "the linearity check"):
        for runs in (2, 2):  # alternated, so that a slow moment of the machine weighs on both sizes
            for _ in range(runs):
                best_small = min(best_small, parse_seconds(small))
            best_large = min(best_large, parse_seconds(large))
    ratio = best_large / max(best_small, 1e-6)
    require(ratio < MAX_RATIO, f"{ratio:.1f} times as long for 8 times the input ({len(small)} -> {len(large)} bytes)")
    return ratio


def check_memory(raw: bytes) -> int:
    """The traced peak while parsing ``raw`` stays under MEMORY_FACTOR x its size (plus MEMORY_BASE), or else
    under EMAIL_FACTOR x the email package's own peak reading it. Returns the peak."""
    peak = traced_peak(check_parse, raw)
    if peak > MEMORY_FACTOR * len(raw) + MEMORY_BASE:
        baseline = traced_peak(email_tree, raw)
        require(peak <= EMAIL_FACTOR * baseline + MEMORY_BASE,
                f"peak {peak / 1e6:.1f} MB for {len(raw) / 1e6:.2f} MB, {peak / max(1, baseline):.1f} times the email package's {baseline / 1e6:.1f} MB")
    return peak


def traced_peak(function: Callable[[bytes], object], raw: bytes) -> int:
    tracemalloc.start()
    try:
        function(raw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def email_tree(raw: bytes) -> Message:
    """The email package's tree of ``raw``, read as ``parts.read_message`` reads it (line ends made LF, an mbox From line dropped)."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if text.startswith(b"From "):
        text = text.partition(b"\n")[2]
    try:
        return email.message_from_bytes(text, policy=email.policy.compat32)
    except RecursionError:  # nested deeper than the email package can go: read_message reads the headers only too
        return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(text)


def warm_up() -> None:
    """Compile every pattern and fill every cache once, so that a memory figure is the message's own."""
    for raw in fixture_seeds():
        check_parse(raw)



@st.composite
def memory_inputs(draw: st.DrawFn, sizes: tuple[int, int] = MEMORY_SIZES) -> bytes:
    """Parse inputs, and (one in four) a random shape built to a size between ``sizes``."""
    if draw(st.integers(0, 3)):
        return draw(parse_inputs())
    _, build = draw(shapes())
    size = draw(st.integers(*sizes))
    return build(max(1, size // max(1, len(build(2)) - len(build(1)))))


# --- the targets, as the tests and the benchmark run them ----------------------------------


@dataclass
class Target:
    """One fuzz target: the inputs, the check of one input, what to check once after all of them, figures to report."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], object]
    finish: Callable[[], None] = lambda: None
    figures: dict[str, float] = field(default_factory=dict)


TARGETS = ("parse", "verp", "lmtp", "memory", "linear")
max_recipients = st.sampled_from([MAX_RECIPIENTS, MAX_RECIPIENTS, MAX_RECIPIENTS, 1, 2, 5])


@contextmanager
def open_target(name: str, directory: Path) -> Iterator[Target]:
    """The target called ``name`` (the LMTP one with its daemon running, its database in ``directory``)."""
    if name == "parse":
        yield Target(name, st.tuples(parse_inputs(), max_recipients), lambda case: check_parse(*case))
    elif name == "verp":
        yield Target(name, verp_inputs(), lambda case: check_verify(*case))
    elif name == "lmtp":
        with LmtpHarness(directory) as harness:
            target = Target(name, lmtp_sessions(harness.valid), harness.run_session, harness.deliver_legit, harness.figures)
            yield target
    elif name == "memory":
        warm_up()
        target = Target(name, memory_inputs(), lambda raw: None)

        def check(raw: bytes) -> None:
            peak = check_memory(raw)
            target.figures["max_peak_mib"] = max(target.figures.get("max_peak_mib", 0), peak / 2**20)
            if len(raw) >= MEMORY_SIZES[0]:
                target.figures["max_peak_per_byte"] = max(target.figures.get("max_peak_per_byte", 0), round(peak / len(raw), 1))

        target.check = check
        yield target
    elif name == "linear":
        target = Target(name, shapes(), lambda shape: None)

        def check_shape(shape: tuple[str, Callable[[int], bytes]]) -> None:
            ratio = check_linear(shape[1])
            target.figures["max_ratio"] = max(target.figures.get("max_ratio", 0), round(ratio, 1))

        target.check = check_shape
        yield target
    else:
        raise ValueError(f"no fuzz target {name!r} (there are {', '.join(TARGETS)})")

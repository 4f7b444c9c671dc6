"""The lean MIME reader builds exactly the tree the email package builds (compat32)."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import FIXTURES, shared_dir
from verpd.parse.message.mime import read

FIXTURE_FILES = sorted((FIXTURES / "detectors").glob("*.eml"))


def shape(msg: Message) -> list:
    """Everything a detector can see of a tree: types, raw headers, defects, raw payloads, preambles."""
    payload = msg._payload
    out: list = [msg.get_content_type(), list(msg._headers), [type(d).__name__ for d in msg.defects]]
    # What the header accessors answer (the reader's are shortcuts of the email package's).
    out += [[(k, str(v)) for k, v in msg.items()], [[str(v) for v in msg.get_all(k, [])] + [str(msg.get(k))] for k in msg.keys()]]
    out += [msg.get_content_maintype(), msg.get_content_subtype(), msg.get_boundary(), msg.get_content_charset()]
    if isinstance(payload, list):
        out += [[shape(part) for part in payload], msg.preamble, msg.epilogue]
    else:
        out.append(payload)
    return out


def as_text(raw: bytes) -> str:
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if raw.startswith(b"From "):
        raw = raw.partition(b"\n")[2]
    return raw.decode("ascii", "surrogateescape")


def assert_same_tree(text: str) -> None:
    assert shape(read(text)) == shape(email.message_from_string(text, policy=email.policy.compat32))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_tree_equals_the_email_packages_on_our_fixtures(path: Path) -> None:
    """Each of our fixtures reads into the same tree as with email.message_from_bytes."""
    assert_same_tree(as_text(path.read_bytes()))


def test_tree_equals_the_email_packages_on_the_corpus() -> None:
    """Every corpus bounce reads into the same tree as with the email package (when the corpus is present)."""
    corpus = shared_dir() / "corpus" / "sisimai" / "emails"
    if not corpus.is_dir():
        pytest.skip(f"no corpus under {corpus} (set VERPD_SHARED)")
    for path in sorted(corpus.iterdir()):
        assert_same_tree(as_text(path.read_bytes()))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_FILES), st.lists(st.tuples(st.floats(0, 1), st.sampled_from(
    ["\n--", "\n\n", "--", "\n \n", ":", "\n:x\n", "From x\n", "\x00", "\x0b", "\x0c", "\udcff", "Content-Type: multipart/mixed; boundary=b\n\n--b\n", "\n--b--\n"]
)), max_size=6), st.floats(0, 1))
def test_tree_equals_the_email_packages_on_damaged_input(path: Path, insertions: list, cut: float) -> None:
    """Fixtures with boundaries, blank lines, odd header lines inserted and truncated still read identically."""
    text = as_text(path.read_bytes())
    for where, piece in insertions:
        at = int(where * len(text))
        text = text[:at] + piece + text[at:]
    assert_same_tree(text[: max(1, int(len(text) * (0.3 + 0.7 * cut)))])


BROKEN_MULTIPARTS = {
    "no boundary parameter": "Content-Type: multipart/report\n\nsome text\n--b\nmore\n",
    "no opening boundary line": "Content-Type: multipart/mixed; boundary=b\n\nsome text\n--b--\nafter\n",
    "no boundary line at all": "Content-Type: multipart/mixed; boundary=b\n\nsome text\n",
    "nested part without boundary": (
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative\n\ninner\n\n--b\n\nx\n--b--\n"
    ),
    "nested part without opening line": (
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\ninner\n--c--\n--b--\n"
    ),
}


@pytest.mark.parametrize("text", BROKEN_MULTIPARTS.values(), ids=BROKEN_MULTIPARTS.keys())
def test_broken_multiparts_recover_as_the_email_package_does(text: str) -> None:
    """Payload, epilogue and defects (StartBoundaryNotFound, NoBoundaryInMultipart, MultipartInvariantViolation) match."""
    assert_same_tree(text)


def test_cached_lookups_follow_every_header_change() -> None:
    """Header, type and parameter answers are cached; each mutator drops the cache."""
    msg = read("Content-Type: multipart/mixed; boundary=a\nSubject: one\n\n--a\n\nx\n--a--\n")
    assert (msg.get_boundary(), msg.get_content_subtype(), msg["subject"]) == ("a", "mixed", "one")
    assert msg["subject"] == "one"  # a second lookup answers from the index
    msg.set_boundary("b")
    msg.set_param("charset", "utf-8")
    msg.replace_header("Subject", "two")
    assert (msg.get_boundary(), msg.get_content_charset(), msg["subject"]) == ("b", "utf-8", "two")
    msg.set_type("text/plain")
    del msg["Subject"]
    msg["Subject"] = "three"
    assert (msg.get_content_type(), msg.get_content_maintype(), msg["subject"]) == ("text/plain", "text", "three")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='aAbB/;= "\\*<>\t\n\xe9', max_size=40))
def test_content_type_parameters_read_as_the_email_package_reads_them(params: str) -> None:
    """Boundary, charset and every parameter of odd Content-Type values (quotes, escapes, RFC 2231 stars)."""
    text = f"Content-Type: multipart/mixed;{params}\n\nbody\n"
    ours, theirs = read(text), email.message_from_string(text, policy=email.policy.compat32)
    for name in ("boundary", "charset", "a", "b", "A"):
        assert ours.get_param(name) == theirs.get_param(name)
    assert ours.get_params() == theirs.get_params()
    assert ours.get_content_charset() == theirs.get_content_charset()

"""SMTP facts read from a report: status codes, reply codes, and which code to believe."""

from __future__ import annotations

import pytest

from verpd.smtp import find_command, find_status, settle, reconcile


@pytest.mark.parametrize(
    ("field", "text", "reply", "expected"),
    [
        pytest.param("5.0.0", "5.1.1", 550, "5.1.1", id="generic-field-gives-way"),
        pytest.param("4.4.7", "4.2.2", 452, "4.2.2", id="expiry-field-gives-way"),
        pytest.param("5.1.1", "4.2.0", 550, "5.1.1", id="class-mismatch-reply-agrees-with-field"),
        pytest.param("4.0.0", "5.1.1", 550, "5.1.1", id="class-mismatch-reply-agrees-with-text"),
        pytest.param("5.7.1", "5.7.26", 550, "5.7.1", id="specific-field-kept"),
        pytest.param(None, "5.2.2", 552, "5.2.2", id="no-field"),
        pytest.param("5.1.1", None, 550, "5.1.1", id="no-text"),
    ],
)
def test_status_reconciliation_prefers_the_specific_code_that_agrees(field, text, reply, expected) -> None:
    """A reporting MTA's generic or class-guess status gives way to the remote server's own code."""
    assert reconcile(field, text, reply) == expected



def test_settle_reads_the_code_quoted_in_the_words_and_drops_a_contradicting_reply_code() -> None:
    """The remote server's quoted code replaces a generic field; a reply code of another class is dropped."""
    assert settle("5.0.0", "550 5.1.1 <a@example.com>: user unknown", 550) == ("5.1.1", 550)
    assert settle("4.4.7", "retry timeout exceeded (last reply: 550 5.1.1 unknown)", 550) == ("5.1.1", 550)
    assert settle("4.0.0", "421 try later", 550) == ("4.0.0", None)


def test_settle_never_reads_a_status_code_out_of_an_ip_address() -> None:
    """``4.2.2.1`` in the words is a resolver's address, not status 4.2.2."""
    assert settle(None, "host 4.2.2.1 said: 550 no", 550) == (None, 550)


def test_find_status_normalises_leading_zeros() -> None:
    """``5.01.01`` is 5.1.1."""
    assert find_status("550 5.01.01 unknown") == "5.1.1"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("(in reply to RCPT TO command)", "RCPT"),
        ("SMTP error from remote mail server after MAIL FROM:<a@example.org>:", "MAIL"),
        ("(in reply to end of DATA command)", "DATA"),
        ("Connected to 192.0.2.1 but my name was rejected.", "EHLO"),
        ("no stage named here", None),
    ],
)
def test_find_command_names_the_stage_the_reply_was_given_at(text: str, command: str | None) -> None:
    """The wordings of Postfix, Exim and qmail say which SMTP command was refused."""
    assert find_command(text) == command

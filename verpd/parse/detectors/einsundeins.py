"""1&1 / IONOS (United Internet) bounces.

1&1's mail system writes ``From: "Mail Delivery System" <mailer-daemon@...>``, ``Subject:
Mail delivery failed: returning message to sender`` and an Exim-like report, but ends
it with its own banner ``--- The header of the original message is following. ---``
instead of Exim's copy banner (and sets no ``X-Failed-Recipients``)::

    The following address failed:

    bob@example.com

    For the following reason:

    Mail size limit exceeded. For explanation visit
    http://postmaster.1and1.com/en/error-messages?ip=%1s

or, for an error from the remote server::

    bob@example.fr:
    SMTP error from remote server for TEXT command, host: smtp-in.example.fr (192.0.2.65) reason: 550 5.2.0 Mail rejected

where "TEXT" is the message body (DATA), ``host:`` the remote server and the text after
``reason:`` its reply. GMX runs the same software (``gmx`` reuses :func:`read_report`)
and writes the host and reply on lines of their own::

    "bob@example.com":
    SMTP error from remote server after RCPT command:
    host: mx.example.com
    5.1.1 <bob@example.com>... User unknown

Layouts as in Sisimai's Lhost::EinsUndEins and Lhost::GMX and their set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import lines_before, sole_address

BANNER = b"--- The header of the original message is following. ---"
_END = re.compile(r"^-+\s*(?:The header of the original message is following|This is a copy of the message)", re.IGNORECASE)
_START = re.compile(r"^\s*This message was created automatically by mail delivery software", re.IGNORECASE)
_SHARED_REASON = re.compile(r"^\s*For the following reason:\s*(.*)$", re.IGNORECASE)
_LABEL = re.compile(r"^\s*Reason:\s*(.*)$", re.IGNORECASE)
_HOST = re.compile(r"^\s*host:\s*(\S+)", re.IGNORECASE)
_SMTP_ERROR = re.compile(
    r"SMTP error from remote (?:mail )?server (?:for|after) (?P<command>[A-Z]+)(?: TO| FROM)? command:?"
    r"(?:,?\s*host:\s*(?P<host>[^\s(]+)(?:\s*\([^)]*\))?)?(?:\s*reason:\s*(?P<reply>.*))?",
    re.IGNORECASE,
)
_COMMANDS = {"HELO": "EHLO", "EHLO": "EHLO", "MAIL": "MAIL", "RCPT": "RCPT", "DATA": "DATA", "TEXT": "DATA"}


class EinsUndEinsDetector:
    """1&1 / IONOS "Mail delivery failed" reports."""

    name = "einsundeins"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.subject.startswith("Mail delivery failed") or BANNER not in mail.raw:
            return None
        return read_report(mail.lines) or None


def read_report(lines: list[str]) -> list[RecipientFacts]:
    """The recipients of a United Internet (1&1, GMX) report, each with its error."""
    found: list[dict] = []
    shared: list[str] = []  # the "For the following reason:" text, written after all the addresses
    reading = in_shared = False
    for line in lines_before(lines, _END):
        if not reading:
            reading = bool(_START.match(line))
            continue
        stripped = line.strip()
        if m := _SHARED_REASON.match(line):
            in_shared = True
            shared += [m.group(1).strip()] if m.group(1).strip() else []
        elif in_shared:
            shared += [stripped] if stripped else []
        elif " " not in stripped and (address := sole_address(stripped)):
            found.append({"address": address, "detail": [], "command": None, "host": None})
        elif not found or not stripped:
            continue
        elif m := _SMTP_ERROR.search(stripped):
            found[-1]["command"] = _COMMANDS.get(m.group("command").upper())
            found[-1]["host"] = m.group("host") or found[-1]["host"]
            if m.group("reply"):
                found[-1]["detail"].append(m.group("reply").strip())
        elif m := _HOST.match(line):
            found[-1]["host"] = m.group(1)
        elif m := _LABEL.match(line):
            found[-1]["detail"] += [m.group(1).strip()] if m.group(1).strip() else []
        else:
            found[-1]["detail"].append(stripped)
    reason = " ".join(shared)
    return [
        RecipientFacts(
            address=f["address"],
            action="failed",
            diagnostic=" ".join(f["detail"]) or reason or None,
            remote_mta=f["host"],
            command=f["command"],
        )
        for f in found
    ]

"""Bounce parsing: raw bytes in, a :class:`~verpd.model.Report` of facts out.

Detectors live one per module and run most authoritative first (``registry``);
the first one that recognises the message wins. Parsers copy what the message
says; naming a reason and hard/soft is ``classify``'s job. Parsing never raises
on malformed mail: what no detector recognises is *unrecognized*.
"""

from __future__ import annotations

from dataclasses import replace

from verpd.model import RecipientFacts, Report, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.mbox import split_mbox
from verpd.parse.registry import DETECTORS, Detector
from verpd.parse.message.text import normalize_address
from verpd.model import Command
from verpd.smtp import find_command, find_reply_code, settle

__all__ = ["DETECTORS", "Detector", "parse"]


def parse(raw: bytes) -> Report:
    """Read ``raw`` (one message, or an mbox of several) and report what it says.

    Several messages in one mbox are read one by one; the report is that of the first
    one recognised, with the recipients of every message of the same kind.
    """
    reports = [_parse_one(message) for message in split_mbox(raw)]
    if len(reports) == 1:
        return reports[0]
    first = next((r for r in reports if r.kind is not ReportKind.UNRECOGNIZED), reports[0])
    recipients = tuple(facts for r in reports if r.kind is first.kind for facts in r.recipients)
    return Report(first.kind, first.detector, recipients, first.message_id)


def _parse_one(raw: bytes) -> Report:
    mail = Mail(raw)
    message_id = mail.header("Message-ID")[:998] or None
    for detector in DETECTORS:
        recipients = detector.detect(mail)
        if recipients:
            return Report(detector.kind, detector.name, _finish(recipients), message_id)
    return Report(ReportKind.UNRECOGNIZED, None, (), message_id)


def _finish(recipients: list[RecipientFacts]) -> tuple[RecipientFacts, ...]:
    """Normalise addresses, settle the codes (``smtp.settle``), fill the command from the diagnostic, drop duplicates."""
    done: dict[tuple[str, str | None], RecipientFacts] = {}
    for facts in recipients:
        address = normalize_address(facts.address)
        if not address:
            continue
        diagnostic = facts.diagnostic or ""
        status, reply_code = settle(facts.status, diagnostic, facts.reply_code or find_reply_code(diagnostic))
        command = Command(facts.command) if facts.command else find_command(diagnostic)
        if (address, status, reply_code, command) != (facts.address, facts.status, facts.reply_code, facts.command) or type(facts.command) is str:
            facts = replace(facts, address=address, status=status, reply_code=reply_code, command=command)
        done.setdefault((address.lower(), facts.action), facts)
    return tuple(done.values())

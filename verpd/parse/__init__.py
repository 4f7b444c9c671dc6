"""Bounce parsing: raw bytes in, a :class:`~verpd.model.Report` of facts out.

Detectors live one per module and run most authoritative first (``registry``);
the first one that recognises the message wins. Parsers copy what the bounce
says; naming a reason and hard/soft is ``classify``'s job. Parsing never raises
on malformed mail: what no detector recognises is *unrecognized*.
"""

from __future__ import annotations

from verpd.parse.message import header_text, read_message
from verpd.parse.registry import DETECTORS, Detector
from verpd.model import Report, ReportKind

__all__ = ["DETECTORS", "Detector", "parse"]


def parse(raw: bytes) -> Report:
    """Read ``raw`` (one message as received) and report what it says."""
    msg = read_message(raw)
    message_id = _message_id(msg.get("Message-ID"))
    for detector in DETECTORS:
        recipients = detector.detect(msg)
        if recipients:
            return Report(ReportKind.BOUNCE, detector.name, tuple(recipients), message_id)
    return Report(ReportKind.UNRECOGNIZED, None, (), message_id)


def _message_id(value: object) -> str | None:
    return header_text(value)[:998] or None

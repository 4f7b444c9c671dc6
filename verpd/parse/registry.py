"""The ordered list of detectors, most authoritative first.

A new format is one module with one class satisfying :class:`Detector`, one
fixture of ours under ``tests/fixtures/parse/`` with its expected result beside it,
and one line here.
"""

from __future__ import annotations

from typing import Protocol

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.dsn import DeliveryStatusDetector
from verpd.parse.exim import EximDetector
from verpd.parse.mail import Mail


class Detector(Protocol):
    """Recognises one family of messages."""

    name: str
    kind: ReportKind  # what the message is when this detector recognises it

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        """The recipients this message reports on, or ``None`` if it is not ours."""
        ...


DETECTORS: tuple[Detector, ...] = (
    DeliveryStatusDetector(),  # standard: RFC 3464 / RFC 6533 multipart/report
    EximDetector(),  # X-Failed-Recipients
)

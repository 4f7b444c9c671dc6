"""The ordered list of detectors, most authoritative first.

A new format is one module with one class satisfying :class:`Detector`, one
fixture under ``tests/fixtures`` and one row in ``tests/test_parse.py``.
"""

from __future__ import annotations

from email.message import Message
from typing import Protocol

from verpd.model import RecipientFacts
from verpd.parse.dsn import DeliveryStatusDetector
from verpd.parse.exim import EximDetector


class Detector(Protocol):
    """Recognises one family of bounce formats."""

    name: str

    def detect(self, msg: Message) -> list[RecipientFacts] | None:
        """The failed recipients this message reports, or ``None`` if it is not ours."""
        ...


DETECTORS: tuple[Detector, ...] = (
    DeliveryStatusDetector(),  # standard: RFC 3464 multipart/report
    EximDetector(),  # X-Failed-Recipients
)

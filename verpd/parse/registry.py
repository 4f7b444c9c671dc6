"""The ordered list of detectors, most authoritative first.

The order is a rule, not an accident:

1. ARF feedback reports (``report-type=feedback-report``) are unambiguous.
2. Standard RFC 3464 / RFC 6533 delivery status notifications: when a message has
   a delivery-status part, its per-recipient fields are the most exact facts.
3. MTA- and provider-specific formats without a usable DSN part, each keyed on its
   own fingerprint (a From/Subject pair, an X- header, a fixed boundary line).
4. Exim's X-Failed-Recipients, which also covers unknown Exim-based systems.
5. Auto-replies and challenge-responses, last: a bounce is often also marked
   ``Auto-Submitted: auto-replied``, so only what no bounce detector claims is one.

A new format is one module with one class satisfying :class:`Detector`, one
fixture of ours under ``tests/fixtures/detectors/`` with its expected result beside
it, and one line here.
"""

from __future__ import annotations

from typing import Protocol

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.amazonses import AmazonSesComplaintDetector, AmazonSesDetector
from verpd.parse.arf import FeedbackReportDetector
from verpd.parse.autoreply import AutoReplyDetector, ChallengeResponseDetector
from verpd.parse.dsn import DeliveryStatusDetector
from verpd.parse.exim import EximDetector
from verpd.parse.gmail import GmailDetector
from verpd.parse.googlegroups import GoogleGroupsDetector
from verpd.parse.googleworkspace import GoogleWorkspaceDetector
from verpd.parse.mail import Mail


class Detector(Protocol):
    """Recognises one family of messages."""

    name: str
    kind: ReportKind  # what the message is when this detector recognises it

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        """The recipients this message reports on, or ``None`` if it is not ours."""
        ...


DETECTORS: tuple[Detector, ...] = (
    FeedbackReportDetector(),  # RFC 5965 ARF, Microsoft JMRP: complaints
    DeliveryStatusDetector(),  # standard: RFC 3464 / RFC 6533 multipart/report
    # --- MTA- and provider-specific formats (one line each, alphabetical within a family) ---
    EximDetector(),  # X-Failed-Recipients
    # --- not failures: only what no bounce detector claimed ---
    ChallengeResponseDetector(),  # TMDA, BoxTrapper, Spam Arrest
    AutoReplyDetector(),  # RFC 3834 vacation / out-of-office
)

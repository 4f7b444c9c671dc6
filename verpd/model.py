"""The data that crosses module boundaries: frozen dataclasses and closed enums.

Parsers produce :class:`Report` (facts copied from the bounce), ``classify`` turns
facts into a :class:`Verdict`, the pipeline assembles :class:`BounceRecord` rows for
the store, and ``policy`` answers with a :class:`Decision`. Datetimes are always
timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class VerpFormat(enum.Enum):
    """How VERP local parts are built (``verp.format``)."""

    MEDIAWIKI = "mediawiki"  # byte-for-byte Extension:BounceHandler
    VERPD = "verpd"  # native: lowercase base32 tag with a key id


@dataclass(frozen=True)
class VerpAddress:
    """A verified VERP address: who the bounced message was sent to, and when."""

    tenant: str  # the site or wiki (MediaWiki: the wiki id)
    user: int  # the application's user id
    sent_at: datetime  # the send time signed into the address
    local_part: str  # canonical local part, the identity of one sent message
    key_index: int  # position in verp.secrets of the secret that verified it


class ReportKind(enum.Enum):
    """What a parser decided a message is."""

    BOUNCE = "bounce"  # a delivery report; classify decides which recipients failed
    FEEDBACK = "feedback"  # an RFC 5965 complaint (ARF): the recipient reported the mail as abuse
    AUTOREPLY = "autoreply"  # an RFC 3834 auto-reply (vacation, out of office): not a failure
    CHALLENGE = "challenge"  # a challenge-response system asking the sender to confirm: not a failure
    UNRECOGNIZED = "unrecognized"  # no report found; a human should look


class Severity(enum.Enum):
    """Whether a failure counts against the address."""

    HARD = "hard"  # counts toward policy.limit
    SOFT = "soft"  # recorded, never counted
    NONE = "none"  # not a failure (e.g. a "delivered" DSN recipient); not recorded


@dataclass(frozen=True)
class RecipientFacts:
    """What a bounce says about one failed recipient, copied as written."""

    address: str
    action: str | None = None  # RFC 3464 Action, lower-cased: failed, delayed, ...
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    reply_code: int | None = None  # SMTP reply code, e.g. 550
    diagnostic: str | None = None  # Diagnostic-Code text, whitespace-normalised
    remote_mta: str | None = None
    reporting_mta: str | None = None
    original_recipient: str | None = None
    command: str | None = None  # SMTP command in progress: CONN, EHLO, MAIL, RCPT, DATA
    diagnostic_type: str | None = None  # RFC 3464 diagnostic type: "smtp", "x-unix" (a local mailer), ...
    feedback_type: str | None = None  # ARF Feedback-Type (abuse, fraud, opt-out, ...)


@dataclass(frozen=True)
class Report:
    """The result of parsing one message."""

    kind: ReportKind
    detector: str | None  # name of the detector that recognised it
    recipients: tuple[RecipientFacts, ...] = ()
    message_id: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The meaning ``classify`` gives to one recipient's facts."""

    reason: str  # a Sisimai reason name, e.g. "userunknown", "mailboxfull", "expired"
    severity: Severity
    status: str | None = None  # the enhanced status code after reconciling field and text
    reply_code: int | None = None  # the SMTP reply code, dropped if its class contradicts the status


@dataclass(frozen=True)
class BounceRecord:
    """One row of the bounces table: one failed recipient of one bounced message."""

    tenant: str
    user: int
    verp_local: str
    sent_at: datetime
    received_at: datetime
    address: str
    action: str | None
    status: str | None
    reply_code: int | None
    reason: str
    severity: Severity
    diagnostic: str | None
    remote_mta: str | None
    reporting_mta: str | None
    detector: str | None
    message_id: str | None


class SubjectState(enum.Enum):
    """The state of one tenant+user."""

    ACTIVE = "active"
    SUPPRESSED = "suppressed"


class Decision(enum.Enum):
    """What the policy decided after a bounce was recorded."""

    NONE = "none"
    SUPPRESS = "suppress"  # policy.act = true: the subject becomes suppressed
    WOULD_SUPPRESS = "would_suppress"  # policy.act = false: log only

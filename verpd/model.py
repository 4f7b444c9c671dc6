"""The data that crosses module boundaries: frozen dataclasses and closed enums.

Parsers produce :class:`Report` (facts copied from the bounce), ``classify`` turns
facts into a :class:`Verdict`, the pipeline assembles :class:`BounceRecord` rows for
the store, and ``policy`` decides what they mean for the user. Datetimes are always
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


class Reason(enum.StrEnum):
    """Why a recipient's mail was not delivered: Sisimai's reason names (https://libsisimai.org/en/reason/).

    A closed set: a misspelt reason is an ``AttributeError`` or ``ValueError``, never a new reason.
    """

    # the address itself is dead: hard (notaccept only with a 5xx)
    USERUNKNOWN = "userunknown"  # the mailbox does not exist (x.1.1)
    HOSTUNKNOWN = "hostunknown"  # the recipient's domain does not exist (x.1.2)
    HASMOVED = "hasmoved"  # the mailbox has moved, no forwarding address (x.1.6)
    NOTACCEPT = "notaccept"  # the domain accepts no mail (null MX, RFC 7505)
    # the mailbox exists but could not take this message
    MAILBOXFULL = "mailboxfull"  # over quota (x.2.2)
    EXCEEDLIMIT = "exceedlimit"  # over the recipient's own size limit (x.2.3)
    SUSPEND = "suspend"  # the account is disabled or suspended
    FILTERED = "filtered"  # refused by the recipient's own filter or settings
    # the sender, its host or the message was refused
    REJECTED = "rejected"  # the envelope sender or its domain
    BLOCKED = "blocked"  # the sending IP or host (block list, refused at connect)
    BADREPUTATION = "badreputation"  # the sender's reputation
    SPAMDETECTED = "spamdetected"
    VIRUSDETECTED = "virusdetected"
    POLICYVIOLATION = "policyviolation"
    AUTHFAILURE = "authfailure"  # SPF, DKIM, DMARC
    REQUIREPTR = "requireptr"  # no valid reverse DNS for the sending IP
    NOTCOMPLIANTRFC = "notcompliantrfc"  # the message breaks RFC 5322
    NORELAYING = "norelaying"
    SECURITYERROR = "securityerror"  # other x.7: authentication, TLS, ...
    FAILEDSTARTTLS = "failedstarttls"
    SPEEDING = "speeding"  # sending rate limit
    TOOMANYCONN = "toomanyconn"  # too many connections or recipients
    MESGTOOBIG = "mesgtoobig"  # too big for the system (x.3.4)
    CONTENTERROR = "contenterror"  # message format or encoding (x.6)
    # the way there failed
    NETWORKERROR = "networkerror"  # DNS, routing, connection
    SYSTEMERROR = "systemerror"  # the remote system's own fault
    SYSTEMFULL = "systemfull"  # the remote system's disk (x.3.1)
    EXPIRED = "expired"  # gave up retrying, or still retrying (delayed)
    MAILERERROR = "mailererror"  # a local delivery program failed
    SYNTAXERROR = "syntaxerror"  # an SMTP syntax error (5.5.x, 50x)
    # no decision
    ONHOLD = "onhold"  # there are words, but nothing says what they mean
    UNDEFINED = "undefined"  # nothing was said at all
    # not failures
    DELIVERED = "delivered"
    FEEDBACK = "feedback"  # an ARF complaint
    VACATION = "vacation"  # an auto-reply or challenge
    SUPPRESSED = "suppressed"  # Sisimai 5.2: the sending service suppressed the address itself


class Severity(enum.Enum):
    """Whether a failure counts against the address."""

    HARD = "hard"  # counts toward policy.limit
    SOFT = "soft"  # recorded, never counted
    NONE = "none"  # not a failure (e.g. a "delivered" DSN recipient); not recorded


class Command(enum.StrEnum):
    """The SMTP stage at which the remote server refused: what it had seen when it said no."""

    CONN = "CONN"  # the greeting, on connection
    EHLO = "EHLO"  # EHLO / HELO / LHLO
    MAIL = "MAIL"  # MAIL FROM: the envelope sender
    RCPT = "RCPT"  # RCPT TO: the recipient
    DATA = "DATA"  # DATA or end of data: the message itself


@dataclass(frozen=True)
class RecipientFacts:
    """What a bounce says about one failed recipient, copied as written.

    ``address`` is the recipient whose delivery failed as the report names it (a DSN's
    Final-Recipient), cleaned of type prefixes, X.400 and route syntax; never an
    MTA-internal name (``user@ims-ms-daemon``, a host without a domain): the report's
    other name for the recipient stands in for those (``parse._finish`` decides; where
    the report has no other name, a name with an ``@`` is kept and one without is
    dropped). ``original_recipient`` is the
    address the sender used (Original-Recipient, or the recipient in the returned copy)
    where it differs, e.g. before an alias or forwarding rewrote it.
    """

    address: str
    action: str | None = None  # RFC 3464 Action, lower-cased: failed, delayed, ...
    status: str | None = None  # enhanced status code, e.g. "5.1.1" (settled by ``smtp.settle``)
    reply_code: int | None = None  # SMTP reply code, e.g. 550
    diagnostic: str | None = None  # Diagnostic-Code text, whitespace-normalised
    remote_mta: str | None = None
    reporting_mta: str | None = None
    original_recipient: str | None = None  # the address we sent to, where it differs from ``address``
    command: Command | None = None  # SMTP command in progress
    diagnostic_type: str | None = None  # RFC 3464 diagnostic type: "smtp", "x-unix" (a local mailer), ...
    feedback_type: str | None = None  # ARF Feedback-Type (abuse, fraud, opt-out, ...)

    @property
    def sent_to(self) -> str:
        """The address we sent to: the original recipient where the report names one, else the failed one."""
        return self.original_recipient or self.address


@dataclass(frozen=True)
class Report:
    """The result of parsing one message."""

    kind: ReportKind
    detector: str | None  # name of the detector that recognised it
    recipients: tuple[RecipientFacts, ...] = ()
    message_id: str | None = None


class Rule(enum.StrEnum):
    """Which kind of rule decided a verdict (``classify``'s precedence, in order)."""

    REPORT = "report"  # the report's kind: a complaint, an auto-reply, a challenge
    SUCCESS = "success"  # delivered, relayed or expanded, or a 2.x.x status
    MAILER = "mailer"  # a local delivery program's exit status (Diagnostic-Code: X-Unix)
    PROVIDER = "provider"  # the receiving provider's documented meaning of its own reply
    STATUS = "status"  # an enhanced status code specific enough to decide on its own
    PHRASE = "phrase"  # a row of a reason's phrase table
    STAGE = "stage"  # the SMTP command the refusal answered (connect, EHLO, MAIL FROM)
    DEFAULT = "default"  # a generic code's class, the DSN action, or nothing at all


STRONG_RULES = frozenset({Rule.PROVIDER, Rule.STATUS, Rule.PHRASE})
# Detectors that guess at a format they do not know (the fallback, the one-sentence reader):
# what they read is never evidence enough for a hard verdict.
GUESSING_DETECTORS = frozenset({"fallback", "minimal"})


@dataclass(frozen=True)
class Evidence:
    """Why a recipient got its verdict: the detector that read it and the rule that decided."""

    rule: Rule
    detector: str | None  # the parser's detector ("dsn", "exim", "fallback", ...)
    ref: str = ""  # which rule: "5.1.1", "userunknown#3" (table and row), "google#2", "MAIL"
    source: str = ""  # for a table or provider row: who emits the wording and where that is documented

    @property
    def strong(self) -> bool:
        """Whether this evidence may make a failure hard: a specific code, a known wording or a
        provider's own rule, read by a detector that knows the format (not a guessing reader's)."""
        return self.rule in STRONG_RULES and self.detector not in GUESSING_DETECTORS

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule.value, "detector": self.detector, "ref": self.ref, "source": self.source}


@dataclass(frozen=True)
class Verdict:
    """The meaning ``classify`` gives to one recipient's facts, and why."""

    reason: Reason
    severity: Severity
    evidence: Evidence


@dataclass(frozen=True)
class BounceRecord:
    """One row of the bounces table: one failed recipient of one bounced message."""

    tenant: str
    user: int
    verp_local: str
    sent_at: datetime
    received_at: datetime
    address: str  # the address we sent to (``RecipientFacts.sent_to``)
    action: str | None
    status: str | None
    reply_code: int | None
    reason: Reason
    severity: Severity
    diagnostic: str | None
    remote_mta: str | None
    reporting_mta: str | None
    detector: str | None
    message_id: str | None
    final_address: str | None = None  # the address that failed, where it differs (an alias or forward rewrote it)
    evidence: Evidence | None = None  # why the verdict is what it is


class SubjectState(enum.Enum):
    """The state of one tenant+user."""

    ACTIVE = "active"
    SUPPRESSED = "suppressed"

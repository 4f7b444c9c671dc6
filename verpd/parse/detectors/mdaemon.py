"""MDaemon (Alt-N Technologies, now MDaemon Technologies) delivery failure notices.

MDaemon sends its notices from ``MDaemon@host`` (or ``"MDaemon at domain"
<postmaster@domain>``), ``Subject: Permanent Delivery Failure`` by default (the
subject is a setting: Queues » Mail Queues/DSN » DSN Settings, "Permanent (failed)
delivery message subject text"), the original attached, and, unless "Do not
include session transcripts in DSN messages" is set, the SMTP session of the last
attempt (MDaemon help, "DSN Settings"; "Retry Queue"). Its letters as sent:

* older releases (MDaemon 3 in 2002, English or bilingual; later ones in English):
  ``The attached message had PERMANENT fatal delivery errors!`` ... ``has been
  removed from the [MDaemon] mail queue on this server`` ... ``YOUR MESSAGE WAS NOT
  DELIVERED[ TO ONE OR MORE RECIPIENTS]``, then ``Failed address: bob@example.com``
  lines and ``--- [Partial ]Session Transcript ---``;
* later releases: a ``= Greetings from the MDaemon mail system at <domain> =`` banner
  (Spanish ``= Saludos del sistema de correo MDaemon en <domain> =``), "The following
  message: / Session-ID / Queue-ID / Message-ID", ``could not be delivered to the
  following recipients:`` (``no se pudo entregar a los destinatarios siguientes:``)
  with one ``address (reason)`` line each, and a ``= Session Transcript =`` block.

The transcript is MDaemon's session log without its timestamps: ``-->`` marks what
MDaemon sent, ``<--`` what the remote server answered (older releases indent the
lines instead); ``* To:`` lines there list the message's recipients, not failures.
A recipient's diagnostic is the remote server's reply to its ``RCPT To:<...>`` (a
multi-line reply unfolded), or, when the refusal came after ``DATA``, that reply for
every recipient accepted before it; otherwise the reason written beside the address.
Sources: the MDaemon documentation (help.mdaemon.com, "DSN Settings"), and notices
MDaemon servers sent to public lists and trackers (perl5 RT #9142, 2002; a 2015
Spanish notice; a later English one) for the wording. ``The following recipients
were unable to be reached`` is read as a list heading too, though no notice seen
carries it.
"""

from __future__ import annotations

import re
from collections import deque

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.notice import report_lines
from verpd.parse.message.text import ADDRESS, LazyPattern, reply_facts, unfold_reply

_MARKERS = (
    "permanent fatal delivery errors",
    "your message was not delivered",
    "session transcript",
    "transcripción de la sesión",
    "greetings from the mdaemon",
    "sistema de correo mdaemon",
    "failed address:",
)
_FAILED = LazyPattern(r"^\s*failed\s+address(?:es)?\s*:\s*<?(" + ADDRESS.pattern + r")>?\s*(.*)$", re.IGNORECASE)
# Runs of blanks and bracketed runs are read whole (see verpd.parse.message.text's note on address patterns).
_LIST_INTRO = LazyPattern(
    r"(?:could\s+not\s+be\s+delivered\s+to\s+the\s+following\s+recipients|following\s+recipients\s+were\s+unable\s+to\s+be\s+reached|"
    r"no\s+se\s+pudo\s+entregar\s+a\s+los\s+destinatarios\s+siguientes)\s*+:?+\s*+$",
    re.IGNORECASE,
)
_LISTED = LazyPattern(r"^\s*<?(" + ADDRESS.pattern + r")>?+\s*+(?:\((.*)\))?\s*$")
_TRANSCRIPT = LazyPattern(r"session\s+transcript|transcripci[óo]n\s+de\s+la\s+sesi[óo]n", re.IGNORECASE)
_TRANSCRIPT_END = LazyPattern(r"^\s*-{3,}\s*end\b|^\s*={3,}\s*$", re.IGNORECASE)
_LOG_PREFIX = LazyPattern(r"^\s*(?:\w{3}\s+\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?:\s*)?(?:(-->|<--)\s*)?")
_RCPT = LazyPattern(r"^RCPT\s+TO\s*:\s*<(?=[^<>\s]+@[^<>\s])([^<>\s]++)>", re.IGNORECASE)
_DATA = LazyPattern(r"^(?:DATA|\.)\s*$|^Sending\s+<", re.IGNORECASE)
_MAIL = LazyPattern(r"^MAIL\s+FROM\s*:", re.IGNORECASE)
_REPLY = LazyPattern(r"^([2-5]\d\d)([ -])")
_DELAY = ("temporary", "transient", "will continue to attempt", "still being retried", "delayed")


class MDaemonDetector:
    """MDaemon's "PERMANENT fatal delivery errors" / "Greetings from the MDaemon mail system" notices and their session transcripts."""

    name = "mdaemon"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        text = mail.text_lower
        if "mdaemon" not in mail.sender and "mdaemon" not in text:
            return None
        if not any(marker in text for marker in _MARKERS):
            return None
        lines = report_lines(mail.lines, len(mail.lines))  # never a letter inside another MTA's returned copy
        listed, start = _listed(lines)
        session = _transcript(lines[start:]) if start is not None else _Session()
        if not listed:  # no list in the letter: the recipients the server refused are the failures
            listed = {key: (address, None) for key, address in _refused(lines[start:] if start is not None else [], session)}
        action = "delayed" if "permanent" not in text and any(word in text for word in _DELAY) else "failed"
        found = []
        for key, (address, reason) in listed.items():
            diagnostic = session.replies.get(key) or session.refused_sender or reason or None
            command = session.commands.get(key) or ("MAIL" if session.refused_sender and key not in session.replies else None)
            found.append(reply_facts(address, diagnostic, action=action, command=command, remote_mta=session.remote))
        return found or None


def _refused(lines: list[str], session: _Session) -> list[tuple[str, str]]:
    """The refused recipients in transcript order, spelled as the transcript spells them."""
    found: dict[str, str] = {}
    for line in lines:
        m = _RCPT.match(_LOG_PREFIX.sub("", line, count=1).strip())
        if m and m.group(1).lower() in session.replies:
            found.setdefault(m.group(1).lower(), m.group(1))
    return list(found.items())


def _listed(lines: list[str]) -> tuple[dict[str, tuple[str, str | None]], int | None]:
    """Addresses the letter names as failed (with the reason beside each), and where the transcript starts."""
    found: dict[str, tuple[str, str | None]] = {}
    in_list = False
    for i, line in enumerate(lines):
        if _TRANSCRIPT.search(line):
            return found, i + 1
        if m := _FAILED.match(line):
            found.setdefault(m.group(1).lower(), (m.group(1), m.group(2).strip(" ()") or None))
            continue
        if _LIST_INTRO.search(line):
            in_list = True
            continue
        if in_list:
            if m := _LISTED.match(line):
                found.setdefault(m.group(1).lower(), (m.group(1), (m.group(2) or "").strip() or None))
            elif line.strip() or found:
                in_list = False
    return found, None


class _Session:
    """What the transcript of one SMTP session says: each refused recipient's reply and command, the server's name."""

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self.commands: dict[str, str] = {}
        self.remote: str | None = None
        self.refused_sender: str | None = None  # a refusal of MAIL FROM: every recipient failed with it


def _transcript(lines: list[str]) -> _Session:
    session = _Session()
    accepted: list[str] = []
    waiting: deque[str] = deque()  # RCPT commands sent whose reply has not been read yet (pipelining), oldest first
    stage = "CONN"
    reply: list[str] = []
    started = False
    for raw in lines:
        if _TRANSCRIPT_END.match(raw):
            if started:
                break
            continue  # the banner's own underline
        line = _LOG_PREFIX.sub("", raw, count=1).strip()
        started = started or bool(line)
        if m := _RCPT.match(line):
            waiting.append(m.group(1))
            stage = "RCPT"
            continue
        if _DATA.match(line):
            stage = "DATA"
            continue
        if _MAIL.match(line):
            stage = "MAIL"
            continue
        m = _REPLY.match(line)
        if not m:
            continue
        reply.append(line)
        if m.group(2) == "-":
            continue  # more lines of the same reply follow
        code, text = m.group(1), unfold_reply(reply)
        reply = []
        if code == "220" and session.remote is None:
            session.remote = text.split()[1] if len(text.split()) > 1 and "." in text.split()[1] else None
        if stage == "RCPT" and waiting:
            address = waiting.popleft()
            if code[0] == "2":
                accepted.append(address)
            elif code[0] in "45":
                session.replies.setdefault(address.lower(), text)
                session.commands.setdefault(address.lower(), "RCPT")
        elif stage == "DATA" and code[0] in "45":
            for address in accepted:
                session.replies.setdefault(address.lower(), text)
                session.commands.setdefault(address.lower(), "DATA")
        elif stage == "MAIL" and code[0] in "45":
            session.refused_sender = text
    return session

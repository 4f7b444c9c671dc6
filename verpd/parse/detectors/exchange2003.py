"""Microsoft Exchange 5.5 / 2000 / 2003 non-delivery reports (plain text, no DSN part).

Three generations wrote the same kind of text. Exchange 5.5's Internet Mail Service
(IMS, ``X-Mailer: Internet Mail Service (5.5.x)``, ``X-MS-Embedded-Report:``, a
``Received: ... with Internet Mail Service`` hop) and 4.0's Internet Mail Connector::

    Your message
      To:      alice@example.org
      Subject: ...
    did not reach the following recipient(s):

    bob@example.com on Thu, 29 Apr 2010 00:00:00 -0000
        The recipient name is not recognized
        The MTS-ID of the original message is: c=us;a= ;p=example;l=HOST0104291200
        MSEXCH:IMS:EXAMPLE:SITE:HOST 0 (000C05A6) Unknown Recipient

Exchange 5.5's MTA and information store, and Exchange 2000 / 2003 as Outlook renders
them (``X-MimeOLE: Produced By Microsoft Exchange V6.5``; relayed without the DSN part
Exchange 2000+ attaches, or forwarded as text)::

    Your message did not reach some or all of the intended recipients.
          Subject:  ...
          Sent:     7/11/2001 9:20 AM
    The following recipient(s) could not be reached:        (2003: "cannot be reached:")
          'bob@example.com' on 7/11/2001 9:20 AM
                The e-mail account does not exist at the organization this message was sent to. ...
                <mail.example.com #5.1.1 smtp;550 5.1.1 User unknown>

The recipient is written as Exchange knows it: an address (quoted or not), a display
name with its proxy (``Bob (SMTP=bob@example.com)``), an X.400 O/R address with the SMTP
address as a domain-defined attribute (``c=US;a= ;p=Org;o=Site;dda:SMTP=bob@example.com;``),
an Exchange DN (``/O=ORG/OU=SITE/CN=RECIPIENTS/CN=BOB``) or a display name alone
(``'Smith, Bob'``). The line is read as written; parse's ``_finish`` reads the SMTP
address out of the decoration, and for a name with none it takes the returned copy's
recipient. The indented lines under it are the error: a sentence, the MSEXCH diagnostic
with its hexadecimal code (000C05A6 = unknown recipient, 000B09AA = unable to relay,
...), or the 2000/2003 ``<generating server #status smtp;remote reply>`` line, whose
status is the recipient's and whose quoted reply, when there is one, is the
diagnostic. The MTS-ID line is bookkeeping and is left out.

Sources: Microsoft Knowledge Base articles 284204 ("Delivery status notifications in
Exchange Server and in Small Business Server"), 246881, 251152, 237951 and 258678
(NDR texts with X.400 and DN recipients), 164049 (``dda.type=SMTP;dda.value=``), and
Sisimai's Lhost::Exchange2003 (p5-sisimai) for the header fingerprints.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import LazyPattern, lines_between
from verpd.smtp import find_status

_MAILERS = ("Internet Mail Service (", "Microsoft Exchange Server Internet Mail Connector")
_SYSTEM_SENDERS = ("postmaster", "system administrator", "mailer-daemon")
_INTRO = "did not reach some or all of the intended recipients"  # Exchange 5.5 MTA/store, 2000, 2003
_START = LazyPattern(
    r"^\s*(?:did not reach the following recipient|the following recipient\(s\) (?:could not|cannot) be reached)", re.IGNORECASE
)
# "<who> on <date>": the date as Exchange writes it ("Mon, 14 Mar 2005 09:12:38 +0100", "3/14/2005 9:12 AM", "14.03.2005 09:12")
# (A name is tried only ending on a non-blank, as the shortest one that fits always does: trying each
# blank of a long run as its end, against the rest of the run, took time quadratic in the run's length.)
_RECIPIENT = LazyPattern(
    r"^(?P<indent>\s*+)(?P<who>\S.*?)(?<=\S)\s+on\s+(?:[A-Za-z]{3,9},?\s+)?\d{1,4}(?:[./-]\d{1,2}[./-]\d{2,4}|\s+[A-Za-z]{3,9}\s+\d{2,4})\b"
)
_DECORATED = LazyPattern(r"\bdda[:.]|^/o=|\bsmtp[:=]|^c=\w*;", re.IGNORECASE)  # X.400, DN or proxy: kept whole
# The bracketed run is read whole (see verpd.parse.message.text's note on address patterns).
_BRACKETED = LazyPattern(r"[(<\[](?=[^()<>\[\]\s]+@[^()<>\[\]\s])([^()<>\[\]\s]++)[)>\]]")
# Exchange 2000/2003: "<mail.example.com #5.1.1 smtp;550 5.1.1 <bob@example.com>... User unknown>"
_GENERATED = LazyPattern(r"^<(?P<host>[^\s<>#]+)\s+#(?P<status>[245]\.\d{1,3}\.\d{1,3})(?:\s+(?:smtp;)?\s*(?P<reply>.*?))?>?$", re.IGNORECASE)
_MAX_RECIPIENT_LINE = 600
_MTS_ID = LazyPattern(r"^\s*(?:The MTS-ID of the original message is:|;l=)", re.IGNORECASE)
_END = LazyPattern(r"^(?:-{3,}|Content-Type:|Received:|Return-Path:|Message-ID:)", re.IGNORECASE)


class Exchange2003Detector:
    """Old Exchange (IMS / IMC, MTA, 2000 / 2003 store) plain-text NDRs."""

    name = "exchange2003"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _is_exchange(mail):
            return None
        found: list[tuple[str, list[str]]] = []
        indent: int | None = None
        for line in lines_between(mail.lines, _START, _END):
            # A recipient line is never indented deeper than the first one; its error lines are.
            # (A recipient line is short: a long one is error text, and never worth a backtracking match.)
            shallow = indent is None or len(line) - len(line.lstrip()) <= indent
            m = _RECIPIENT.match(line) if shallow and len(line) <= _MAX_RECIPIENT_LINE else None
            who = m.group("who").strip().strip("'\"").strip() if m else ""
            if m and who and len(who) <= 512:
                indent = len(m.group("indent")) if indent is None else indent
                found.append((_recipient(who), []))
            elif found and line.strip() and not _MTS_ID.match(line):
                found[-1][1].append(line.strip())
        return [_facts(who, detail) for who, detail in found] or None


def _is_exchange(mail: Mail) -> bool:
    if mail.msg.get("X-MS-Embedded-Report") is not None:
        return True
    if mail.header("X-Mailer").startswith(_MAILERS):
        return True
    if mail.header("X-MimeOLE").startswith("Produced By Microsoft Exchange"):
        return True
    if any(" with Internet Mail Service (" in received for received in mail.headers("Received")):
        return True
    # The 2000/2003 text relayed without Exchange's headers; from the system, not a person forwarding it.
    if not (mail.subject.lower().startswith("undeliverable") or any(s in mail.sender for s in _SYSTEM_SENDERS)):
        return False
    return _INTRO in mail.text_lower


def _recipient(who: str) -> str:
    """The recipient as the line names it: a decorated Exchange name whole, else the address in brackets, else as written."""
    if _DECORATED.search(who):
        return who
    bracketed = _BRACKETED.search(who)  # "Bob Smith (bob@example.com)", "Bob Smith <bob@example.com>"
    if bracketed:
        return bracketed.group(1)
    # Outlook shows a contact as "Bob Smith (Bob Smith@example.com)": no address, so the display name
    return who.partition(" (")[0].strip("'\" ") if " (" in who else who


def _facts(who: str, detail: list[str]) -> RecipientFacts:
    status = reply = host = None
    words = []
    for line in detail:
        m = _GENERATED.match(line)
        if m:
            host, status, reply = m.group("host"), m.group("status"), (m.group("reply") or "").strip() or None
        else:
            words.append(line)
    diagnostic = " ".join((reply or " ".join(words)).split()) or None
    return RecipientFacts(
        address=who,
        action="failed",
        status=find_status(status) if status else None,
        diagnostic=diagnostic,
        reporting_mta=host,
    )

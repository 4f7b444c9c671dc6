"""qmail's bounces, and the qmail-shaped bounces of its descendants and clones.

qmail-send (qmail-send.c, qmail 1.03; netqmail, notqmail, vpopmail and indimail keep
it) writes ``Subject: failure notice`` and a plain-text letter::

    Hi. This is the qmail-send program at mx.example.org.
    I'm afraid I wasn't able to deliver your message to the following addresses.
    This is a permanent error; I've given up. Sorry it didn't work out.

    <bob@example.com>:
    192.0.2.1 does not like recipient.
    Remote host said: 550 5.1.1 <bob@example.com>... User unknown
    Giving up on 192.0.2.1.

    --- Below this line is a copy of the message.

Each failed address is a line ``<address>:``; the lines below it, up to the next
one, are qmail-remote's or qmail-local's account (qmail-remote.c: ``Connected to H
but sender was rejected``, ``H does not like recipient``, ``H failed on DATA
command``, ``H failed after I sent the message``, ``Sorry, no SMTP connection got far
enough; most progress was RCPT TO response``; qmail-local.c: ``Sorry, no mailbox here
by that name. (#5.1.1)``; vdelivermail's own lines), with qmail's ``(#5.x.y)`` codes.
They are the diagnostic, with a multi-line remote reply unfolded.

The same shape comes from systems derived from qmail (Yahoo's ``Sorry, we were
unable to deliver your message to the following address.`` with ``[RCPT_TO]``; Sisimai
files the clones as X2 and X4: ``Unable to deliver message to the following
address(es).`` / ``--- Original message follows.``, Spanish ``Su mensaje no pudo ser
entregado`` / ``--- Mensaje original adjunto.``), so one detector reads them all.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import unfold_reply
from verpd.smtp import find_command, find_reply_code, find_status_beside_ips

_SUBJECT = re.compile(r"^(?:failure notice|permanent delivery failure|delivery failure|failure delivery|failed delivery)", re.IGNORECASE)
_INTRO = re.compile(
    r"^(?:hi\. this is the qmail"
    r"|.*unable to deliver (?:your )?message to the following address"
    r"|he/her is not "
    r"|su mensaje no pudo ser entregado"
    r"|this is the machine generated message from mail service"
    r"|this is the mail delivery agent at"
    r"|unfortunately, your mail was not delivered to the following address"
    r"|your (?:mail )?message to the following address"
    r"|we're sorry\.)",
    re.IGNORECASE,
)
_COPY = re.compile(
    r"^\s*-{2,} ?(?:below (?:this|the next) line is a copy|enclosed is a copy|original message follows|mensaje original adjunto)"
    r"|^original message follows",
    re.IGNORECASE,
)
_RECIPIENT = re.compile(r"^<([^<>\s]+@[^<>\s@]+)>:?\s*(.*)$")
_REMOTE = re.compile(
    r"(?:connected to|giving up on|remote host) (?!said\b)(\S+?)[.:,]?(?:\s|$)|(?<!\S)(\S+) (?:does not like recipient|failed on data command|failed after i sent)",
    re.IGNORECASE,
)
_BARE_REPLY = re.compile(r"^([245]\d\d):\s")  # Yahoo: "550: <bob@example.com>: User unknown"
# qmail-remote.c's account of the SMTP session, and Yahoo's bracketed command.
_COMMANDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), command)
    for pattern, command in (
        (r"does not like recipient|\[RCPT_TO\]", "RCPT"),
        (r"failed on DATA command|failed after I sent the message|\[DATA\]", "DATA"),
        (r"but sender was rejected|\[MAIL_FROM\]", "MAIL"),
        (r"but my name was rejected", "EHLO"),
        (r"but greeting failed", "CONN"),
    )
)


class QmailDetector:
    """qmail-send ``failure notice`` letters and the qmail-shaped letters of Yahoo and qmail clones."""

    name = "qmail"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not (_SUBJECT.match(mail.subject) or b"invoked for bounce" in mail.raw or b"This is the qmail-send program" in mail.raw):
            return None
        lines = mail.lines
        start = next((i for i, line in enumerate(lines[:200]) if _INTRO.match(line.strip())), None)
        if start is None:
            return None
        blocks: list[tuple[str, list[str]]] = []
        for line in lines[start + 1 :]:
            if _COPY.match(line):
                break
            if m := _RECIPIENT.match(line.strip()):
                blocks.append((m.group(1), [m.group(2)] if m.group(2) else []))
            elif blocks and line.strip():
                blocks[-1][1].append(line)
        found = [block_facts(address, details) for address, details in blocks]
        return found or None


def block_facts(address: str, details: list[str]) -> RecipientFacts:
    """One failed address's facts from the qmail-remote / qmail-local lines below its ``<address>:`` line."""
    diagnostic = unfold_reply(details)
    command = next((c for pattern, c in _COMMANDS if pattern.search(diagnostic)), None) or find_command(diagnostic)
    remote = None
    if m := _REMOTE.search(diagnostic):
        remote = (m.group(1) or m.group(2)).rstrip(".")
    said = diagnostic.split("said:", 1)[-1] if "said:" in diagnostic else diagnostic
    bare = _BARE_REPLY.match(said.strip())
    return RecipientFacts(
        address=address,
        action="failed",
        status=find_status_beside_ips(diagnostic),
        reply_code=int(bare.group(1)) if bare else find_reply_code(said),
        diagnostic=diagnostic or None,
        remote_mta=remote,
        command=command,
    )

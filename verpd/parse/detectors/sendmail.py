"""Sendmail's plain-text bounces: V8 without a DSN part, and the older V5 format.

Sendmail writes a ``message/delivery-status`` part unless told not to
(``SendMimeErrors=False``) or too old to (V5); those bounces are plain text from
``Mail Delivery Subsystem <MAILER-DAEMON@host>`` with ``Subject: Returned mail:
see transcript for details`` (``Returned mail: User unknown``, ``Warning: could not
send message for past 4 hours``). savemail.c writes the sections::

       ----- The following addresses had permanent fatal errors -----
    <bob@example.com>
        (reason: 550 5.1.1 <bob@example.com>... User unknown)
        (expanded from: <alias@example.org>)

       ----- Transcript of session follows -----
    ... while talking to mx.example.com.:
    >>> RCPT To:<bob@example.com>
    <<< 550 5.1.1 <bob@example.com>... User unknown
    550 5.1.1 <bob@example.com>... User unknown

       ----- Original message follows -----     (Message header follows / Unsent message follows)

``transient non-fatal errors`` and the ``THIS IS A WARNING MESSAGE ONLY`` banner mark
a delay warning. V5 writes only the transcript (``While talking to host:``, result lines
``550 <bob@example.com>... User unknown``), sometimes with no address at all
(``421 example.com (smtp)... Deferred: Connection timed out``): then the recipients
are the returned message's To: addresses at that domain.

Per recipient, the remote server's reply (the ``<<<`` lines of its part of the
transcript) is the diagnostic; else the ``(reason: ...)`` line; else sendmail's own
result line. ``while talking to`` names the remote MTA, ``>>>`` the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import ADDRESS, find_addresses, unfold_reply
from verpd.smtp import find_reply_code, find_status_beside_ips

_SUBJECT = re.compile(r"^(?:returned mail:|warning: could not send message|.*see transcript for details)", re.IGNORECASE)
_MARKERS = (b"----- Transcript of session follows -----", b"----- The following addresses had")
_SECTION = re.compile(r"^\s*-{3,}\s*(.*?)\s*-{3,}\s*$")
_COPY_SECTIONS = ("original message follows", "message header follows", "unsent message follows", "no message was collected", "message headers follow")
_ADDRESS_LINE = re.compile(r"^<?([^<>\s]+@[^<>\s@]+?)>?(?:\.\.\.\s*(.*))?$")
_REASON = re.compile(r"^\(reason:\s*(.*?)\)?$", re.IGNORECASE)
_TALKING = re.compile(r"^\.{0,3}\s*while talking to\s+(\S+?)\.?:?\s*$", re.IGNORECASE)
_RESULT = re.compile(r"^(?:([245]\d\d)\s+(?:[245]\.\d{1,3}\.\d{1,3}\s+)?)?<?([^<>\s]*@[^<>\s@]+?)>?\.\.\.\s*(.*)$")
_HOST_RESULT = re.compile(r"^([245]\d\d)\s+(\S+)\s+\((\w+)\)\.\.\.\s*(.*)$")
_COMMANDS = (("rcpt", "RCPT"), ("mail", "MAIL"), ("data", "DATA"), (".", "DATA"), ("ehlo", "EHLO"), ("helo", "EHLO"))


@dataclass
class _Recipient:
    address: str
    action: str
    reason: str = ""  # "(reason: ...)" in the address list
    replies: list[str] = field(default_factory=list)  # "<<<" lines from the remote server
    results: list[str] = field(default_factory=list)  # sendmail's own result lines
    remote: str | None = None
    command: str | None = None


class SendmailDetector:
    """Sendmail bounces without a DSN part (V8 ``SendMimeErrors=False``, V5)."""

    name = "sendmail"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _SUBJECT.match(mail.subject) and "mail delivery subsystem" not in mail.sender:
            return None
        if not any(marker in mail.raw for marker in _MARKERS):
            return None
        sections = _sections(mail.lines)
        if not sections:
            return None
        warning = mail.subject.lower().startswith("warning") or b"THIS IS A WARNING MESSAGE ONLY" in mail.raw
        recipients: dict[str, _Recipient] = {}
        for title, body in sections:
            if "following addresses had" in title:
                action = "delayed" if warning or "transient" in title else "failed"
                _read_addresses(body, action, recipients)
        for title, body in sections:
            if "transcript of session" in title:
                _read_transcript(body, "delayed" if warning else "failed", recipients, mail)
        return [_facts(r) for r in recipients.values()] or None


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(lower-cased title, lines) for each ``----- Title -----`` section before the returned copy."""
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if (m := _SECTION.match(line)) and m.group(1):
            title = m.group(1).lower()
            if any(copy in title for copy in _COPY_SECTIONS):
                break
            sections.append((title, []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _read_addresses(body: list[str], action: str, recipients: dict[str, _Recipient]) -> None:
    current: _Recipient | None = None
    for line in body:
        text = line.strip()
        if not text:
            continue
        if not line[:1].isspace() and (m := _ADDRESS_LINE.match(text)) and ADDRESS.fullmatch(m.group(1)):
            current = recipients.setdefault(m.group(1).lower(), _Recipient(m.group(1), action))
            if m.group(2):
                current.results.append(m.group(2))
        elif current and (m := _REASON.match(text)):
            current.reason = m.group(1)


def _read_transcript(body: list[str], action: str, recipients: dict[str, _Recipient], mail: Mail) -> None:
    remote = command = None
    pending: list[str] = []  # "<<<" replies not yet tied to a recipient
    orphans: list[tuple[list[str], str | None, str | None]] = []  # replies no result line named (the DATA phase)
    unassigned: list[str] = []  # result lines naming no address (the DATA phase, a connection failure)
    for line in body:
        text = line.strip()
        if not text:
            continue
        if m := _TALKING.match(text):
            if pending:
                orphans.append((pending, remote, command))
            remote, command, pending = m.group(1).rstrip("."), None, []
        elif text.startswith(">>>"):
            verb = text[3:].strip().lower()
            command = next((c for word, c in _COMMANDS if verb.startswith(word)), command)
        elif text.startswith("<<<"):
            pending.append(text[3:].strip())
        elif (m := _RESULT.match(text)) and "@" in m.group(2):
            address = m.group(2)
            if not ADDRESS.fullmatch(address):
                continue
            r = recipients.setdefault(address.lower(), _Recipient(address, action))
            r.results.append(text)
            if pending or command:  # the remote server's part in this result; else sendmail's own (DNS, ...)
                r.replies += [p for p in pending if p not in r.replies]
                r.remote, r.command = r.remote or remote, r.command or command
            pending, command = [], None
        else:
            unassigned.append(text)
    if pending:
        orphans.append((pending, remote, command))
    if not (orphans or unassigned):
        return
    # Replies no result line named (to DATA) go to the recipients that have none: the session
    # whose host shares the recipient's domain, else the first one.
    targets = [r for r in recipients.values() if not r.replies]
    if not recipients:
        targets = _from_returned_copy(mail, unassigned, action, recipients)
    by_domain = _by_domain(orphans)
    for r in targets:
        if orphans:
            domain = r.address.rsplit("@", 1)[-1].lower()
            replies, host, verb = by_domain.get(domain, orphans[0])
            r.replies += replies
            r.remote, r.command = r.remote or host, r.command or verb
        if not r.reason and not r.results:
            r.results += unassigned


def _by_domain(orphans: list[tuple[list[str], str | None, str | None]]) -> dict[str, tuple[list[str], str | None, str | None]]:
    """The first session with each host, by the host's name and every domain it is in
    (``mx.example.com`` serves ``example.com``): one lookup per recipient, however many sessions."""
    found: dict[str, tuple[list[str], str | None, str | None]] = {}
    for orphan in orphans:
        host = (orphan[1] or "").lower()
        if not host or len(host) > 255:  # no host name: only ever the fallback
            continue
        found.setdefault(host, orphan)
        at = host.find(".")
        while at >= 0:
            found.setdefault(host[at + 1 :], orphan)
            at = host.find(".", at + 1)
    return found


def _from_returned_copy(mail: Mail, results: list[str], action: str, recipients: dict[str, _Recipient]) -> list[_Recipient]:
    """V5 with no address in the transcript: the returned message's To: addresses, at the failing domain if named."""
    returned = mail.returned or mail.returned_after(re.compile(r"^\s*-{3,}\s*(?:unsent|original) message follows", re.IGNORECASE))
    if returned is None:
        return []
    addresses = find_addresses(" ".join(header_text(v) for v in returned.get_all("To") or []))
    domains = {m.group(2).lower().rstrip(".") for line in results if (m := _HOST_RESULT.match(line))}
    chosen = [a for a in addresses if a.split("@")[-1].lower() in domains] or (addresses if len(addresses) == 1 else [])
    for address in chosen:
        recipients.setdefault(address.lower(), _Recipient(address, action))
    return list(recipients.values())


def _facts(r: _Recipient) -> RecipientFacts:
    if r.replies:
        diagnostic = unfold_reply(r.replies)
    elif r.reason:
        diagnostic = " ".join(r.reason.split())
    else:
        diagnostic = " ".join(_result_text(line) for line in r.results)
    diagnostic = " ".join(diagnostic.split())
    return RecipientFacts(
        address=r.address,
        action=r.action,
        status=find_status_beside_ips(diagnostic) or find_status_beside_ips(" ".join(r.results)),
        reply_code=find_reply_code(diagnostic) if diagnostic else None,
        diagnostic=diagnostic or None,
        remote_mta=r.remote,
        command=r.command,
    )


def _result_text(line: str) -> str:
    """Sendmail's result line, its own code and the address dropped where the text stands alone.

    ``554 <a>... 550 Host unknown`` quotes the remote reply, ``<a>... Deferred: ...`` has no
    code of its own: both are reduced to the text after ``...``; ``550 <a>... User unknown``
    is kept whole.
    """
    if (m := _RESULT.match(line)) and m.group(3) and (find_reply_code(m.group(3)) or not m.group(1)):
        return m.group(3)
    return line

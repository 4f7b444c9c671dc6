"""Bounce parsing: raw bytes in, a :class:`~verpd.model.Report` of facts out.

Detectors live one per module and run most authoritative first (``registry``);
the first one that recognises the message wins. Parsers copy what the message
says; naming a reason and hard/soft is ``classify``'s job. Parsing never raises
on malformed mail: what no detector recognises is *unrecognized*.
"""

from __future__ import annotations

from dataclasses import replace
from email.utils import getaddresses

from verpd.model import RecipientFacts, Report, ReportKind
from verpd.parse.message.mail import Mail, decode_words
from verpd.parse.message.mbox import split_mbox
from verpd.parse.message.parts import header_text
from verpd.parse.registry import DETECTORS, Detector
from verpd.parse.message.text import is_internet_address, normalize_address, x400_name
from verpd.model import Command
from verpd.smtp import find_command, find_reply_code, settle

__all__ = ["DETECTORS", "Detector", "parse"]


def parse(raw: bytes) -> Report:
    """Read ``raw`` (one message, or an mbox of several) and report what it says.

    Several messages in one mbox are read one by one; the report is that of the first
    one recognised, with the recipients of every message of the same kind.
    """
    reports = [_parse_one(message) for message in split_mbox(raw)]
    if len(reports) == 1:
        return reports[0]
    first = next((r for r in reports if r.kind is not ReportKind.UNRECOGNIZED), reports[0])
    recipients = tuple(facts for r in reports if r.kind is first.kind for facts in r.recipients)
    return Report(first.kind, first.detector, recipients, first.message_id)


def _parse_one(raw: bytes) -> Report:
    mail = Mail(raw)
    message_id = mail.header("Message-ID")[:998] or None
    for detector in DETECTORS:
        recipients = detector.detect(mail)
        if recipients:
            return Report(detector.kind, detector.name, _finish(recipients, mail), message_id)
    return Report(ReportKind.UNRECOGNIZED, None, (), message_id)


def _finish(recipients: list[RecipientFacts], mail: Mail) -> tuple[RecipientFacts, ...]:
    """Settle each recipient's address (:func:`_address`) and codes (``smtp.settle``), fill the command from the diagnostic, drop duplicates."""
    done: dict[tuple[str, str | None], RecipientFacts] = {}
    returned = _ReturnedRecipients(mail, len(recipients))
    for facts in recipients:
        address, original = _address(facts, returned)
        if not address:
            continue
        diagnostic = facts.diagnostic or ""
        status, reply_code = settle(facts.status, diagnostic, facts.reply_code or find_reply_code(diagnostic))
        command = Command(facts.command) if facts.command else find_command(diagnostic)
        if (address, original, status, reply_code, command) != (
            facts.address, facts.original_recipient, facts.status, facts.reply_code, facts.command
        ) or type(facts.command) is str:
            facts = replace(facts, address=address, original_recipient=original, status=status, reply_code=reply_code, command=command)
        done.setdefault((address.lower(), facts.action), facts)
    return tuple(done.values())


def _address(facts: RecipientFacts, returned: _ReturnedRecipients) -> tuple[str | None, str | None]:
    """The failed address and the original recipient, as :class:`~verpd.model.RecipientFacts` defines them.

    Both are cleaned (``normalize_address``: type prefix, X.400 decoration, routes). A
    failed address that is no Internet mailbox (``is_internet_address``: an MTA-internal
    name such as ``user@ims-ms-daemon``, an X.400 name without an SMTP part) gives way to
    the report's other name for the recipient: the original recipient, else the matching
    recipient of the returned copy. Without one, a name that still has an ``@`` is kept
    (the failure is real, only its name is poor) and one without is dropped. The original
    recipient is kept only where it is an address and differs from the failed one.
    """
    address = normalize_address(facts.address)
    original = normalize_address(facts.original_recipient) if facts.original_recipient else ""
    if not is_internet_address(address):
        address = original if is_internet_address(original) else returned.find(address) or address
    if "@" not in address:
        return None, None
    if "@" not in original or original.lower() == address.lower():
        return address, None
    return address, original


class _ReturnedRecipients:
    """The returned original's recipients (To, Cc), read once and only when a name needs one.

    :meth:`find` matches a name by local part (``bob@mailhub0`` → ``bob@example.com``), by
    display name (``'Bob Smith'``), or by an X.400 name's common name or surname
    (``.../CN=BOB``); a report about one recipient of a message sent to one address
    needs no match.
    """

    def __init__(self, mail: Mail, count: int) -> None:
        self._mail = mail
        self._count = count
        self._index: dict[str, set[str]] | None = None  # casefolded local part or display name -> addresses
        self._sole: str | None = None

    def find(self, name: str) -> str | None:
        index = self._index if self._index is not None else self._read()
        local = name.rpartition("@")[0] if "@" in name else ""
        keys = {k.casefold() for k in (local, name.strip("'\" "), x400_name(name) or "") if k}
        found = {address for key in keys for address in index.get(key, ())}
        if len(found) == 1:
            return found.pop()
        return self._sole if not found and self._count == 1 else None

    def _read(self) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        self._index = index
        returned = self._mail.returned
        if returned is None:
            return index
        values = [decode_words(header_text(v)) for key in ("To", "Cc") for v in returned.get_all(key) or []]
        addresses: dict[str, str] = {}
        for display, address in getaddresses(values):
            if is_internet_address(address):
                addresses[address.lower()] = address
                for key in {display.casefold(), address.rpartition("@")[0].casefold()} - {""}:
                    index.setdefault(key, set()).add(address)
        self._sole = next(iter(addresses.values())) if len(addresses) == 1 else None
        return index

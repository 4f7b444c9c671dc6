"""Bounce parsing: raw bytes in, a :class:`~verpd.model.Report` of facts out.

Detectors live one per module and run most authoritative first (``registry``);
the first one that recognises the message wins. Parsers copy what the message
says; naming a reason and hard/soft is ``classify``'s job. Parsing never raises
on malformed mail: what no detector recognises is *unrecognized*.

Anyone who holds one VERP address can send us a report, so the work is linear in
the size of the message and the report is bounded: at most ``max_recipients``
recipients (and one record summing up the rest), each diagnostic at most
``MAX_DIAGNOSTIC`` characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from verpd.model import Command, RecipientFacts, Report, ReportKind
from verpd.parse.message.mail import Mail, decode_words
from verpd.parse.message.mbox import split_mbox
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import MAX_DIAGNOSTIC, is_internet_address, mailboxes, normalize_address, x400_name
from verpd.parse.registry import DETECTORS, Detector
from verpd.smtp import find_command, find_reply_code, settle

__all__ = ["DETECTORS", "MAX_RECIPIENTS", "Detector", "parse"]

# The default of ``parse.max_recipients``: far more than a real bounce names (one per
# recipient of a message we sent, which is one for verpd's VERP mail).
MAX_RECIPIENTS = 1000


def parse(raw: bytes, *, max_recipients: int = MAX_RECIPIENTS) -> Report:
    """Read ``raw`` (one message, or an mbox of several) and report what it says.

    Several messages in one mbox are read one by one; the report is that of the first
    one recognised, with the recipients of every message of the same kind (each
    recipient and action once).

    At most ``max_recipients`` distinct recipients are reported, in the order the
    message names them. When it names more, one more record stands for the rest: the
    first recipient left out, with only its address and action, and the diagnostic
    ``"N more recipients not reported (parse.max_recipients = M)"`` (N counting that
    one), so the report says it was cut and nothing is claimed of the rest.
    """
    if max_recipients < 1:
        raise ValueError(f"max_recipients must be at least 1, got {max_recipients}")
    found = [_detect(message) for message in split_mbox(raw)]
    if len(found) == 1:
        kind, detector, recipients, message_id = found[0]
        return Report(kind, detector, _finish(recipients, max_recipients), message_id)
    kind, detector, _, message_id = next((f for f in found if f[0] is not ReportKind.UNRECOGNIZED), found[0])
    every = (facts for f in found if f[0] is kind for facts in f[2])
    return Report(kind, detector, _finish(every, max_recipients), message_id)


def _detect(raw: bytes) -> tuple[ReportKind, str | None, list[RecipientFacts], str | None]:
    """(kind, detector, recipients with their addresses settled, Message-ID) of one message."""
    mail = Mail(raw)
    message_id = mail.header("Message-ID")[:998] or None
    for detector in DETECTORS:
        recipients = detector.detect(mail)
        if recipients:
            return detector.kind, detector.name, _named(recipients, mail), message_id
    return ReportKind.UNRECOGNIZED, None, [], message_id


def _named(recipients: list[RecipientFacts], mail: Mail) -> list[RecipientFacts]:
    """Each recipient with its failed and original address settled (:func:`_address`); one the report cannot name is dropped."""
    returned = _ReturnedRecipients(mail, len(recipients))
    named = []
    for facts in recipients:
        address, original = _address(facts, returned)
        if not address:
            continue
        if (address, original) != (facts.address, facts.original_recipient):
            facts = replace(facts, address=address, original_recipient=original)
        named.append(facts)
    return named


def _finish(recipients: Iterable[RecipientFacts], limit: int) -> tuple[RecipientFacts, ...]:
    """Settle the codes (``smtp.settle``), fill the command from the diagnostic, drop
    duplicates; keep ``limit`` recipients and sum up the rest in one record."""
    done: dict[tuple[str, str | None], RecipientFacts] = {}
    rest: set[tuple[str, str | None]] | None = None  # distinct recipients beyond the limit
    first_left_out: tuple[str, str | None] | None = None  # its address and action
    for facts in recipients:
        address = facts.address
        key = (address.lower(), facts.action)
        if key in done or (rest is not None and key in rest):
            continue
        if len(done) >= limit:
            rest = rest if rest is not None else set()
            rest.add(key)
            first_left_out = first_left_out or (address, facts.action)
            continue
        diagnostic = facts.diagnostic or ""
        cut = len(diagnostic) > MAX_DIAGNOSTIC
        if cut:
            diagnostic = diagnostic[:MAX_DIAGNOSTIC]
        status, reply_code = settle(facts.status, diagnostic, facts.reply_code or find_reply_code(diagnostic))
        command = Command(facts.command) if facts.command else find_command(diagnostic)
        if cut or (status, reply_code, command) != (facts.status, facts.reply_code, facts.command) or type(facts.command) is str:
            facts = replace(facts, status=status, reply_code=reply_code, command=command, diagnostic=diagnostic if cut else facts.diagnostic)
        done[key] = facts
    if first_left_out is None or rest is None:
        return tuple(done.values())
    address, action = first_left_out
    summary = RecipientFacts(address, action, diagnostic=f"{len(rest)} more recipients not reported (parse.max_recipients = {limit})")
    return (*done.values(), summary)


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
        for display, address in mailboxes(values):  # never a RecursionError on comments nested a thousand deep
            if is_internet_address(address):
                addresses[address.lower()] = address
                for key in {display.casefold(), address.rpartition("@")[0].casefold()} - {""}:
                    index.setdefault(key, set()).add(address)
        self._sole = next(iter(addresses.values())) if len(addresses) == 1 else None
        return index

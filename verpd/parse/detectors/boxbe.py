"""Boxbe's challenge notices: a challenge-response system dressed as a delivery report.

Boxbe keeps a Guest List for its users; mail from a sender not on it goes to the
user's Waiting List and the sender is asked to approve themselves (Boxbe's own
description: blog.boxbe.com, "Boxbe's Services and Features": "messages from unknown
or first-time senders are placed [in the Waiting List]"). The notice comes from a
boxbe.com address and may be written as a delivery status notification, with a
``message/delivery-status`` part whose recipient is ``delayed`` with ``Status:
4.7.0`` and the words "sender not pre-approved"; its text says the message "is
waiting for approval". Read as a DSN it would be a policy failure of the
recipient's address; it is a challenge (RFC 3834-like, not a failure), so this
detector runs before the DSN detector.

Keyed on "boxbe" in the From: or Message-ID: header (a real bounce from another MTA
never carries it at the top level) and one of Boxbe's challenge phrases in the
text. The recipients are the DSN part's, else the addresses the text names, else
the returned copy's.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.parts import header_text
from verpd.parse.message.text import find_addresses, normalize_address

_PHRASES = ("pre-approved", "waiting for approval", "guest list", "waiting list")
_YOUR_MESSAGE = re.compile(r"your message\s+(?:to|for)\s+<?", re.IGNORECASE)
_RUN = re.compile(r"[^<>\s]*")  # the address and whatever sticks to it: no blank, no bracket
_AFTER = re.compile(r">?[\s,.]")  # what may follow the address


class BoxbeDetector:
    """Boxbe "waiting for approval" notices, with or without a delivery-status part."""

    name = "boxbe"
    kind = ReportKind.CHALLENGE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "boxbe" not in mail.sender and "boxbe" not in mail.header("Message-ID").lower():
            return None
        said = " ".join([mail.subject.lower(), mail.text_lower, *(_diagnostics(mail))])
        phrase = next((p for p in _PHRASES if p in said), None)
        if phrase is None:
            return None
        addresses = _dsn_recipients(mail) or _named(mail) or _returned_recipients(mail)
        diagnostic = next((line.strip() for line in mail.lines if line.strip()), mail.subject)[:300] or None
        return [RecipientFacts(address=a, diagnostic=diagnostic) for a in dict.fromkeys(addresses)] or None


def _diagnostics(mail: Mail) -> list[str]:
    return [header_text(block.get("Diagnostic-Code")).lower() for block in mail.delivery_status]


def _dsn_recipients(mail: Mail) -> list[str]:
    found = []
    for block in mail.delivery_status:
        value = block.get("Final-Recipient") or block.get("Original-Recipient")
        if value is not None and "@" in (address := normalize_address(header_text(value))):
            found.append(address)
    return found


def _named(mail: Mail) -> list[str]:
    return [address.rstrip(".") for address in _your_message_to(mail.text[:4000])]


def _your_message_to(text: str) -> list[str]:
    r"""What ``your message\s+(?:to|for)\s+<?([^<>\s]+@[^<>\s]+?)>?[\s,.]`` finds in ``text`` (group 1 of each match).

    Read in one pass: that pattern tries each ``@`` of a run such as ``a@a@a@...`` against
    the rest of the run, in time quadratic in its length. It takes the last ``@`` (after the
    run's first character) that some end of an address follows, then the first such end after
    it: a ``,`` or ``.`` at least two characters on, or the run's end followed by a blank,
    ``,``, ``.``, or ``>`` and one of those.
    """
    found = []
    pos = 0
    while m := _YOUR_MESSAGE.search(text, pos):
        start = m.end()
        run_end = _RUN.match(text, start).end()
        last_end = run_end if _AFTER.match(text, run_end) else max(text.rfind(",", start, run_end), text.rfind(".", start, run_end))
        at = text.rfind("@", start + 1, last_end - 1) if last_end > start else -1
        if at < 0:
            pos = m.start() + 1
            continue
        ends = [i for i in (text.find(",", at + 2, run_end), text.find(".", at + 2, run_end)) if i >= 0]
        end = min(ends) if ends else run_end
        found.append(text[start:end])
        pos = _AFTER.match(text, end).end()  # type: ignore[union-attr]  # an end is always followed by one
    return found


def _returned_recipients(mail: Mail) -> list[str]:
    returned = mail.returned
    if returned is None:
        return []
    return [a for value in returned.get_all("To") or [] for a in find_addresses(str(value))]

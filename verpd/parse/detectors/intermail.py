"""Openwave (Critical Path) InterMail notices: Road Runner / Time Warner Cable and other ISPs.

InterMail's MTA answered for many ISP mail systems (Road Runner / Time Warner Cable's
``mail.rr.com``, au's EZweb, which ``ezweb`` reads). Its notices come from ``Mail
Administrator <Postmaster@host>``, a plain-text part, then the returned message::

    Subject: Mail System Error - Returned Mail

    This Message was undeliverable due to the following reason:

    Each of the following recipients was rejected by a remote mail server.
    The reasons given by the server are included to help you determine why
    each recipient was rejected.

        Recipient: <bob@example.com>
        Reason:    5.1.1 <bob@example.com>... User unknown

    Please reply to Postmaster@mail.example.com
    if you feel this message to be in error.

Other explanations name no per-recipient reason and list the addresses instead
(``Your message was not delivered because the destination computer was not reachable
within the allowed queue period`` ... ``Your message was not delivered within 5 days:
Host ... is not responding.`` / ``The following recipients did not receive this
message:`` / ``     <bob@example.com>``; ``The user(s) account is disabled.``); then
the explanation is the diagnostic. A ``Reason:`` line (or a ``>>>``/``<<<``
transcript) is the remote server's answer and is the diagnostic on its own.

``Subject: Mail System Delivery Report`` is the other notice Road Runner documents
(postmaster.rr.com/help.htm, "What is this Mail System Delivery Report I got?"):
the message "was relayed to a machine which does not handle delivery status
notifications", i.e. RFC 3464's ``relayed``, not a failure; its recipients are
those of the returned copy.

Keyed on the subject and the sign-off line ``Please reply to <Postmaster@...> if
you feel this message to be in error`` (both quoted on postmaster.rr.com/help.htm);
the explanations as in Sisimai's Lhost::EZweb (the same MTA).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import find_addresses, reply_facts, sole_address
from verpd.smtp import clean_diagnostic, find_command

_SUBJECTS = ("Mail System Error - Returned Mail", "Mail System Delivery Report")
_SIGN_OFF = b"if you feel this message to be in"
_INTRO = re.compile(r"^\s*this message was undeliverable due to the following reason", re.IGNORECASE)
_RELAYED = re.compile(r"relayed to a machine which\s+does not handle delivery status", re.IGNORECASE)
_END = re.compile(r"^\s*please reply to\b", re.IGNORECASE)
# Bracketed runs and blanks are read whole (see verpd.parse.message.text's note on address patterns).
_RECIPIENT = re.compile(r"^\s*Recipient:\s*+<?+(?=[^<>\s]+@[^<>\s])([^<>\s]++)>?\s*$", re.IGNORECASE)
_INLINE = re.compile(r"^\s*<(?=[^<>\s]+@[^<>\s])([^<>\s]++)>:\s*(\S.*)$")  # "<bob@example.com>: 550 user unknown ..."
_REASON = re.compile(r"^\s*Reason:\s*(.*)$", re.IGNORECASE)
_SENT = re.compile(r"^\s*>>>\s*(.*)$")
_ANSWER = re.compile(r"^\s*<<<\s*(.*)$")
_LIST_HEADING = re.compile(r"^\s*the following (?:recipients|destination addresses|addresses)\b.*:\s*$", re.IGNORECASE)


class InterMailDetector:
    """Openwave InterMail "Mail System Error - Returned Mail" and "Mail System Delivery Report" notices."""

    name = "intermail"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if mail.subject not in _SUBJECTS or _SIGN_OFF not in mail.raw:
            return None
        lines = mail.lines
        if _RELAYED.search(" ".join(lines[:20])):
            return _relayed(mail)
        start = next((i for i, line in enumerate(lines) if _INTRO.match(line)), None)
        if start is None:
            return None
        explanation: list[str] = []
        found: list[dict] = []
        current: dict | None = None
        for line in lines[start + 1 :]:
            if _END.match(line):
                break
            stripped = line.strip()
            if not stripped:
                if current is not None:
                    current["open"] = False
                continue
            if m := _RECIPIENT.match(line):
                current = {"address": m.group(1), "reason": [], "command": None, "open": False}
                found.append(current)
            elif m := _INLINE.match(line):
                current = {"address": m.group(1), "reason": [m.group(2)], "command": None, "open": True}
                found.append(current)
            elif (address := sole_address(stripped)) and ("<" in stripped or not explanation or _listing(explanation)):
                current = {"address": address, "reason": [], "command": None, "open": False}
                found.append(current)
            elif current is not None and (m := _REASON.match(line)):
                current["reason"].append(m.group(1))
                current["open"] = True
            elif current is not None and (m := _SENT.match(line)):
                current["command"] = find_command(">>> " + m.group(1))
            elif current is not None and (m := _ANSWER.match(line)):
                current["reason"].append(m.group(1))
                current["open"] = True
            elif current is not None and current["open"]:
                current["reason"].append(stripped)  # a reason folded onto the next line
            elif not found:
                explanation.append(stripped)
        context = clean_diagnostic(" ".join(line for line in explanation if not _LIST_HEADING.match(line)))[:1000]
        return [
            reply_facts(
                f["address"],
                clean_diagnostic(" ".join(f["reason"])) or context or None,
                action="failed",
                command=f["command"],
            )
            for f in found
        ] or None


def _listing(explanation: list[str]) -> bool:
    """Whether the explanation has just introduced a list of addresses."""
    return bool(_LIST_HEADING.match(explanation[-1]))


def _relayed(mail: Mail) -> list[RecipientFacts] | None:
    """The recipients of a "Mail System Delivery Report": the returned copy's, relayed onward."""
    returned = mail.returned
    if returned is None:
        return None
    addresses = [a for field in ("To", "Cc") for value in returned.get_all(field) or [] for a in find_addresses(str(value))]
    return [RecipientFacts(address=a, action="relayed") for a in dict.fromkeys(addresses)] or None

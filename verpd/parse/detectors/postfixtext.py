"""Postfix's notices read from their text: the early releases without a DSN part, and any copy without one.

Postfix writes every notice with the same human-readable letter. The first
releases (postfix-beta-19990122, postfix-19990317: ``bounce/bounce_flush_service.c``,
``bounce_notify_service.c``) sent it as plain text with no MIME at all; from
snapshot-19990405 until the end of 2000 it came as ``multipart/mixed`` (a
``Notification`` text part and the ``Undelivered Message``) unless built with
``-DDSN``; only from snapshot-20000924 (``bounce_notify_util.c``) is a
``message/delivery-status`` part always there. The letter of those releases::

    This is the Postfix program at host mail.example.net.

    I'm sorry to have to inform you that the message returned
    below could not be delivered to one or more destinations.
    ...
                            The Postfix program

            --- Delivery error report follows ---

    <bob@example.com>: host mx.example.com[192.0.2.1] said: 550
        <bob@example.com>... User unknown

            --- Undelivered message follows ---

(``This is the %s program``, ``The %s program`` name ``$mail_name``; a delay warning
says ``# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #``.)
Postfix 2.1/2.2 wrote ``I'm sorry to have to inform you that your message could
not be / be delivered ...``; 2.3 and later take the text from the built-in bounce
templates (``bounce_templates.c``): ``This is the mail system at host %s.`` ...
``The mail system``. A copy of a notice whose DSN part was dropped (a gateway that
passes text only, a notice forwarded inline) keeps that letter and nothing else.

Each recipient is one paragraph written by ``bounce_recipient_log()`` /
``bounce_append_service.c``: ``<address>: reason`` or ``<address> (expanded from
<original>): reason``, long lines wrapped at 79 columns with continuation lines
indented by four spaces. The reason is the diagnostic: the remote server's reply
(``host H[A] said: ... (in reply to RCPT TO command)``, which also gives the remote
MTA and the command) or Postfix's own words (``unknown user: "bob"``, ``connect to
H[A]: Connection timed out``, ``Host or domain name not found. ...``).

A notice with a ``message/delivery-status`` part is the standard DSN detector's;
this one only sees what that one did not read. Only the report is read: a letter
that appears below another MTA's "copy of the message" marker is a returned copy
(a bounce of a Postfix notice), not this notice.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.notice import report_lines
from verpd.parse.message.text import LazyPattern, reply_facts

# Lower-cased substrings only Postfix's letter has (bounce_notify_service.c, bounce_templates.c).
_LETTER = (
    "this is the postfix program at host",
    "this is the mail system at host",
    "i'm sorry to have to inform you that the message returned",
    "i'm sorry to have to inform you that your message could not",
    "--- delivery error report follows ---",
)
# The bracketed run is read whole (see verpd.parse.message.text's note on address patterns).
_RECIPIENT = LazyPattern(r"^<(?=[^<>\s]+@[^<>\s])([^<>\s]++)>(?:\s+\(expanded from <([^<>]*)>\))?:\s*(.*)$")
_COPY = LazyPattern(r"^\s*--- (?:undelivered message (?:follows|unavailable)|delivery error report unavailable) ---", re.IGNORECASE)
_REMOTE = LazyPattern(r"\b(?:host|connect to)\s+([^\s\[\]]+)\[[^\]]*\]", re.IGNORECASE)
_WARNING = "this is a warning only"
_SUCCESS = "was successfully delivered"


class PostfixTextDetector:
    """Postfix's letter ("This is the Postfix program" / "This is the mail system at host") with ``<address>: reason`` paragraphs."""

    name = "postfix"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not any(marker in mail.text_lower for marker in _LETTER):
            return None
        lines = report_lines(mail.lines, len(mail.lines))
        text = "\n".join(lines).lower()
        if not any(marker in text for marker in _LETTER):
            return None  # the letter is in a returned copy: another MTA's bounce of a Postfix notice
        action = "delayed" if _WARNING in text else "delivered" if _SUCCESS in text else "failed"
        found: list[RecipientFacts] = []
        current: tuple[str, str | None, list[str]] | None = None
        for line in lines:
            if _COPY.match(line):
                break
            if line.startswith("<") and (m := _RECIPIENT.match(line.rstrip())):
                if current:
                    found.append(_facts(*current, action))
                current = (m.group(1), m.group(2) or None, [m.group(3)])
            elif current and line[:1] in (" ", "\t") and line.strip():
                current[2].append(line.strip())
            elif current:
                found.append(_facts(*current, action))
                current = None
        if current:
            found.append(_facts(*current, action))
        return found or None


def _facts(address: str, original: str | None, reason: list[str], action: str) -> RecipientFacts:
    diagnostic = " ".join(" ".join(reason).split()) or None
    remote = _REMOTE.search(diagnostic) if diagnostic else None
    return reply_facts(
        address,
        diagnostic,
        action=action,
        remote_mta=remote.group(1) if remote else None,
        original_recipient=original if original and original.lower() != address.lower() else None,
    )

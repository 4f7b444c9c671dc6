"""Gmail's plain-text delivery notices (the format used before Gmail switched to DSNs).

Gmail (``From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>``, Subject
"Delivery Status Notification (Failure)" or "(Delay)") sent a text/plain notice
with no ``message/delivery-status`` part:

    Delivery to the following recipient failed permanently:      (or: has been delayed:)

         bob@example.com

    Technical details of permanent failure:
    Google tried to deliver your message, but it was rejected by the server for the
    recipient domain example.com by mx.example.com. [192.0.2.25].

    The error that the other server returned was:
    550 5.1.1 <bob@example.com>... User Unknown

    ----- Original message -----

The failed addresses are the indented lines after the first sentence (one line
each when there are several: "...following recipients failed permanently:"). The
remote server's reply follows "The error that the other server returned was:"
(in older notices on the same line as the boilerplate, ending "(state 14)."); when
there is no reply, Gmail's own explanation after "Technical details of ... failure:"
is the error ("The recipient server did not accept our requests to connect.",
"DNS Error: Domain name not found"). A delay notice without technical details says
only "Message will be retried for 2 more day(s)". Gmail's "(state N)" suffix names
the SMTP stage that failed; the stages below are the ones documented with samples
in Sisimai's Lhost/Gmail.pm (14: the recipient was refused; 15, 17, 18: refused
after DATA; 13: refused at the greeting/EHLO; 6: TLS failure before MAIL).
The notice is recognised by Google's MAILER-DAEMON sender, or by a MAILER-DAEMON
sender (relays rewrite it) together with Gmail's "Technical details of ... failure"
wording. Gmail also sets X-Failed-Recipients on permanent failures; this detector
runs before the Exim one so that the error text is read too.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, find_addresses
from verpd.smtp import clean_diagnostic

_GOOGLE = re.compile(r"mailer-daemon@(?:googlemail|gmail|google)\.com")
_WORDING = b"Technical details of "  # "... of permanent failure:" / "... of temporary failure:", Gmail's own words
_START = re.compile(r"^\s*Delivery to the following recipients? (?:has|have) been delayed|^\s*Delivery to the following recipients? (?:failed|could not)", re.IGNORECASE)
_END = re.compile(r"^\s*-{3,}\s*(?:Original message|Message header follows)", re.IGNORECASE)
_DETAILS = re.compile(r"Technical details of (?:permanent|temporary) failure:\s*", re.IGNORECASE)
_REPLY = re.compile(r"The error that the other server returned was:\s*", re.IGNORECASE)
_REMOTE = re.compile(r"for the recipient domain \S+ by (\S+?)\.? \[[0-9A-Fa-f.:]+\]")
_STATE = re.compile(r"\(state (\d+)\)")
# Gmail's "(state N)" → the SMTP command in progress (samples quoted in Sisimai's Lhost/Gmail.pm).
_STATE_COMMANDS = {"6": "MAIL", "13": "EHLO", "14": "RCPT", "15": "DATA", "17": "DATA", "18": "DATA"}


class GmailDetector:
    """Gmail's legacy plain-text notices: "Delivery to the following recipient failed permanently"."""

    name = "gmail"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _GOOGLE.search(mail.sender) and not ("mailer-daemon@" in mail.sender and _WORDING in mail.raw):
            return None
        lines = mail.lines
        start = next((i for i, line in enumerate(lines[:200]) if _START.match(line)), None)
        if start is None:
            return None
        action = "delayed" if "delayed" in lines[start].lower() else "failed"
        addresses: list[str] = []
        rest: list[str] = []
        for line in lines[start + 1 :]:
            if _END.match(line):
                break
            if not rest and (line[:1].isspace() or ADDRESS.fullmatch(line.strip().strip("<>"))) and (found := find_addresses(line)):
                addresses.append(found[-1])
            elif line.strip() and (addresses or rest):
                rest.append(line.strip())
        if not addresses:
            return None
        diagnostic, remote, command = _error(" ".join(rest))
        return [
            RecipientFacts(address=address, action=action, diagnostic=diagnostic, remote_mta=remote, command=command)
            for address in dict.fromkeys(addresses)
        ]


def _error(text: str) -> tuple[str | None, str | None, str | None]:
    """The error text, the remote host and the SMTP command from the technical details."""
    remote = m.group(1) if (m := _REMOTE.search(text)) else None
    if m := _REPLY.search(text):
        error = text[m.end() :]
    elif m := _DETAILS.search(text):
        error = text[m.end() :]
    else:
        error = text
    state = _STATE.search(error)
    command = _STATE_COMMANDS.get(state.group(1)) if state else None
    return clean_diagnostic(error) or None, remote, command

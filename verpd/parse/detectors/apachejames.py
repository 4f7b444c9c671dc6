"""Apache James's bounces (https://james.apache.org/), in its three text layouts.

James (Received ``by host (JAMES SMTP Server 2.3.2)``, Message-ID ``....JavaMail....``)
bounces through one of its mailets:

* RemoteDelivery's own bounce and the DSNBounce mailet::

      Hi. This is the James mail server at mx.example.org.
      I'm afraid I wasn't able to deliver your message to the following addresses.
      ...
      Failed recipient(s):
      bob@example.com

      Error message:
      550 5.1.1 <bob@example.com>... User unknown

  (older RemoteDelivery lists the addresses right after the banner, then the error,
  e.g. ``Remote mail server told me: 550 ...``);
* AbstractNotify (the Bounce / NotifySender mailets), ``Subject: [BOUNCE]``::

      Error message below:
      550 - Requested action not taken: no such user here

      Message details:
        Subject: Hello
        MAIL FROM: alice@example.org
        RCPT TO: bob@example.com

The recipients are the listed addresses (``RCPT TO:`` lines); the error text is the
diagnostic.
"""

from __future__ import annotations

import re
from dataclasses import replace

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import reply_facts, sole_address, unfold_reply

_MARKERS = (b"Message details:", b"Failed recipient(s):", b"This is the James mail server")
_RCPT = re.compile(r"^\s+RCPT TO:\s*<?([^<>\s]+@[^<>\s@]+)>?\s*$", re.IGNORECASE)
_INTRO_END = re.compile(r"^your message\.?$", re.IGNORECASE)
_LABELS = re.compile(r"^(?:failed recipient\(s\)|error message(?: below)?|message details|original email subject)\s*:", re.IGNORECASE)


class ApacheJamesDetector:
    """Apache James bounces (RemoteDelivery, DSNBounce, Bounce/NotifySender)."""

    name = "apachejames"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        fingerprint = mail.subject == "[BOUNCE]" or ".JavaMail." in mail.header("Message-ID") or b"JAMES SMTP Server" in mail.raw
        if not fingerprint and b"This is the James mail server" not in mail.raw:
            return None
        if not any(marker in mail.raw for marker in _MARKERS):
            return None
        lines = [line.rstrip() for line in mail.lines]
        addresses, error = _read(lines)
        diagnostic = unfold_reply(error) or None
        if not addresses:
            return None
        facts = reply_facts(addresses[0], diagnostic, action="failed")  # the codes are read once: every address shares the error
        return [replace(facts, address=address) for address in dict.fromkeys(addresses)]


def _read(lines: list[str]) -> tuple[list[str], list[str]]:
    """(recipients, error lines) from whichever layout the letter uses."""
    addresses: list[str] = []
    error: list[str] = []
    preamble: list[str] = []
    section = None
    banner = False
    for line in lines:
        text = line.strip()
        label = _LABELS.match(text)
        if label:
            section = label.group(0).lower().rstrip(":").split()[0]  # failed / error / message / original
            continue
        if text.startswith("Hi. This is the James mail server"):
            banner = True
            continue
        if banner and _INTRO_END.match(text):
            section, banner = "list", False
            continue
        if section in ("failed", "list") and (address := sole_address(text)):
            addresses.append(address)
        elif section == "list" and text:
            error.append(text)  # old RemoteDelivery: the error follows the addresses
        elif section == "error" and text:
            error.append(text)
        elif section == "message" and (m := _RCPT.match(line)):
            addresses.append(m.group(1))
        elif section == "error" and not text and error:
            section = None
        elif section is None and not banner and text and not addresses:
            preamble.append(text)  # a notice with no "Error message below:" explains itself up front
    return addresses, error or preamble

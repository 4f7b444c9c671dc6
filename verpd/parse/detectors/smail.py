"""Smail 3 and the mailers that copied its notice (T-Online's among them): banner-framed sections.

Smail 3's error notice (``src/notify.c``) frames each part of the report with a rule of
dashes between ``|`` bars, and KMail and T-Online's mail system write the same frame::

    |------------------------- Message log follows: -------------------------|
     no valid recipients were found for this message
    |------------------------- Failed addresses follow: ---------------------|
     bob@example.com ... unknown host
    |------------------------- Message text follows: ------------------------|

Each failed address starts a line of the "Failed addresses" section, with Smail's reason
after `` ... `` on the same line; T-Online puts the address in angle brackets and the
remote server's reply, indented, on the lines below it. The section ends at the next
banner (``Message text follows``, ``Message header follows``).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import ADDRESS, reply_facts

# Runs of blanks and the address's run are read whole (see verpd.parse.message.text's note on address patterns).
_FAILED = re.compile(r"^\|?-{5,}\s*failed addresses follow:?+\s*+-*+\|?+\s*+$", re.IGNORECASE)
# ("\s*[\w ]+follows?" read as: the blanks whole, then words, or the blanks' last space standing for them)
_BANNER = re.compile(r"^\|?-{5,}\s*+(?:[\w ]+|(?<= ))follows?:?+\s*+-*+\|?+\s*+$", re.IGNORECASE)
_ENTRY = re.compile(r"^\s?+<?+(?=[^\s<>]+@[^\s<>])([^\s<>]++)>?(?:\s+\.\.\.\s*(.*))?\s*$")


class SmailDetector:
    """The ``|---- Failed addresses follow: ----|`` notice of Smail 3 and T-Online."""

    name = "smail"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "failed addresses follow" not in mail.text_lower:
            return None
        entries: list[tuple[str, list[str]]] = []
        inside = False
        for line in mail.lines:
            if not inside:
                inside = bool(_FAILED.match(line.strip()))
                continue
            if _BANNER.match(line.strip()):
                break
            if not line.strip():
                continue
            m = _ENTRY.match(line) if not line.startswith(("  ", "\t")) else None
            if m and ADDRESS.fullmatch(m.group(1)):
                entries.append((m.group(1), [m.group(2)] if m.group(2) else []))
            elif entries:
                entries[-1][1].append(line.strip())
        found = [reply_facts(address, " ".join(" ".join(words).split()) or None, action="failed") for address, words in entries]
        return found or None

"""fml, the mailing-list manager (https://www.fml.org/), refusing or returning a post.

fml's notices carry ``X-MLServer: fml [fml 4.0.3 ...]``, come from the list's
``-admin@`` address with a Message-ID containing ``.FML``, and explain in a line or two
which address the problem is about, bracketed (``You are not a member of this mailing
list <list@example.org>.``, ``Duplicated Message-ID in <list@example.org>.``, ``NOT
MEMBER article from <someone@example.org>``) before ``Original mail as follows:``. The
bracketed address is the recipient and its paragraph the diagnostic; the subject
(``Loop Alert: ...``, ``Security Alert``) is appended when the text says little.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail

_END = re.compile(r"^\s*Original mail as follows", re.IGNORECASE)
_BRACKETED = re.compile(r"<([^<>\s]+@[^<>\s@]+)>")


class FmlDetector:
    """fml's notices to a poster or list administrator."""

    name = "fml"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not mail.header("X-MLServer").lower().startswith("fml") or ".FML" not in mail.header("Message-ID").upper():
            return None
        found: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in mail.lines:
            if _END.match(line):
                break
            text = line.strip()
            if not text:
                current = None
                continue
            if m := _BRACKETED.search(text):
                current = found.setdefault(m.group(1), [])
                current.append(text)
            elif current is not None:
                current.append(text)
        return [
            RecipientFacts(address=address, action="failed", diagnostic=" ".join(" ".join(lines).split()) or mail.subject or None)
            for address, lines in found.items()
        ] or None

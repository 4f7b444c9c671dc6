"""Google Groups' refusals to post ("the group you tried to contact may not exist").

When a message to a Google Group is not accepted (the group does not exist, or the
sender may not post to it), Gmail's delivery subsystem (``mailer-daemon@googlemail.com``,
Subject "Delivery Status Notification (Failure)") answers with a text/plain letter in
the sender's language and no DSN part:

    Hello alice@example.org,

    We're writing to let you know that the group you tried to contact (announce)
    may not exist, or you may not have permission to post messages to the group.
    A few more details on why you weren't able to post:

     * You might have spelled or formatted the group name incorrectly.
     * The owner of the group may have removed this group.
     ...
    If you have questions related to this or any other Google Group,
    visit the Help Center at https://groups.google.com/support/.

The failed group addresses are in ``X-Failed-Recipients`` (the letter names only the
group's short name); the letter always links to groups.google.com, which tells it
from Gmail's other notices (the sender is MAILER-DAEMON, of Google's domain unless
a relay rewrote it). The explanation paragraphs (greeting to the bullet list)
(after the greeting, which names the sender) are the diagnostic, in whatever
language Google wrote them.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.smtp import clean_diagnostic

_END = re.compile(r"^\s*-{3,}\s*Original message", re.IGNORECASE)
_BULLET = re.compile(r"^\s*\*\s")


class GoogleGroupsDetector:
    """Google Groups' "you may not have permission to post" letters (X-Failed-Recipients + groups.google.com)."""

    name = "googlegroups"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if "mailer-daemon@" not in mail.sender or mail.msg.get("X-Failed-Recipients") is None:
            return None
        if "groups.google.com" not in mail.text:
            return None
        addresses = []
        for value in mail.headers("X-Failed-Recipients"):
            addresses += [a.strip().strip("<>") for a in value.split(",") if "@" in a]
        if not addresses:
            return None
        diagnostic = _explanation(mail.lines)
        return [RecipientFacts(address=address, action="failed", diagnostic=diagnostic) for address in dict.fromkeys(addresses)]


def _explanation(lines: list[str]) -> str | None:
    """The letter from its greeting to the end of the bullet list (or its first two paragraphs)."""
    kept: list[str] = []
    paragraphs = 0
    in_bullets = False
    for line in lines:
        if _END.match(line):
            break
        if not line.strip():
            if kept and not kept[-1] == "":
                paragraphs += 1
                kept.append("")
                if in_bullets or paragraphs >= 4:
                    break
            continue
        if not kept and "@" in line and len(line) < 120:
            continue  # the greeting ("Hello alice@example.org,") names the sender, not the error
        in_bullets = in_bullets or bool(_BULLET.match(line))
        kept.append(line.strip())
    return clean_diagnostic(" ".join(kept)) or None

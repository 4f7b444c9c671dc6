"""au by KDDI (EZweb, ezweb.ne.jp / au.com) mobile mail bounces.

EZweb's notices come from ``Postmaster@ezweb.ne.jp`` (``Postmaster@au.com``) with
``Subject: Mail System Error - Returned Mail``, hops ``by ... (EZweb Mail) with`` and
Message-IDs ``@...ezweb.ne.jp``; two of those marks identify one. The body is a
Japanese paragraph (ISO-2022-JP) repeated in English, then either Postfix-style
lines or a transcript::

    The user(s) account is disabled.

    <bob@ezweb.ne.jp>: 550 user unknown (in reply to RCPT TO command)

    Each of the following recipients was rejected by a remote mail server.

        Recipient: <bob@example.com>
        >>> RCPT TO:<bob@example.com>
        <<< 550 <bob@example.com>: User unknown

The diagnostic is the English explanation followed by the reply; ``>>>`` names the
command. The Japanese paragraph says the same as the English one and is used only
when there is no English text (it is decoded from ISO-2022-JP like any text part).
A notice with ``X-SPASIGN: NG`` was refused by the recipient's domain filter.
Layout as in Sisimai's Lhost::EZweb and its set-of-emails samples.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.smtp import find_command

_RECIPIENT = re.compile(r"^\s*(?:Recipient:\s*)?<([^<>\s]+@[^<>\s@]+)>:?\s*(.*)$", re.IGNORECASE)
_SENT = re.compile(r"^\s*>>>\s*(.*)$")
_REPLY = re.compile(r"^\s*<<<\s*(.*)$")
_CONTEXT = 500  # characters of the letter's explanation kept: every recipient's diagnostic starts with them
_END = re.compile(r"^(?:-{20,}|Content-Type:|Received:)", re.IGNORECASE)


class EZwebDetector:
    """au by KDDI / EZweb "Mail System Error - Returned Mail" notices."""

    name = "ezweb"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if _marks(mail) < 2:
            return None
        explanation: list[str] = []
        japanese: list[str] = []
        found: list[dict] = []
        for line in mail.lines:
            if _END.match(line):
                break
            stripped = line.strip()
            if not stripped.isascii():
                if "\ufffd" not in stripped:  # text in a charset other than the declared one is noise
                    japanese.append(stripped)
                continue
            if not stripped:
                continue
            if m := _RECIPIENT.match(line):
                found.append({"address": m.group(1), "reply": [m.group(2)] if m.group(2) else [], "command": None})
            elif found and (m := _SENT.match(line)):
                found[-1]["command"] = _command(m.group(1))
            elif found and (m := _REPLY.match(line)):
                found[-1]["reply"].append(m.group(1).strip())
            elif not found:
                explanation.append(stripped)
            else:
                found[-1]["reply"].append(stripped)
        context = (" ".join(explanation) or " ".join(japanese))[:_CONTEXT]
        return [
            RecipientFacts(
                address=f["address"],
                action="failed",
                diagnostic=" ".join([context, *f["reply"]]).strip() or None,
                command=f["command"] or find_command(" ".join(f["reply"])),
            )
            for f in found
        ] or None


def _marks(mail: Mail) -> int:
    sender = mail.sender
    marks = int("postmaster@ezweb.ne.jp" in sender or "postmaster@au.com" in sender)
    marks += mail.subject == "Mail System Error - Returned Mail"
    marks += any("(EZweb Mail) with" in r or ".au.com (" in r for r in mail.headers("Received"))
    message_id = mail.header("Message-ID")
    marks += message_id.endswith((".ezweb.ne.jp>", ".au.com>"))
    return marks


def _command(sent: str) -> str | None:
    word = sent.split(":")[0].strip().upper()
    if word.startswith(("HELO", "EHLO")):
        return "EHLO"
    for command in ("MAIL", "RCPT", "DATA"):
        if word.startswith(command):
            return command
    return None

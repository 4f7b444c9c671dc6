"""Automatic replies (RFC 3834) and challenge-response messages: never bounces.

An auto-reply is recognised by what RFC 3834 §5 asks responders to write
(``Auto-Submitted: auto-replied``) and by what common responders write instead:
``X-Autoreply``/``X-Autorespond`` (Sieve vacation, cPanel), ``Precedence:
auto_reply``, Exchange's ``X-MS-Exchange-Inbox-Rules-Loop`` and ``X-Auto-Response-
Suppress``, or a subject such as "Out of Office", "Automatic reply",
"Abwesenheitsnotiz", "Réponse automatique". Its recipient is the responder, the
address in ``From:``. Bounces often carry ``Auto-Submitted`` too, so these
detectors run last and never claim a message from a mailer daemon.

A challenge-response system (TMDA, BoxTrapper, Spam Arrest, ...) asks the sender
to prove being a person before the mail is delivered: not a failure either. These
run last; a challenge written as a delivery status notification (Boxbe's) would be
claimed by the DSN detector first, so it has its own detector ahead of it (``boxbe``).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.text import find_addresses

_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery|delivery subsystem|mail administrator", re.IGNORECASE)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-MS-Exchange-Inbox-Rules-Loop", "X-Vacation", "X-Autoresponder")
_AUTO_SUBJECT = re.compile(
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?(?:reply|response|respons|answer)|autoreply|autoresponder|\bvacation\b|"
    r"abwesenheit|automatische antwort|réponse automatique|respuesta automática|fuera de la oficina|risposta automatica|"
    r"automatisch antwoord|afwezig|resposta automática|ausente|automatyczna odpowiedź|自動応答|自動返信|不在",
    re.IGNORECASE,
)
_CHALLENGE_HEADERS = ("X-Boxtrapper", "X-Spamarrest", "X-Delivery-Agent-Challenge")
_CHALLENGE_SUBJECT = re.compile(
    r"^(?:please confirm your message|your e-?mail requires verification|.*\bverify#|.*challenge[- ]response)",  # TMDA, BoxTrapper
    re.IGNORECASE,
)
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|sv|vs|antw|fwd?|wg|tr)\s*:", re.IGNORECASE)  # a person's reply or forward


def _not_from_a_daemon(mail: Mail) -> str | None:
    """The sender's address, unless the message comes from a mail system (a bounce)."""
    if not mail.sender or _DAEMON.search(mail.sender) or mail.delivery_status:
        return None
    addresses = find_addresses(mail.sender)
    return addresses[-1] if addresses else None


class ChallengeResponseDetector:
    """Challenge-response systems asking the sender to confirm (TMDA, BoxTrapper, Spam Arrest)."""

    name = "challenge"
    kind = ReportKind.CHALLENGE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        by_subject = _CHALLENGE_SUBJECT.search(mail.subject) and not _REPLY_SUBJECT.match(mail.subject)
        if not (any(mail.msg.get(h) is not None for h in _CHALLENGE_HEADERS) or by_subject):
            return None
        sender = _not_from_a_daemon(mail)
        return [RecipientFacts(address=sender, diagnostic=mail.subject or None)] if sender else None


class AutoReplyDetector:
    """RFC 3834 auto-replies: vacation notices, out-of-office, auto-responders."""

    name = "autoreply"
    kind = ReportKind.AUTOREPLY

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        auto_submitted = mail.header("Auto-Submitted").lower()
        marked = (
            auto_submitted.startswith("auto-replied")
            or mail.header("Precedence").lower() in ("auto_reply", "auto-reply")
            or any(mail.msg.get(h) is not None for h in _AUTO_HEADERS)
        )
        by_subject = _AUTO_SUBJECT.search(mail.subject) and not _REPLY_SUBJECT.match(mail.subject) and auto_submitted != "no"
        if not (marked or by_subject):
            return None
        sender = _not_from_a_daemon(mail)
        if not sender:
            return None
        text = " ".join(line.strip() for line in mail.lines[:20] if line.strip())[:300]
        return [RecipientFacts(address=sender, diagnostic=text or mail.subject or None)]

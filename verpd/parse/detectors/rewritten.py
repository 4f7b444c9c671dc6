"""Notices from gateways that rewrote the recipient: "originally addressed to <address>".

A gateway or forwarding service that maps the address we wrote to an internal one
(a mailbox server's name, an alias's target) reports the failure under the rewritten
address and names ours beside it: "The message was originally addressed to
bob@example.com", "<b.smith@mbx01.corp.example.net> (originally addressed to
<bob@example.com>)", "The original message was addressed to: bob@example.com",
"Original recipient: bob@example.com". The rewritten address means nothing to the
sender; the original one is the recipient that failed as far as the sender can tell,
so it is the one reported, and the rewritten one is dropped (RecipientFacts: an
MTA-internal name never stands for the recipient). Read like this, a reader of
"could not be delivered to <address>" would otherwise take the internal address.

Only a notice from a mail system (a MAILER-DAEMON or postmaster sender, or a null
envelope sender) that also says the delivery failed is read; the address is taken
from the report, never from the returned copy. The diagnostic is the error text
nearest to it: its own paragraph when that carries a reply code, a status code or
a "Reason:"-style line, else the nearest paragraph that does, else the sentence
saying the delivery failed. (Sisimai's fallback reads an address after "addressed
to" the same way, lib/Sisimai/RFC3464.pm.)
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.notice import daemon_sender, not_a_notice, null_sender, own_addresses, paragraphs_of, report_lines, usable
from verpd.parse.message.text import ADDRESS, LazyPattern, reply_facts

MAX_RECIPIENTS = 50
MAX_DIAGNOSTIC = 1000  # characters of a paragraph kept as a diagnostic
_CUES = ("addressed to", "original recipient")
# Blanks before the address are read whole (see verpd.parse.message.text's note on address patterns).
_ORIGINAL = LazyPattern(
    r"(?:(?:originally|initially)\s+(?:addressed|sent|directed)\s+to|original\s+(?:message|mail|e-?mail)\s+was\s+(?:addressed|sent)\s+to|"
    r"original(?:ly)?\s+(?:intended\s+)?recipient(?:\s+address)?(?:\s+(?:was|is))?)\s*+:?+\s*+[<\"'(\[]*+\s*+(" + ADDRESS.pattern + r")",
    re.IGNORECASE,
)
_FAILED = LazyPattern(
    r"(?:could\s*not|couldn't|cannot|can't|was\s+not|wasn't|has\s+not\s+been)\s+(?:be\s+)?deliver|undeliver|"
    r"deliver\w*\s+(?:has\s+|to\s+\S+\s+)?failed|failed\s+to\s+deliver|unable\s+to\s+deliver|\brejected\b|\brefused\b|permanent\s+error",
    re.IGNORECASE,
)
_ERROR = LazyPattern(
    r"(?<![\d.:/-])[45]\d\d(?![\d.:/])|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d.])|^\s*(?:reason|error|diagnostic|cause|remote\s+server\s+(?:said|replied))\b[^:]{0,30}:",
    re.IGNORECASE | re.MULTILINE,
)


class RewrittenRecipientDetector:
    """A mail system's failure notice naming the address as "originally addressed to": that address failed."""

    name = "rewritten"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not any(cue in mail.text_lower for cue in _CUES):
            return None
        if not (daemon_sender(mail) or null_sender(mail)) or not_a_notice(mail):
            return None
        paragraphs = paragraphs_of(report_lines(mail.lines))
        if not any(_FAILED.search(p) for p in paragraphs):
            return None
        own = own_addresses(mail)
        originals: list[tuple[int, str]] = []
        seen: set[str] = set()
        for i, paragraph in enumerate(paragraphs):
            for m in _ORIGINAL.finditer(paragraph):
                address = m.group(1).rstrip(".")
                if usable(address, own) and address.lower() not in seen and len(originals) < MAX_RECIPIENTS:
                    seen.add(address.lower())
                    originals.append((i, address))
        errors = [bool(_ERROR.search(p)) for p in paragraphs]  # once each: several addresses may share a paragraph
        found = []
        for n, (i, address) in enumerate(originals):
            bounds = (originals[n - 1][0] if n else -1, originals[n + 1][0] if n + 1 < len(originals) else len(paragraphs))
            diagnostic = _diagnostic(paragraphs, errors, i, bounds)
            found.append(reply_facts(address, diagnostic[:MAX_DIAGNOSTIC] if diagnostic else None, action="failed"))
        return found or None



def _diagnostic(paragraphs: list[str], errors: list[bool], i: int, bounds: tuple[int, int]) -> str | None:
    """The error text for the address named in paragraph ``i``: its own, else the nearest within ``bounds``."""
    if errors[i]:
        return paragraphs[i]
    after = (k for k in range(i + 1, bounds[1]) if errors[k])
    before = (k for k in range(i - 1, bounds[0], -1) if errors[k])
    k = next(after, None)
    if k is None:
        k = next(before, None)
    if k is not None:
        return paragraphs[k]
    return next((p for p in paragraphs[bounds[0] + 1 : bounds[1]] if _FAILED.search(p)), None)

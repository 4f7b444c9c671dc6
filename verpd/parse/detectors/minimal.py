"""Minimal failure notices from a mail system: one sentence names the address that failed.

Small MTAs, filters and hosted services answer with a line or two of their own
rather than an MTA's stock report:

    Your message to bob@example.com could not be delivered because the
    recipient's mailbox does not exist.

    Delivery to the following recipient failed: bob@example.com

    Your message "Minutes" was not delivered to bob@example.com because ...

Nothing but the sentence marks them, and their envelope often says little (no
Return-Path header where the final MTA added none, a neutral Subject such as
"Message status"), so the fallback, which wants two signs of a bounce in the
envelope and headers, leaves them. This reader wants one sign, a mail-system
sender (MAILER-DAEMON, postmaster, "Mail Delivery System") or a null envelope
sender, and then a sentence of one of those shapes in the report:

* "[your|the] message [to|for] <address> could not be delivered / was not delivered /
  did not reach / was undeliverable / was rejected / was returned";
* "could not deliver / was not delivered / unable to deliver [your message] to
  <address>";
* "delivery to <address> failed", "delivery to the following recipient failed:
  <address>" (the address on the same line or alone in the next paragraph),
  "undeliverable to <address>".

The address comes from that sentence only: never from the returned copy, never one
of the notice's own or the original sender's addresses. A notice that says it will
retry ("not delivered yet", "will retry", "delayed") gives the action "delayed", any
other "failed". The diagnostic is the reason sentence: the sentence itself when it
says why (a "because" clause, a code, words that name the failure), else the next
paragraph that does, else the sentence. Auto-replies (which RFC 3834 also sends from
a null sender) and challenge-response requests are left alone: an
``Auto-Submitted: auto-replied`` message not from a mail system, an auto-reply or
challenge header or Subject, or a report asking the sender to confirm or verify
anything is never read. It runs after the fallback, which reads fuller reports of
the same kind better.
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.notice import CHALLENGE_WORDS, daemon_sender, not_a_notice, null_sender, own_addresses, paragraphs_of, report_lines, usable
from verpd.parse.message.text import ADDRESS, LazyPattern, reply_facts, sole_address

MAX_LINES = 60  # a minimal notice is short; the sentence is near the top
MAX_RECIPIENTS = 10
MAX_DIAGNOSTIC = 1000  # characters of a sentence or paragraph kept as a diagnostic
_CUES = ("deliver", "reject", "refused", "returned", "bounced", "reach")  # one is in every sentence below

# An address in brackets or quotes, and the blanks around it, each run of blanks read whole (see
# verpd.parse.message.text's note on address patterns: 2000 blanks after "could not deliver to" took 34 s).
_ADDR = r"[<\"'(\[]?+\s*+(" + ADDRESS.pattern + r")"
_END = r"\s*+[>\"')\]]?+"  # the address ends the sentence
_THEN = r"(?:\s*+[>\"')\]]\s++|\s++)"  # words follow the address
_NOT = r"(?:could\s*not|couldn't|cannot|can't|can\s+not|was\s+not|wasn't|has\s+not\s+been|hasn't\s+been|did\s+not|didn't|were\s+not|unable\s+to|failed\s+to|not\s+able\s+to)"
_SENTENCE = LazyPattern(
    # "Your message to <addr> could not be delivered", "The message for <addr> was rejected"
    r"\b(?:(?:your|the|this)\s+)?(?:e-?mail\s+|mail\s+)?message(?:\s+\"[^\"]{0,120}\")?\s+(?:to|for|addressed\s+to)\s++" + _ADDR + _THEN +
    r"(?:" + _NOT + r"\s+(?:be\s+)?(?:deliver(?:ed)?|reach(?:ed)?|sent|transmitted|relayed)|(?:was|is|has\s+been)\s+(?:undeliverable|rejected|refused|returned|bounced|not\s+accepted))"
    # "... could not be delivered to <addr>", "We were unable to deliver your message to <addr>"
    r"|" + _NOT + r"\s+(?:be\s+)?deliver(?:ed)?\s+(?:(?:your|the|this)\s+(?:e-?mail\s+|mail\s+)?(?:message|mail|e-?mail)(?:\s+\"[^\"]{0,120}\")?\s+)?to\s*+:?+\s*+" + _ADDR + _END +
    # "Delivery to <addr> failed", "Delivery to the following recipient failed: <addr>", "undeliverable to <addr>"
    r"|\bdelivery\s+(?:of\s+(?:your|the)\s+message\s+)?to\s++" + _ADDR + _THEN + r"(?:has\s+)?failed"
    r"|\bdelivery\s+to\s+the\s+following\s+recipient\s+(?:has\s+)?failed(?:\s++permanently)?\s*+:?+\s*+" + _ADDR + _END +
    r"|\bundeliverable\s+to\s*+:?+\s*+" + _ADDR + _END,
    re.IGNORECASE,
)
_HEADING = LazyPattern(r"\bdelivery\s+to\s+the\s+following\s+recipient\s+(?:has\s+)?failed(?:\s++permanently)?+\s*+:?+\s*+$", re.IGNORECASE)
# What says why: a reason clause, a code, or words naming the failure (the fallback's "strong" words).
_WHY = LazyPattern(
    r"\bbecause\b|\bdue\s+to\b|\breason\b|(?<![\d.:/-])[45]\d\d(?![\d.:/])|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d.])|"
    r"unknown|not\s+found|no\s+such|does\s*n[o']t\s+exist|not\s+exist|invalid|reject|refus|denied|unavailable|disabled|inactive|suspend|quota|\bfull\b|exceed|"
    r"unroutable|unrouteable|not\s+recogni[sz]ed|not\s+listed|blocked|blacklist|spam|virus|timed?\s?out|expired|not\s+(?:permitted|allowed)|prohibited|policy|"
    r"too\s+(?:large|big|many)|size\s+limit|relay|no\s+route|connection|malformed|syntax|loop",
    re.IGNORECASE,
)
_DELAY = LazyPattern(
    r"\b(?:not\s+(?:been\s+)?delivered\s+yet|delay(?:ed)?|will\s+(?:continue\s+to\s+)?(?:retry|try\s+again|keep\s+trying|be\s+retried)|still\s+(?:trying|being\s+retried|queued))\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


class MinimalNoticeDetector:
    """A mail system's short notice naming the failed address in one sentence ("Your message to <addr> could not be delivered")."""

    name = "minimal"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not any(cue in mail.text_lower for cue in _CUES):
            return None
        daemon = daemon_sender(mail)
        if not (daemon or null_sender(mail)) or not_a_notice(mail):
            return None
        if not daemon and (mail.header("Auto-Submitted").lower().startswith("auto-replied") or "auto" in mail.header("Precedence").lower()):
            return None  # an RFC 3834 auto-reply from a person's responder, sent from the null sender
        lines = report_lines(mail.lines, MAX_LINES)
        paragraphs = paragraphs_of(lines)
        if CHALLENGE_WORDS.search(" ".join(paragraphs)):
            return None
        own = own_addresses(mail)
        action = "delayed" if _DELAY.search(" ".join(paragraphs)) else "failed"
        found: dict[str, RecipientFacts] = {}
        for i, paragraph in enumerate(paragraphs):
            for address, sentence in _named(paragraphs, i):
                if len(found) >= MAX_RECIPIENTS or not usable(address, own) or address.lower() in found:
                    continue
                found[address.lower()] = reply_facts(address, _reason(sentence, paragraphs, i), action=action)
        return list(found.values()) or None



def _named(paragraphs: list[str], i: int) -> list[tuple[str, str]]:
    """The addresses paragraph ``i`` names in a failure sentence, each with that sentence (at most its part around the address)."""
    paragraph = paragraphs[i]
    found = []
    for sentence in _SENTENCE_END.split(paragraph):
        for m in _SENTENCE.finditer(sentence):
            address = next(group for group in m.groups() if group)
            if len(sentence) > MAX_DIAGNOSTIC:
                sentence = sentence[max(0, m.start() - MAX_DIAGNOSTIC // 4) : m.start() + MAX_DIAGNOSTIC * 3 // 4]
            found.append((address.rstrip("."), sentence))
    if not found and _HEADING.search(paragraph) and i + 1 < len(paragraphs):
        address = sole_address(paragraphs[i + 1])  # "Delivery to the following recipient failed:" / the address alone
        if address:
            found.append((address, paragraph[:MAX_DIAGNOSTIC]))
    return found


def _says_why(text: str) -> bool:
    return bool(_WHY.search(ADDRESS.sub(" ", text[:MAX_DIAGNOSTIC])))


def _reason(sentence: str, paragraphs: list[str], i: int) -> str:
    """The sentence when it says why, else the next paragraph (of the next three) that does, else the sentence."""
    if _says_why(sentence):
        return sentence
    for paragraph in paragraphs[i + 1 : i + 4]:
        if _says_why(paragraph):
            return paragraph[:MAX_DIAGNOSTIC]
    return sentence

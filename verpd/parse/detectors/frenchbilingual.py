"""French and French/English non-delivery notices (French ISPs' and Canadian gateways' own letters).

Mail systems that answer in French, often with the English beside it (federal and
Quebec gateways in Canada must write both; French ISPs add English for foreign
senders), send letters of their own rather than an MTA's stock text:

    Votre message n'a pas pu être délivré / Your message could not be delivered

    Adresse(s) en erreur / Failed address(es) :
        bob@example.com

    Raison / Reason :
        550 5.1.1 <bob@example.com>: Destinataire inconnu / Recipient unknown

or "Le message suivant n'a pu être remis aux destinataires suivants :" followed by
``address : reason`` lines, or one sentence: "Votre message à bob@example.com n'a pas
pu être remis". Their senders are often named in French only ("Système de
messagerie", "Administrateur de messagerie") and their subjects hyphenated ("Avis
de non-remise"), which the fallback's English-centred test of the envelope does not
know, so such a notice went unread.

A message is read when it comes from a mail system (a MAILER-DAEMON or postmaster
sender, a null envelope sender, or a French mail-system name: "... de messagerie",
"... du courrier") and its report says in French that the delivery failed ("n'a pas
pu être délivré / remis / distribué / transmis", "n'a pu être remis", "non remis",
"adresse(s) en erreur", "échec de la remise"). Addresses are read from an address
label ("Adresse(s) en erreur", "Destinataire(s)", "Failed address(es)", with or
without the other language after a slash), from the lines after a "destinataires
suivants / following recipients" heading, or from a sentence that names the address
as the one the message could not reach; never from the returned copy, and never
the sender's own. The diagnostic is the text beside the address, else the
"Raison / Reason" (``Motif``, ``Cause``, ``Erreur / Error``, ``Détails``) block.
The wordings are those quoted in the project's brief for this format (no product
documentation of them was found).
"""

from __future__ import annotations

import re

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import Mail
from verpd.parse.message.notice import CHALLENGE_WORDS, daemon_sender, not_a_notice, null_sender, own_addresses, report_lines, usable
from verpd.parse.message.text import ADDRESS, LazyPattern, reply_facts

MAX_RECIPIENTS = 100
MAX_DIAGNOSTIC = 1000  # characters kept as a diagnostic
_CUES = ("pu être", "pu etre", "non remis", "non-remis", "en erreur", "chec de la remise", "chec de remise")
_FR_FAILURE = LazyPattern(
    r"n'a\s+(?:pas\s+)?pu\s+[êe]tre\s+(?:d[ée]livr|remis|livr|distribu|transmis|achemin)|non[- ](?:remis|d[ée]livr|distribu)|"
    r"adresses?(?:\(s\))?\s+en\s+erreur|[ée]chec\s+de\s+(?:la\s+)?remise",
    re.IGNORECASE,
)
_FR_SENDER = re.compile(r"\b(?:de|du)\s+(?:la\s+)?(?:messagerie|courrier|courriel)\b|\bmessagerie\b", re.IGNORECASE)
# Runs of blanks before an address or after a label's "/" are read whole (see verpd.parse.message.text's
# note on address patterns).
_ADDRESS_LABEL = LazyPattern(
    r"^\s*(?:adresses?(?:\(s\))?(?:\s+(?:en\s+erreur|invalides?|refus[ée]es?|non\s+remises?|inconnues?))?|destinataires?(?:\(s\))?(?:\s+(?:en\s+erreur|invalides?|refus[ée]s?|inconnus?))?|"
    r"(?:failed|invalid|rejected)\s+(?:address(?:es|\(es\))?|recipients?(?:\(s\))?)|recipients?(?:\(s\))?)"
    r"(?:\s*/\s*+[^:]{0,60}?)?\s*:\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_FAILED_LABEL = re.compile(r"erreur|invalid|refus|non\s+remis|inconnu|failed|rejected", re.IGNORECASE)
_REASON_LABEL = LazyPattern(
    r"^\s*(?:raison|motif|cause|erreur|d[ée]tails?|diagnostic|reason|error|details?)(?:\s*/\s*+[^:]{0,40}?)?\s*:\s*(.*)$",
    re.IGNORECASE,
)
_LIST_HEADING = LazyPattern(r"(?:destinataires?|adresses?)(?:\(s\))?\s+suivante?s?(?:\(s\))?\s*:|following\s+(?:recipients?|address(?:es)?)(?:\(s\)|\(es\))?\s*:", re.IGNORECASE)
_LEADING = LazyPattern(r"^\s*[<\"']?(" + ADDRESS.pattern + r")[>\"']?\s*(?:[:\-]\s*(.*)|\((.*)\)\s*)?$")
_CODE = LazyPattern(r"(?<![\d.])[45]\d\d(?![\d.])|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d.])")
_SENTENCE = LazyPattern(
    r"(?:(?:votre|le)\s+message\s+(?:[àa]|pour)|(?:your|the)\s+message\s+(?:to|for))\s+[<\"']?(" + ADDRESS.pattern + r")[>\"']?\s+"
    r"(?:n'a\s+(?:pas\s+)?pu|n'a\s+pas\s+[ée]t[ée]|could\s+not|couldn't|cannot|was\s+not|has\s+not\s+been)"
    r"|(?:n'a\s+(?:pas\s+)?pu\s+[êe]tre\s+(?:d[ée]livr|remis|livr|distribu|transmis)[ée]*s?|n'a\s+pas\s+[ée]t[ée]\s+(?:d[ée]livr|remis|distribu)[ée]*s?|could\s+not\s+be\s+delivered)"
    r"\s+(?:[àa]|au|aux|to)\s*+:?+\s*+[<\"']?+(" + ADDRESS.pattern + r")",
    re.IGNORECASE,
)


class FrenchBilingualDetector:
    """French (or French/English) non-delivery letters: "n'a pas pu être délivré", "Adresse(s) en erreur", "Raison / Reason"."""

    name = "frenchbilingual"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        text = mail.text_lower.replace("’", "'")
        if not any(cue in text for cue in _CUES) or not _FR_FAILURE.search(text):
            return None
        if not (daemon_sender(mail) or null_sender(mail) or _FR_SENDER.search(mail.sender)) or not_a_notice(mail):
            return None
        lines = [line.replace("’", "'") for line in report_lines(mail.lines)]
        if not any(_FR_FAILURE.search(line) for line in lines):
            return None  # the French words are in the returned copy only
        if CHALLENGE_WORDS.search("\n".join(lines)):
            return None  # a challenge ("cliquez ... pour que votre message soit délivré"), not a failure
        own = own_addresses(mail)
        named = _named(lines)
        reason = _reason(lines)
        found: dict[str, RecipientFacts] = {}
        for address, beside in named:
            if usable(address, own) and address.lower() not in found and len(found) < MAX_RECIPIENTS:
                diagnostic = beside or reason
                found[address.lower()] = reply_facts(address, diagnostic[:MAX_DIAGNOSTIC] if diagnostic else None, action="failed")
        return list(found.values()) or None


def _named(lines: list[str]) -> list[tuple[str, str | None]]:
    """Each address the letter names as failed, with the text beside it.

    Where a label says the addresses failed ("Adresse(s) en erreur", "Failed
    address(es)"), only those count: a plain "Destinataire(s)" label may be the
    returned message's summary, naming recipients that did not fail.
    """
    found: list[tuple[str, str | None, bool]] = []  # address, text beside it, under a "failed" label
    listing = False  # after an address label or a "following recipients" heading
    failed_label = False
    listed = 0  # addresses read since that label or heading
    for line in lines:
        if not line.strip():
            listing = listing and not listed  # a blank line ends a list, not the gap before it
            continue
        if _REASON_LABEL.match(line):
            listing = False
            continue
        if m := _ADDRESS_LABEL.match(line):
            listing, listed = True, 0
            failed_label = bool(_FAILED_LABEL.search(line[: m.start("rest")]))
            if (rest := m.group("rest").strip()) and (lead := _LEADING.match(rest)):
                found.append((lead.group(1).rstrip("."), _beside(lead), failed_label))
                listed += 1
            continue
        if _LIST_HEADING.search(line):
            listing, listed, failed_label = True, 0, True
            continue
        if listing and (lead := _LEADING.match(line)):
            found.append((lead.group(1).rstrip("."), _beside(lead), failed_label))
            listed += 1
            continue
        listing = False
        for m in _SENTENCE.finditer(line):
            found.append(((m.group(1) or m.group(2)).rstrip("."), None, True))
    if any(strong for _, _, strong in found):
        return [(address, beside) for address, beside, strong in found if strong]
    return [(address, beside) for address, beside, _ in found]


def _beside(lead: re.Match[str]) -> str | None:
    text = (lead.group(2) or lead.group(3) or "").strip()
    return text or None


def _reason(lines: list[str]) -> str | None:
    """The first "Raison / Reason" block that carries a code, else the first one."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in lines:
        if m := _REASON_LABEL.match(line):
            if current:
                blocks.append(" ".join(current))
            current = [m.group(1).strip()] if m.group(1).strip() else []
        elif current is None:
            continue
        elif line.strip() and not _ADDRESS_LABEL.match(line):
            current.append(line.strip())
        elif current or _ADDRESS_LABEL.match(line):  # a blank line ends a block that has text; a label ends any
            if current:
                blocks.append(" ".join(current))
            current = None
    if current:
        blocks.append(" ".join(current))
    return next((b for b in blocks if _CODE.search(b)), blocks[0] if blocks else None)

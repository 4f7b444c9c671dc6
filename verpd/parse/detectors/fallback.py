"""The last resort: a bounce in a format no other detector knows.

A message is only looked at when its envelope and headers say it is a bounce: at
least two of a null or MAILER-DAEMON Return-Path, a delivery-system sender
(MAILER-DAEMON, postmaster, "Mail Delivery System/Subsystem", ...) and a bounce-like
Subject ("Undeliverable", "Delivery Status Notification", "failure notice",
"Returned mail", "Mail delivery failed", "Unzustellbar", "Non remis", ...). Feedback
reports, forwarded or replied-to messages, auto-replies and challenge-responses are
never taken; the last two are known by a Subject prefix or an X-Autoreply-style
header, so that a bounce quoting an original Subject such as "Please confirm your
e-mail address" is still a bounce.

Then the human-readable report, up to the returned copy of the original (a
"copy of the message" / "original message follows" marker line, or the first line
that can only be a header of it: Received:, Return-Path:, Message-ID:, X-...:),
is searched for addresses the report itself says failed:

- an address that leads its line, in a list introduced by a sentence such as "The
  following address(es) failed:", "did not reach the following recipient(s):",
  "Delivery to the following recipients failed", "Unable to deliver message to the
  following address(es)." (also in a few other languages), or with error text on
  the same line or next to it (``<bob@example.com>: 550 5.1.1 ...``,
  ``bob@example.com ... User unknown``, ``bob@example.com [Connection timed out]``);
- an address inside a sentence that names it as the target of the failure
  ("Unable to deliver message to: <bob@example.com>", "Unknown user: bob@...",
  "rejected recipient <bob@...>") or that is followed by the error
  (``554 <bob@example.com>... 550 Host unknown``);
- an address in a labelled field (``Recipient: <bob@example.com>``) next to error text.

Precision matters more than recall, so: addresses of the bounce's own envelope and
headers (To, Cc, From, Delivered-To, Return-Path, ...), of the returned original's
sender fields, of mailer daemons, addresses that follow "from"/"sender"/"sent by"
or "contact"/"write to", file paths and pipes, and the listed recipients of a "delivered successfully"
section are never taken; and nothing is ever taken from the returned original's
headers. The diagnostic is the text next to the address: the rest of its line and
the lines that follow it, or, when those carry no error, the next paragraph (which
is where "because:", "For the following reason:" and transcripts put it). A report
whose Subject or list sentence speaks of a delay, transient errors or retrying
gives the action "delayed"; otherwise "failed".

It is registered after every format-specific detector, Exim's included: an MTA's own
fingerprint (X-Failed-Recipients, a fixed boundary line) names the failed addresses
more exactly than prose does, so the fallback only sees what nothing else claimed;
and before the auto-reply and challenge detectors, which take only what no bounce
detector claimed (it refuses auto-replies and challenges itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.message.mail import FEEDBACK_REPORT_TYPES, Mail
from verpd.parse.message.notice import own_addresses, report_lines
from verpd.parse.message.text import ADDRESS, ADDRESS_PATTERN, LazyPattern, mailboxes
from verpd.smtp import clean_diagnostic

MAX_LINES = 400  # report lines looked at
MAX_RECIPIENTS = 50

# --- is it a bounce at all? ---------------------------------------------------------------

_DAEMON_LOCAL = re.compile(r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|post[-_.]master|mail[-_.]?delivery(?:[-_.]?(?:system|subsystem|service))?|mailadmin|mail[-_.]?admin)$", re.IGNORECASE)
_DAEMON_NAME = re.compile(r"mail(?:er)?[- ]?daemon|postmaster|mail delivery (?:system|subsystem|service|agent)|mail (?:system|administrator)|system administrator|delivery status notification|mail deliver", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|not\s+(?:be\s+)?deliver|non[- ]?deliver|deliver(?:y|ing)?\s+(?:status|fail|problem|report|error|notification|incomplete|delay)|"
    r"failure\s+(?:notice|delivery)|failed\s+(?:delivery|mail)|(?:mail|message|delivery)\s+(?:delivery\s+)?(?:has\s+)?fail|returned\s+(?:mail|message|to\s+sender)|"
    r"mail\s+system\s+error|could\s+not\s+(?:be\s+)?(?:deliver|sen[dt])|can(?:no|')t\s+(?:be\s+)?(?:deliver|sen[dt])|unable\s+to\s+deliver|error\s+sending|"
    r"warning.{0,5}(?:could\s+not|delay|message)|delay(?:ed)?\s+(?:mail|delivery|message)|permanent\s+(?:delivery\s+)?(?:error|failure)|"
    r"mail\s+(?:delivery\s+)?failure|email\s+delivery\s+failure|bounced?\s+(?:mail|message|email)|rejected\s+(?:mail|message)|"
    # German, French, Spanish, Italian, Portuguese, Dutch, Nordic, Polish, Czech, Russian
    r"unzustellbar|nicht\s+zugestellt|zustellung\s+fehlgeschlagen|non\s+remis|non\s+distribu|non\s+d[ée]livr|[ée]chec\s+de\s+(?:la\s+)?(?:remise|livraison|distribution)|"
    r"no\s+se\s+(?:pudo|puede)\s+entregar|no\s+entregado|error\s+de\s+entrega|imposible\s+entregar|impossibile\s+recapitare|mancato\s+recapito|non\s+recapitat|"
    r"n[ãa]o\s+(?:foi\s+poss[íi]vel\s+)?entreg|falha\s+(?:na|de)\s+entrega|onbestelbaar|niet\s+(?:afgeleverd|bezorgd)|kunde\s+inte\s+levereras|kunne\s+ikke\s+leveres|"
    r"niedostarcz|nedoru[čc]iteln|не\s*доставлен|недоставлен|ошибка\s+доставки|"
    # Japanese, Chinese, Korean
    r"配信(?:不能|失敗|エラー)|送信(?:不能|失敗|エラー)|不達|届きませんでした|エラーメール|退信|无法投递|投递失败|未送达|無法傳遞|傳遞失敗|반송|전달\s*실패",
    re.IGNORECASE,
)
# Subjects that say the message is something else. Only prefixes (and DSN success wording):
# a bounce's Subject usually quotes the original's ("Undeliverable: Please confirm your
# e-mail address"), which may contain any of these words.
_NOT_A_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|tr|sv|vs)\s*:|^\s*(?:delivered|read(?:\s+receipt)?|relayed)\s*:|delivery\s+status\s+notification\s*\((?:success|relay)\)|"
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort|r[ée]ponse)|out\s+of\s+(?:the\s+)?office|abwesen|absence|vacation|away|"
    r"r[ée]ponse\s+automatique|respuesta\s+autom[áa]tica|risposta\s+automatica|自動応答|自动回复|"
    r"please\s+confirm|confirm(?:ation)?\s+(?:required|your)|verify\s+your|challenge)",
    re.IGNORECASE,
)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation")

# --- where the report ends --------------------------------------------------------------


# --- what marks an address as failed ----------------------------------------------------

_INTRO = LazyPattern(
    r"following\s+(?:e-?mail\s+)?(?:address|recipient|destination|user|mailbox)|(?:address|recipient)(?:e?s|\(e?s\))?\s+(?:below|listed)|"
    r"(?:not|n't|unable\s+to|could\s+not|couldn't|cannot|can't)\s+(?:be\s+)?(?:deliver(?:ed)?|sent|reach(?:ed)?|transmitted|relayed)(?:\s+(?:your|the)\s+message)?\s+to\s*:?\s*$|"
    r"failed\s+(?:addresses|recipients)|(?:address|recipient)(?:e?s|\(e?s\))\s+(?:failed|follow)|permanent\s+fatal\s+errors|transient\s+non-fatal\s+errors|delivery\s+(?:errors|problems)|"
    r"folgenden?\s+(?:Empf[äa]nger|Adressen?)|destinataires?\s+suivants?|adresses?\s+suivantes?|siguientes?\s+(?:destinatarios?|direcci)|"
    r"seguenti\s+(?:destinatari|indirizzi)|seguintes?\s+(?:destinat[áa]rios?|endere[çc]os?)|volgende\s+(?:ontvangers?|adressen?)|"
    r"(?:以下|下記)の.{0,12}(?:アドレス|宛先|受信者)|(?:以下|下列)(?:收件人|地址)",
    re.IGNORECASE,
)
_SUCCESS = LazyPattern(r"\bsuccess(?:ful(?:ly)?)?\b|\brelayed\b|\bwithout\s+error|\bwas\s+delivered\s+to\b|\bdelivered\s+to\s+the\s+following", re.IGNORECASE)
_DELAY = LazyPattern(r"\bdelay|\bwarning\b|transient|non-fatal|will\s+(?:be\s+)?(?:retr|re-?tried|continue|keep\s+trying)|not\s+yet\s+been\s+delivered|still\s+(?:trying|queued)", re.IGNORECASE)
_PERMANENT = LazyPattern(r"permanent|fatal|given\s+up|gave\s+up", re.IGNORECASE)
# Error text: a reply or status code, or words that name what went wrong ("strong"), or the
# generic words any failure notice uses ("weak": enough with a list sentence, not as the error).
_STRONG = LazyPattern(
    r"(?<![\d.:/-])[45]\d\d(?![\d.:/])|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}(?![\d.])|"
    r"unknown|not\s+found|no\s+such|does\s*n[o']t\s+exist|not\s+exist|invalid|reject|refus|denied|unavailable|disabled|inactive|suspend|quota|\bfull\b|exceed|"
    r"unroutable|unrouteable|not\s+recogni[sz]ed|not\s+listed|blocked|blacklist|spam|timed?\s?out|expired|"
    r"not\s+(?:permitted|allowed)|prohibited|policy|too\s+(?:large|big|many)|size\s+limit|relay|lookup|no\s+route|connection|malformed|syntax|"
    r"存在しません|見つかりません|拒否|満杯|容量|unbekannt|inconnu|introuvable|desconocido|inexistente|sconosciuto",
    re.IGNORECASE,
)
_WEAK = LazyPattern(r"could\s+not|couldn't|cannot|can't|unable|fail|error|bounced|not\s+delivered|undeliver|problem|temporar|permanent|失敗|エラー|できません|unzustellbar", re.IGNORECASE)
_LEADING = LazyPattern(r"""^\s*+(?:>>>\s*+|[*\-•]++\s*+|\d+[.)]\s++)?(?:(?:RCPT\s+TO|(?:original\s+|final\s+|failed\s+|invalid\s+|unknown\s+)?(?:recipient|address(?:ee)?)(?:\s+address)?(?:\(e?s\)|e?s)?)\s*+:\s*+)?[<"'(\[]*+\s*+(""" + ADDRESS_PATTERN + r""")\s*[>"')\]]*\s*(.*)$""", re.IGNORECASE)
_DISPLAY_THEN_ADDRESS = LazyPattern(r"^\s*<(" + ADDRESS_PATTERN + r")>\s*(.*)$")
_TARGET_BEFORE = LazyPattern(
    r"(?:\bto|recipients?|addressee|address|user|mailbox|account|\bfor|rcpt\s+to|\ban|\b[àa]|destinataire|destinatario|destinat[áa]rio|empf[äa]nger|宛先)\s*:?\s*[<\"'(\[]*\s*$",
    re.IGNORECASE,
)
_FAILURE_WORDS = LazyPattern(
    r"nicht\s+zugestellt|konnte\s+nicht|unzustellbar|fehlgeschlagen|n'a\s+pas\s+pu|impossible|[ée]chec|non\s+remis|no\s+(?:se\s+)?(?:pudo|ha\s+podido)|"
    r"non\s+(?:è\s+stato|recapitat)|n[ãa]o\s+(?:foi|p[ôo]de)|"
    r"\b(?:was|were|has|have|been)\s+not\b|\bnot\s+(?:be(?:en)?\s+)?(?:relayed|delivered|sent|accepted)|could\s+not|couldn't|cannot|can't|unable|fail|error|not\s+(?:be\s+)?delivered|undeliver|reject|refus|denied|unknown|invalid|does\s*n[o']t\s+exist|no\s+such|not\s+found|bounced|problem",
    re.IGNORECASE,
)
_ERROR_AFTER = LazyPattern(  # matched at the end of an address (``match(line, pos)``: no ``^``)
    r"""[>"')\]]*+\s*+(?:\.\.\.|:|-|,)?\s*+(?:[45]\d\d\b|[45]\.\d{1,3}\.\d{1,3}|user\s+unknown|unknown|no\s+such|not\s+found|does\s*n[o']t\s+exist|invalid|rejected|refused|mailbox|quota|disabled|not\s+listed|host\s+unknown)""",
    re.IGNORECASE,
)
_SENDER_BEFORE = LazyPattern(r"(?:\bfrom|sender|(?:sent|written|originated)\s+by|envelope-from|mail\s+from|reply-to|return-path|errors-to|message-id|msgid)\s*:?\s*[<\"'(\[]*\s*$", re.IGNORECASE)
_CONTACT_BEFORE = LazyPattern(r"(?:\bcontact|write\s+to|send\s+(?:an?\s+)?(?:e-?mail|message|mail)\s+to|assistance|questions?)\b[^.]{0,30}?(?:\bat\b)?\s*:?\s*[<\"'(\[]*\s*$", re.IGNORECASE)
_FAILED_LABEL_BEFORE = LazyPattern(r"\b(?:fail(?:ed|ure|s)?|errors?|undeliverable|undelivered|rejected|refused|unknown|invalid|bounced)\b[^.:;@]{0,40}:\s*[<\"'(\[]*\s*$", re.IGNORECASE)
_CODE = LazyPattern(r"(?<![\d.:/-])[245]\d\d(?![\d.:/])|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")
_SUMMARY_FIELD = LazyPattern(r"^\s*+(?:to|cc|bcc)\s*+:\s*+[<\"']*+\s*+$", re.IGNORECASE)  # the original's To: quoted in a report
# The *_BEFORE patterns end at an address: a run of blanks, colons and brackets, and before
# it a label of a few words (at most ~60 characters, with the filler some of them allow).
# They are searched in that run and the _REACH characters before it, never in the whole
# text before the address: a line naming thousands of addresses took time quadratic in its
# length (a 116 kB line, 94 s). Only a label whose words are split by more blanks than
# that ("sent", 100 spaces, "by") is no longer seen.
_REACH = 120
_LABEL_TAIL = frozenset(":<\"'([")
_SECTION = LazyPattern(r"^\s*[-=_*#|~+]{3,}")
_LABEL_ONLY = LazyPattern(r"^\s*[^.!?]{0,60}:\s*$")


class FallbackDetector:
    """Any bounce by its envelope and headers, read conservatively from the report text."""

    name = "fallback"
    kind = ReportKind.BOUNCE

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        if not _looks_like_a_bounce(mail):
            return None
        lines = report_lines(mail.lines, MAX_LINES)
        if not lines:
            return None
        own = own_addresses(mail)
        delayed_subject = bool(_DELAY.search(_subject_head(mail.subject)))
        found: dict[str, RecipientFacts] = {}
        mode = None  # after a list sentence: "failed", "permanent", "delayed" (failures) or "success" (deliveries)
        paragraph_start = 0
        listed = 0  # addresses found since the last list sentence
        for i, line in enumerate(lines):
            if not line.strip():
                paragraph_start = i + 1
                continue
            sentence = f"{lines[i - 1].strip()} {line.strip()}" if i > paragraph_start else line  # a list sentence may wrap
            if _SUCCESS.search(line) and not _FAILURE_WORDS.search(line):
                mode, listed = "success", 0
            elif _INTRO.search(line) or _INTRO.search(sentence):
                mode, listed = "delayed" if _DELAY.search(sentence) else "permanent" if _PERMANENT.search(sentence) else "failed", 0
            elif i == paragraph_start and listed and "@" not in line and not _SECTION.match(line):
                mode = None  # prose after the list: the list is over
            def known(key: str) -> bool:
                return key in found or len(found) >= MAX_RECIPIENTS

            for address, diagnostic in _failed_on_line(lines, i, paragraph_start, mode, own, known):
                listed += 1
                key = address.lower()
                if key in found or len(found) >= MAX_RECIPIENTS:
                    continue
                action = "delayed" if mode == "delayed" or (delayed_subject and mode != "permanent") else "failed"
                found[key] = RecipientFacts(address=address, action=action, diagnostic=clean_diagnostic(diagnostic) or None)
        return list(found.values()) or None


def _looks_like_a_bounce(mail: Mail) -> bool:
    if any(mail.msg.get(name) is not None for name in _AUTO_HEADERS):
        return False
    if b"feedback-report" in mail.raw and (str(mail.msg.get_param("report-type") or "").lower() == "feedback-report" or mail.parts_of(FEEDBACK_REPORT_TYPES)):
        return False
    subject = mail.subject
    if _NOT_A_BOUNCE_SUBJECT.search(subject):
        return False
    daemon = _daemon_sender(mail.sender)
    null_path = mail.header("Return-Path").strip().lower() in ("<>", "<mailer-daemon>") or "mailer-daemon@" in mail.header("Return-Path").lower()
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject))
    return (bounce_subject and (daemon or null_path)) or (daemon and null_path)


def _subject_head(subject: str) -> str:
    """The notice's own words: "Warning: ..." yes, "Undeliverable: Warning about ..." no (that is the original's)."""
    head, colon, _ = subject.partition(":")
    return head if colon and len(head) < 40 else subject


def _daemon_sender(sender: str) -> bool:
    pairs = mailboxes([sender])
    for name, address in pairs:
        local = address.rpartition("@")[0] if "@" in address else address
        if _DAEMON_LOCAL.match(local.strip("<> ")) or (name and _DAEMON_NAME.search(name)):
            return True
    return sender.strip() in ("<>", "") or bool(_DAEMON_NAME.search(sender) and "@" not in sender)




def _failed_on_line(
    lines: list[str], i: int, paragraph_start: int, mode: str | None, own: set[str], known: Callable[[str], bool]
) -> Iterator[tuple[str, str]]:
    """The failed addresses line ``i`` names, each with the error text next to it.

    An address ``known`` says is taken already (or that there is no room for) comes
    with no error text: it is not looked for, so a line repeating addresses costs no
    search of the line per address.
    """
    line = lines[i]
    if "@" not in line:
        return
    leading = _LEADING.match(line)
    if leading:
        address, rest = leading.group(1), leading.group(2)
        if m := _DISPLAY_THEN_ADDRESS.match(rest):  # "bob@example.com <bob@example.com>": the bracketed one is the address
            address, rest = m.group(1), m.group(2)
        address = address.rstrip(".")
        if _usable(address, own) and mode != "success" and not _after_sender_label(lines, i):
            rest = rest.lstrip(":.,;- ")
            diagnostic = _around(lines, i, paragraph_start, rest, address)
            if mode in ("failed", "permanent", "delayed") or _has_error(rest, weak=True) or _has_error(diagnostic, weak=True):
                yield address, diagnostic or rest
                return
        if mode == "success":
            return
    failure_words: bool | None = None  # whether the line (and the next) speaks of a failure: asked once per line
    for n, m in enumerate(ADDRESS.finditer(line)):
        address = m.group(0).rstrip(".")
        if not _usable(address, own):
            continue
        start, end = _reach(line, m.start()), m.start()
        if (_SENDER_BEFORE.search(line, start, end) or _CONTACT_BEFORE.search(line, start, end)
                or (n == 0 and _SUMMARY_FIELD.match(line, 0, end))):  # only the first address can have no other before it
            continue
        targeted = bool(_FAILED_LABEL_BEFORE.search(line, start, end))
        if not targeted and _TARGET_BEFORE.search(line, start, end):  # "Your message to: bob@..." / "was blocked by ..."
            if failure_words is None:
                sentence = line if i + 1 >= len(lines) else f"{line} {lines[i + 1]}"
                failure_words = bool(_FAILURE_WORDS.search(sentence))
            targeted = failure_words
        if targeted or _ERROR_AFTER.match(line, m.end()):
            yield address, "" if known(address.lower()) else _around(lines, i, paragraph_start, line.strip(), address)


def _reach(line: str, end: int) -> int:
    """Where a *_BEFORE pattern's match that ends at ``end`` can start (see _REACH)."""
    k = end
    while k and (line[k - 1].isspace() or line[k - 1] in _LABEL_TAIL):
        k -= 1
    return max(0, k - _REACH)


def _usable(address: str, own: set[str]) -> bool:
    """Not one of ``own``, not a mailer daemon, not a file path or pipe that happens to contain an @."""
    local = address.rpartition("@")[0]
    return address.lower() not in own and not re.match(r"(?i)^mailer[-_.]?daemon$", local) and local[:1] not in ("/", "|")


def _after_sender_label(lines: list[str], i: int) -> bool:
    """Whether the text just before line ``i`` introduces a sender or a contact ("A message sent by", "write to:")."""
    for k in range(i - 1, max(i - 3, -1), -1):
        if lines[k].strip():
            return bool(_SENDER_BEFORE.search(lines[k].rstrip()) or _CONTACT_BEFORE.search(lines[k].rstrip()))
    return False


def _around(lines: list[str], i: int, paragraph_start: int, text: str, address: str) -> str:
    """The error text for ``address`` on line ``i``: ``text``, the lines after it, else the next paragraph."""
    parts = [text] if text else []
    j = i + 1
    while j < len(lines) and lines[j].strip() and len(parts) < 8 and not (_CODE.search(text) and _has_error(text)):
        if _other_address_leads(lines[j], address) or _INTRO.search(lines[j]):
            break
        if not _SECTION.match(lines[j]):
            parts.append(lines[j].strip())
        j += 1
    joined = " ".join(parts)
    if _has_error(joined):
        return joined
    # the line before (Lotus Notes: "User not listed in public Name & Address Book" then the address)
    before = next((lines[k].strip() for k in range(i - 1, paragraph_start - 1, -1) if lines[k].strip() and "@" not in lines[k] and not _SECTION.match(lines[k])), None)
    if before and _has_error(before) and not _INTRO.search(before):
        return " ".join([before, joined]).strip()
    # the next paragraph(s): "because:", "For the following reason:", a transcript
    extra: list[str] = []
    while j < len(lines) and len(extra) < 6:
        line = lines[j]
        j += 1
        if not line.strip() or _SECTION.match(line):
            if extra and _has_error(" ".join(extra), weak=True) and not _LABEL_ONLY.match(extra[-1]):
                break
            continue
        if _other_address_leads(line, address) or _INTRO.search(line):
            break
        extra.append(line.strip())
    if extra and _has_error(" ".join(extra)):
        return " ".join(extra)  # the real error; the line itself only said that something failed
    if extra and _has_error(" ".join(extra), weak=True) and not _has_error(joined):
        return " ".join(parts + extra)
    return joined


def _other_address_leads(line: str, address: str) -> bool:
    m = _LEADING.match(line)
    return bool(m) and m.group(1).rstrip(".").lower() != address.lower()


def _has_error(text: str, weak: bool = False) -> bool:
    """Whether ``text`` carries error text (addresses removed: ``userunknown@...`` is no error)."""
    text = ADDRESS.sub(" ", text) if "@" in text else text
    return bool(_STRONG.search(text) or (weak and _WEAK.search(text)))

"""What remote servers say, by reason: compact phrase sets.

Each set is a handful of lower-case regular expressions over the diagnostic with its
whitespace collapsed, written for the way mail systems word a failure, with where
each wording is seen ("common" = many unrelated MTAs and providers). ``classify``
decides in which order and in which context (status code, SMTP command) they count.
"""

from __future__ import annotations

import re
from functools import cached_property


class Phrases:
    """A phrase set that runs a regular expression only where it could match.

    The set is split into its top-level alternatives. Every match of one alternative
    contains one of its ``keywords``, literal words derived from its syntax tree (see
    :func:`required_words`); a plain substring test for them is far cheaper than
    running a large alternation, and a diagnostic holds the words of only a few
    alternatives. The set's own keywords (the union) rule out most texts at once.
    An alternative without a usable keyword always runs.
    """

    def __init__(self, alternatives: list[str]) -> None:
        self.pattern = "|".join(f"(?:{a})" for a in alternatives)
        self._branches = [branch for a in alternatives for branch in split_branches(a)]

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The whole set as one pattern: what :meth:`search` answers, without the shortcuts."""
        return re.compile(self.pattern)

    @cached_property
    def _plan(self) -> tuple[frozenset[str] | None, list[tuple[frozenset[str] | None, re.Pattern[str]]]]:
        """The set's keywords and each alternative's (built on first use: start-up stays short)."""
        guarded = [(required_words(branch), re.compile(branch)) for branch in self._branches]
        every = None if any(words is None for words, _ in guarded) else _minimal(frozenset().union(*(w for w, _ in guarded)))  # type: ignore[misc]
        return every, guarded

    def search(self, text: str) -> bool:
        """Whether any phrase of the set occurs in ``text``."""
        every, guarded = self._plan
        if every is not None and not _contains_any(text, every):
            return False
        for words, regex in guarded:
            if (words is None or _contains_any(text, words)) and regex.search(text):
                return True
        return False


def _contains_any(text: str, words: frozenset[str]) -> bool:
    for word in words:  # a plain loop: any() over a generator costs twice as much here
        if word in text:
            return True
    return False


def _any(*alternatives: str) -> Phrases:
    return Phrases(list(alternatives))


def split_branches(pattern: str) -> list[str]:
    """``pattern``'s top-level alternatives: ``a|b(c|d)`` gives ``a`` and ``b(c|d)``."""
    branches, depth, start, i = [], 0, 0, 0
    class_from = -1  # inside a character class: where its members start ("]" there is a member)
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if class_from >= 0:
            if char == "]" and i > class_from:
                class_from = -1
        elif char == "[":
            class_from = i + (2 if pattern[i + 1 : i + 2] == "^" else 1)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
        i += 1
    branches.append(pattern[start:])
    return branches


def _minimal(words: frozenset[str]) -> frozenset[str]:
    """A word that contains another adds nothing: the shorter one occurs whenever it does."""
    return frozenset(w for w in words if not any(other != w and other in w for other in words))


def required_words(pattern: str) -> frozenset[str] | None:
    """Literal words one of which occurs in every match of ``pattern``, or None if unknown.

    A sequence needs all of its mandatory items, so the best-known requirement of any
    single item stands for it; an alternation needs one requirement per branch.
    """
    from re import _parser  # the stdlib's own pattern parser (re.sre_parse)

    words = _required(_parser.parse(pattern).data)
    return None if words is None else _minimal(words)


_MIN_WORD = 3


def _required(items) -> frozenset[str] | None:  # type: ignore[no-untyped-def]
    from re import _constants as c

    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if len(run) >= _MIN_WORD:
            candidates.append(frozenset({"".join(run)}))
        run.clear()

    for op, av in items:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        close_run()
        if op is c.SUBPATTERN:
            found = _required(av[3].data)
        elif op is c.BRANCH:
            branches = [_required(branch.data) for branch in av[1]]
            found = None if any(b is None for b in branches) else frozenset().union(*branches)  # type: ignore[arg-type]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            found = _required(av[2].data)
        else:
            found = None  # character classes, anchors, look-arounds, optional parts
        if found:
            candidates.append(found)
    close_run()
    if not candidates:
        return None
    # The requirement whose shortest word is longest rules out the most texts.
    return max(candidates, key=lambda words: (min(map(len, words)), -len(words)))


MAILBOXFULL = _any(
    r"mail ?box (?:is )?(?:full|over ?(?:quota|limit)|exceeded|size limit)|mail ?box (?:has )?(?:exceeded|reached)",  # common; Dovecot "Mailbox is full"
    r"over ?quota|quota (?:exceeded|exceed|full|violation)|exceeded (?:the |their |its |storage |mailbox |disk )*(?:quota|storage)",  # common; Gmail "OverQuota"
    r"(?:disk|storage|mailbox) quota|user'?s? (?:disk )?quota",  # qmail/vpopmail, Exchange "mailbox quota"
    r"(?:mailbox|inbox|account) (?:is |has )?(?:full|exceeded (?:its|the|their)? ?(?:size|storage|quota)?)",
    r"insufficient (?:mailbox )?(?:storage|space) (?:for|in) (?:the )?(?:user|mailbox|recipient)|not enough (?:storage|space) (?:in|for) (?:the )?(?:mailbox|user)",
    r"full mail ?box|mail ?box full|mailfolder is full|maildir (?:is )?over quota|would exceed (?:the )?(?:mailbox|quota)",  # Courier, maildrop
)

MESGTOOBIG = _any(
    r"message (?:is )?too (?:big|large)|message (?:size|length) (?:exceeds|too large|over)|(?:mail|message|email) (?:is )?(?:larger|bigger) than|line limit exceeded",  # common; Exim "Line limit exceeded"
    r"exceeds? (?:the )?(?:maximum|max|fixed maximum|allowed) (?:allowed )?(?:message )?size|size limit exceeded|exceeded maximum inbound message size",  # Postfix, Sendmail
)

EXCEEDLIMIT = _any(
    r"exceeds? (?:the )?(?:recipient'?s?|administrative|user'?s?) (?:size )?limit|too large for this recipient|recipsizelimit",  # RFC 3463 x.2.3 wording; Exchange RecipSizeLimit
)

SUSPEND = _any(
    r"(?:account|mail ?box|address|user|recipient) (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|not active|expired)",  # common
    r"(?:disabled|suspended|deactivated|locked) (?:account|mail ?box|user|recipient)|inactive (?:account|mail ?box|user)",
    r"account (?:has been )?(?:closed|terminated|cancel+ed)|this (?:account|mailbox) (?:has been )?(?:disabled|discontinued)",  # Yahoo, Outlook
)

HASMOVED = _any(r"(?:has|have) moved(?: on)?|address (?:has )?changed|no longer (?:on (?:this )?server|at this|with us)")  # qmail, Postfix "recipient no longer on server"

NORELAYING = _any(
    r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed|authori[sz]ed))|(?:not|unable to|cannot|can't|we do not|does not|won't) (?:permitted to )?relay",  # Postfix "Relay access denied", Sendmail "Relaying denied"
    r"not (?:a )?(?:gateway|local host)|relay not permitted|no relaying|relay prohibited|not configured to relay",
    r"(?:domain|host) (?:isn't|is not) in my list of allowed rcpthosts",  # qmail
)

AUTHFAILURE = _any(
    r"\bspf\b.{0,40}(?:fail|softfail|error|not pass|check|record|reject)|(?:fail|failed|failure|did not pass|does not pass).{0,20}\bspf\b",  # common
    r"\bdkim\b[\w\s-]{0,25}(?:fail|invalid|not pass|error)|dkim=(?:fail|permerror)|(?:failed|did not pass|does not pass) (?:the )?dkim",
    r"\bdmarc\b|not authenticated with (?:spf|dkim)|authenticate with (?:either )?spf|multiple authentication checks failed",  # Gmail 5.7.26, Microsoft 5.7.509
    r"sender policy framework|domainkeys|authentication checks? fail",
)

USERUNKNOWN = _any(
    r"(?:user|mail ?box|recipient|address|account|addressee|local ?part|e-?mail address|destination address)(?: name)? (?:is )?(?:unknown|not (?:found|known|listed|local|valid|exist)|(?:does not|doesn't|did not|dosn't|dose not) exist|invalid|unavailable|not recogni[sz]ed)",  # common
    r"(?:unknown|invalid|no such|non-?existent|unrecogni[sz]ed|bad) (?:local )?(?:user|mail ?box|recipient|address|account|addressee|alias|local ?part|e-?mail|person|destination mailbox)",  # common
    r"no (?:such (?:user|mailbox|person|account|recipient|address)|mailbox here by that name|account by that name|valid recipients?)",  # qmail "no mailbox here by that name"
    r"recipient(?: address)? rejected: (?:user unknown|undeliverable address|unknown|invalid|address unknown|not found|no such user)",  # Postfix virtual/relay_recipient_maps
    r"user unknown|unknown user|user not (?:found|exist)|recipient not found|address not found|mailbox not found|recipientnotfound|recipnotfound",  # common; Exchange "RecipientNotFound"
    r"the email account that you tried to reach does not exist|(?:doesn't|does not|don't) have an? .{0,40}account",  # Gmail, Yahoo
    r"not listed in (?:domino directory|public name & address book|the domain directory)",  # Lotus Domino
    r"address (?:does not|doesn't) exist|unknown or illegal alias|not a valid (?:user|recipient|mailbox)|undeliverable address|deactivated mailbox",
    r"mailbox unavailable|requested action not taken: mailbox",  # Microsoft "550 Requested action not taken: mailbox unavailable"
    r"address (?:couldn't|could not|cannot|can't) be found|check (?:if|that) (?:the )?address is correct",  # Gmail "Address not found", InterScan
)

# Recipient-directory failures in a vendor's own words: no command needed to tell what they mean.
USERUNKNOWN_DIRECTORY = _any(
    r"resolver\.adr\.recip(?:ient)?notfound|recipient not found by smtp address lookup|returned unknown recipient",  # Exchange / Microsoft 365
    r"not listed in (?:domino directory|public name & address book)",  # Lotus Domino / Notes
    r"delivery error: dd (?:this user doesn't have|sorry your message to .{0,80} cannot be delivered)",  # Yahoo: the account does not exist
    r"mail\.local: unknown user",  # Sendmail's local delivery agent
)

FILTERED = _any(
    r"(?:rejected|refused|blocked) by (?:the )?(?:recipient|user|addressee)|message filtered|rejected due to (?:user|recipient) (?:rules|preferences)",  # common
    r"user refuses to receive|user reject|refuse to receive mail|you have been blocked by the recipient|only accepting mail from specific",  # Japanese carriers, AOL
    r"is not accepting (?:any )?mail|has restricted sms e-?mail|account is protected by",  # AT&T
)

REQUIREPTR = _any(
    r"reverse (?:dns|lookup|name|address|host)|\bptr\b|\brdns\b|no (?:valid )?(?:ptr|reverse)",  # common
    r"(?:ip|client) name lookup failed|(?:cannot|could not|can't|unable to) (?:find|resolve) (?:your )?(?:host ?name|client host name)",
    r"client host name (?:is )?(?:unknown|not found)|does not have a (?:valid )?(?:reverse|ptr)|(?:domain|hostname) .{0,40}mismatches client ip",
)

NOTCOMPLIANTRFC = _any(
    r"rfc ?(?:5322|2822|822)|not (?:rfc|standards?)[ -]?compliant|(?:non|not)-?compliant (?:with|message)",  # Gmail "not RFC 5322 compliant"
    r"(?:multiple|duplicate|too many) (?:'?[\w-]+'? )?headers?|duplicate header|missing (?:a )?(?:required )?(?:date|from|message-id|to) header|bare (?:lf|cr)",
)

BADREPUTATION = _any(r"reputation|sender score|bad (?:sender )?(?:ip )?rating|low quality sender|unexpected volume or user complaints")  # Gmail "low reputation", Microsoft, Yahoo "[TSS04]"

REJECTED = _any(
    r"sender (?:address |domain )?(?:was |is )?(?:rejected|refused|denied|blocked|not (?:allowed|authori[sz]ed|permitted|accepted)|unknown|invalid|verify failed|verification failed)",  # Postfix "Sender address rejected", qmail "sender was rejected"
    r"(?:rejected|refused|denied|blocked|unverified|invalid|bad|unroutable|unrouteable|unknown) sender|envelope (?:sender|from) (?:address )?(?:is )?(?:rejected|invalid|blocked)",  # Exim "Unroutable sender address"
    r"domain of sender (?:address )?.{0,80}does not (?:exist|resolve)|sender domain .{0,40}(?:does not exist|not found|invalid|must (?:resolve|exist))",
    r"mail from .{0,60}(?:rejected|refused|denied|not accepted)|from address (?:is )?(?:rejected|invalid|not allowed)|not a registered gateway user",
    r"(?:sending|sender) to/from an address that has been blacklisted|address (?:is )?on (?:the|our|a) (?:block|black|deny) ?list",
    r"'send mail as'|send mail as feature",  # Gmail: a From: the account may not use
)

HOSTUNKNOWN = _any(
    r"host (?:or domain name )?(?:unknown|not found(?!, try again)|unreachable)|unknown host|no such domain|domain (?:does not exist|is not reachable|must exist)",  # common; "Host not found, try again" is a DNS outage
    r"unrouteable address|name or service not known|unknown domain name|recipient domain must exist|mail domain mentioned in email address is unknown",  # Exim, Postfix
    r"the account or domain may not exist|[\w.-]+\.[a-z]{2,} does not exist|host [\w.-]+\.[a-z]{2,}\.? not found",  # DragonFly "DNS lookup failure: host X not found"
)

SPAMDETECTED = _any(
    r"spam(?!haus|cop| ?trap)|junk ?mail|unsolicited|bulk (?:e-?mail|mail)|\bubc?e\b|blacklisted url|uribl|surbl",  # common; not the spamhaus/spamcop block lists
    r"message (?:was |is )?(?:classified|identified|detected|considered) as (?:spam|junk|suspicious)|content (?:was )?(?:rejected|refused)|message content rejected",
)

SPEEDING = _any(
    r"(?<!connection )rate ?limit|too many (?:messages|mails|e-?mails)|sending (?:rate|limit) exceeded|exceeded (?:the )?(?:hourly|daily|message|sending) (?:rate|limit|quota)|too many recipients this hour",  # common
    r"message rate|throttl|receiving mail (?:at a rate|too quickly)",  # Gmail 4.2.1
)

TOOMANYCONN = _any(
    r"too many (?:connections|concurrent|simultaneous|sessions|smtp sessions|recipients)|connection (?:count|rate) limit|(?:maximum|max) (?:number of )?connections|connection frequency limited",  # common; QQ "Connection frequency limited"
)

BLOCKED_HOST = _any(
    r"(?:client|your|sending|the) (?:host|ip|address|server|network|mta|ip address|mail server)(?: address)? .{0,60}(?:is |has been |was )?(?:blocked|blacklisted|banned|rejected|refused|denied|listed|not allowed|not permitted)",  # common
    r"block ?list|black ?list|\brbl\b|\bdnsbl\b|spamhaus|spamcop|sorbs|listed (?:at|on|in|by)|blocked using|blocked ip",  # Postfix "blocked using zen.spamhaus.org"
    r"client host rejected|service unavailable; client host|messages from [\d.]+ weren't sent|adresse ip source bloquee",  # Postfix, Sendmail, Outlook SC-00x, Orange
    r"dynamic ip|residential|dial-?up|use the smtp server of your isp|not allowed to (?:send|connect)",
)
BLOCKED = _any(BLOCKED_HOST.pattern, r"access denied|connection (?:denied|blocked)|\bbanned\b")  # a bare "access denied" says nothing of whom

VIRUSDETECTED = _any(r"virus|malware|infected|trojan|\bworm\b")

POLICYVIOLATION = _any(
    r"polic(?:y|ies)|violat|prohibited|header error|attachment|file type|extension (?:is )?(?:not allowed|blocked|prohibited)|potential security issue",  # common; Gmail 552-5.7.0
)

SYSTEMERROR = _any(
    r"system (?:error|problem|failure)|internal (?:server )?error|server error|local error|temporary (?:local )?(?:problem|failure|error)|error in processing|unable to process|misconfigur|configuration error",  # common
    r"loops back to myself|too many hops|hop count exceeded|mail loop|routing loop|service currently unavailable|service refused",  # Postfix, Sendmail
)

NETWORKERROR = _any(
    r"host name lookup failure|name ?server|name service error|host not found, try again|dns (?:error|failure|problem|lookup)|lookup of .{0,80}responded with|nxdomain|domain name not found",  # Sendmail "host name lookup failure", Gmail "DNS Error", Postfix
    r"network (?:is )?unreachable|no route to host|unable to resolve|could not connect and send|mx (?:record|lookup)|lost connection",
)

EXPIRED = _any(
    r"retry (?:time|timeout) (?:not reached|exceeded)|delivery time expired|message expired|gave up|giving up|expired|been failing for a long time",  # Exim "retry timeout exceeded", "all hosts ... have been failing"
    r"connection timed out|timed? ?out|did not accept our requests to connect|not reachable|could not be delivered (?:within|for|after)|unable to deliver message after multiple retries|failed \d+ attempts",  # Postfix, Gmail, Zoho, IMail
    r"in the queue too long|too long in (?:the )?queue|(?:still )?being retried|will (?:continue|keep) (?:trying|to try)|has been delayed|not (?:yet )?been delivered",  # qmail, Sendmail
)

CONTENTERROR = _any(
    r"8-?bit data|improper use of|mime (?:header|structure|type|format)|invalid (?:mime|header)|message format|content-transfer-encoding|charset|line too long",  # Sendmail 5.6.x
)

SYSTEMFULL = _any(r"insufficient (?:system )?(?:storage|disk space)|(?:disk|system|file ?system|spool) (?:is )?full|out of (?:disk )?space|no space left")

NULLMX = _any(r"null mx|(?:doesn't|does not) (?:receive|accept) (?:any )?e-?mail according to")  # RFC 7505; Gmail's DNS Error wording

NOTACCEPT = _any(
    r"(?:does not|doesn't|will not|won't|do not) (?:accept|receive) (?:any )?(?:e-?)?mail|not accepting (?:any )?(?:e-?)?mail|null mx|no mail (?:service|server)|mail (?:is )?not accepted",
    r"(?:couldn't|could not|can't|cannot) find a mail exchanger",  # qmail
)

SECURITYERROR = _any(r"authenticat|starttls|\btls\b|\bssl\b|encrypt|certificate|must issue a|security|unauthori[sz]ed|credential")  # common

MAILERERROR = _any(
    r"x-unix|procmail|maildrop|command (?:died|failed|output|returned)|pipe to|program (?:exited|failed)|exit (?:code|status)|mailer error|mail delivery program|local delivery (?:failed|program)|sh: |permission denied|operating system error",  # Postfix/Sendmail local delivery
)

SYNTAXERROR = _any(r"syntax error|command (?:not|un)recogni[sz]ed|unrecogni[sz]ed command|invalid command|bad sequence of commands|malformed address|may not follow|(?:command|parameter) not implemented")

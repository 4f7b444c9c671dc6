"""What remote servers say, by reason: compact phrase rules with vetoes.

Each :class:`Rule` names a reason, the phrases mail systems use for it, the
phrases that veto it when only the status code pointed at it, and, where it
matters, the SMTP commands its phrases are believable for (a "user unknown" said in
reply to DATA is a content filter's wording, not a verdict on the address).

Rules are tried in two passes, first match wins (the order follows Sisimai's
``Reason::get`` and ``Reason::anotherone``, which reflects which wording is the
most specific). Phrases are lower-case regular expressions over the diagnostic with
its whitespace collapsed. Each group of phrases says where it is seen; "common"
means many unrelated MTAs and providers word it so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    reason: str
    phrases: re.Pattern[str]
    vetoes: re.Pattern[str] | None = None
    commands: frozenset[str] | None = None  # phrases count only when the command was one of these (or unknown)


def _any(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


MAILBOXFULL = _any(
    r"mail ?box (?:is )?(?:full|over ?(?:quota|limit)|exceeded|size limit)",  # common; Dovecot "Mailbox is full"
    r"over ?quota|quota (?:exceeded|exceed|full|violation)|exceeded (?:the |their |its |storage |mailbox |disk )*(?:quota|storage)",  # common; Gmail "OverQuota"
    r"(?:disk|storage|mailbox|user'?s?) quota",  # qmail/vpopmail, Exchange "mailbox quota"
    r"(?:mailbox|inbox|account|user) (?:is |has )?(?:full|exceeded (?:its|the|their)? ?(?:size|storage|quota)?)",
    r"insufficient (?:mailbox )?(?:storage|space) (?:for|in) (?:the )?(?:user|mailbox|recipient)",
    r"full mail ?box|mail ?box full|mailfolder is full|maildir (?:is )?over quota",  # Courier, maildrop
    r"not enough (?:storage|space) (?:in|for) (?:the )?(?:mailbox|user)|too much mail data",
    r"user has (?:too many messages|exceeded)|would exceed (?:the )?(?:mailbox|quota)",
)

MESGTOOBIG = _any(
    r"message (?:is )?too (?:big|large)|message (?:size|length) (?:exceeds|too large|over)",  # common
    r"exceeds? (?:the )?(?:maximum|max|fixed maximum|message|allowed) (?:allowed )?(?:message )?size",  # Postfix "message size exceeds fixed maximum message size"
    r"(?:mail|message|email) (?:is )?(?:larger|bigger) than",
    r"size (?:limit )?exceeded|message exceeds .{0,40}size limit",
)

EXCEEDLIMIT = _any(
    r"message (?:length )?exceeds (?:the )?(?:recipient'?s?|administrative|user'?s?) (?:size )?limit",  # RFC 3463 x.2.3 wording
)

SUSPEND = _any(
    r"(?:account|mail ?box|address|user) (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|blocked for|on hold|not active|expired)",  # common
    r"(?:disabled|suspended|inactive|deactivated|locked) (?:account|mail ?box|user|recipient)",
    r"recipient (?:is )?(?:suspended|inactive)|account (?:has been )?(?:closed|terminated|cancel+ed)",
    r"this (?:account|mailbox) (?:has been )?(?:disabled|discontinued)",  # Yahoo, Outlook
    r"user (?:account )?(?:is )?(?:unavailable|inactive)",
)

HASMOVED = _any(
    r"(?:has|have) moved(?: on)?|address (?:has )?changed|no longer (?:at|with|uses? this|in use|works? (?:here|for))",  # common; qmail "has moved"
)

NORELAYING = _any(
    r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed|authori[sz]ed))|(?:not|unable to|cannot|can't|we do not|does not|won't) (?:permitted to )?relay",  # Postfix "Relay access denied", Sendmail "Relaying denied"
    r"not (?:a )?(?:gateway|local host|our customer)|relay not permitted|no relaying|relay prohibited|open relay",
    r"(?:domain|host) (?:isn't|is not) in my list of allowed rcpthosts",  # qmail
)

AUTHFAILURE = _any(
    r"\bspf\b.{0,40}(?:fail|softfail|error|not pass|check|record|reject)|(?:fail|failed|failure|did not pass|does not pass).{0,20}\bspf\b",  # common
    r"\bdkim\b.{0,40}(?:fail|invalid|missing|not pass|error|verif)|(?:fail|failed|invalid|missing).{0,20}\bdkim\b",
    r"\bdmarc\b|not authenticated with (?:spf|dkim)|authenticate with (?:either )?spf",  # Gmail 5.7.26, Microsoft 5.7.509
    r"sender policy framework|domainkeys|unauthenticated (?:email|mail|sender)|authentication checks? fail",
)

USERUNKNOWN = _any(
    r"(?:user|mail ?box|recipient|address|account|addressee|local ?part|e-?mail address|destination address|name)(?: name)? (?:is )?(?:unknown|not (?:found|known|listed|local|valid|exist)|(?:does not|doesn't|did not|dosn't|dose not) exist|invalid|unavailable|not recogni[sz]ed|no such)",  # common
    r"(?:unknown|invalid|no such|non-?existent|unrecogni[sz]ed|bad) (?:local )?(?:user|mail ?box|recipient|address|account|addressee|alias|local ?part|e-?mail|person|destination)",  # common
    r"no (?:such (?:user|mailbox|person|account|recipient|address)|mailbox here by that name|account by that name|valid recipients?)",  # qmail "no mailbox here by that name"
    r"recipient(?: address)? rejected: (?:user unknown|undeliverable address|unknown|invalid|address unknown|not found|no such user)",  # Postfix virtual/relay_recipient_maps
    r"user unknown|unknown user|user not found|recipient not found|address not found|mailbox not found|recipientnotfound|resolver\.adr\.recipnotfound",  # common; Exchange 5.1.10 "RecipientNotFound"
    r"the email account that you tried to reach does not exist|doesn't have an? .{0,30}account|does not have an? .{0,30}account",  # Gmail, Yahoo
    r"(?:is )?not listed in (?:domino directory|public name & address book|the domain directory)",  # Lotus Domino
    r"address (?:does not|doesn't) exist|unknown or illegal alias|no such person|not a valid (?:user|recipient|mailbox|address)",
    r"(?:user|recipient|mailbox) (?:is )?(?:unknown|invalid)|undeliverable address|invalid recipient|deactivated mailbox",
    r"this user doesn't have|unrouteable mailbox|mailbox (?:name )?(?:not allowed|unavailable)",
)
USERUNKNOWN_VETOES = _any(
    r"relay|mail ?box (?:is )?full|over ?quota|blocked|block ?list|blacklist|spam|rbl|has moved|sender|not accept|reputation",
)

FILTERED = _any(
    r"(?:rejected|refused|blocked|denied|filtered) by (?:the )?(?:recipient|user|mailbox owner|addressee)'?s?",  # common
    r"recipient (?:has )?(?:rejected|refused|blocked|denied) (?:your|the|this) (?:message|mail|e-?mail)",
    r"(?:does not|doesn't|is not|isn't) accept(?:ing)? (?:mail|messages|e-?mail) from|not accepting (?:mail|messages) from",
    r"message (?:was )?(?:rejected|blocked|filtered) by (?:the )?(?:recipient'?s? )?(?:filter|rule)|\bfiltered\b|content filter",
    r"delivery (?:is )?not authori[sz]ed|(?:prohibited|forbidden) by (?:the )?recipient|user (?:has )?(?:refused|rejected)",
    r"mailbox (?:is )?(?:restricted|not accepting)|not allowed to receive|cannot receive (?:messages|mail)",
)

REQUIREPTR = _any(
    r"reverse (?:dns|lookup|name|address|host)|\bptr\b|\brdns\b|no (?:valid )?(?:ptr|reverse)",  # common
    r"(?:cannot|could not|can't|unable to) (?:find|resolve) (?:your )?(?:host ?name|client host name)|client host name (?:is )?(?:unknown|not found)",
    r"(?:ip|address) (?:has no|without) (?:reverse|ptr|name)|does not have a (?:valid )?(?:reverse|ptr)|hostname (?:does not|doesn't) match",
)

NOTCOMPLIANTRFC = _any(
    r"rfc ?(?:5322|2822|822|5321|1123)|not (?:rfc|standards?)[ -]?compliant|(?:non|not)-?compliant (?:with|message)",  # Gmail "not RFC 5322 compliant"
    r"(?:multiple|duplicate|too many) (?:from|to|subject|date|message-id|sender)? ?headers?|missing (?:a )?(?:required )?(?:date|from|message-id|to) header",
    r"header (?:is )?(?:malformed|invalid|broken)|malformed (?:message|header)|bare (?:lf|cr)",
)

BADREPUTATION = _any(
    r"reputation|sender score|bad (?:sender )?(?:ip )?rating|low quality sender",  # Gmail "low reputation", Microsoft
)

REJECTED = _any(
    r"sender (?:address |domain )?(?:is )?(?:rejected|refused|denied|blocked|not (?:allowed|authori[sz]ed|permitted|accepted)|unknown|invalid|verify failed|verification failed)",  # Postfix "Sender address rejected", Exim "sender verify failed"
    r"(?:rejected|refused|denied|blocked|unverified|invalid|bad|unknown) sender|envelope (?:sender|from) (?:address )?(?:is )?(?:rejected|invalid|blocked|not)",
    r"domain of sender (?:address )?.{0,80}does not (?:exist|resolve)|sender domain .{0,40}(?:does not exist|not found|invalid|must resolve|must exist)",
    r"mail from .{0,60}(?:rejected|refused|denied|not accepted)|return[- ]path|from address (?:is )?(?:rejected|invalid|not allowed)",
    r"your (?:e-?mail )?(?:address|domain) (?:has been |is )?(?:blocked|blacklisted|banned|rejected)",
    r"address (?:is )?on (?:the|our|a) (?:block|black|deny) ?list|(?:sender|address) (?:is )?(?:in|on) (?:my|our) (?:block|black|deny) ?list",
)

HOSTUNKNOWN = _any(
    r"host (?:or domain name )?(?:unknown|not found)|unknown host|no such (?:host|domain)|domain (?:name )?(?:not found|does not exist|unknown|doesn't exist|is invalid)",  # common
    r"unrouteable (?:address|mail domain)|unroutable|name or service not known|host not found|illegal host|no mx (?:record|host)|mx (?:record )?(?:not found|lookup failed)",  # Exim, Sendmail
    r"(?:recipient|receiver|destination) (?:domain|host) (?:is )?(?:not exist|unknown|invalid|not found)|invalid domain|bad destination (?:host|system)",
)

SPAMDETECTED = _any(
    r"spam(?!haus|cop| ?trap)|junk ?mail|unsolicited|bulk (?:e-?mail|mail)|(?:mail|message) (?:looks|appears) like|\bubc?e\b",  # common; not the spamhaus/spamcop block lists
    r"message (?:was |is )?(?:classified|identified|detected|considered|rejected|refused) as (?:spam|junk|suspicious)|scor(?:e|ed) (?:as|too high)",
    r"content (?:was )?(?:rejected|refused|blocked)|message content (?:rejected|refused|not accepted)",
)

SPEEDING = _any(
    r"rate ?limit|too many (?:messages|mails|e-?mails)(?: (?:sent|from|in|per))?|sending (?:rate|limit) exceeded|exceeded (?:the )?(?:hourly|daily|message|sending) (?:rate|limit|quota)",  # common
    r"message rate|throttl|too fast|slow down|please try again later.{0,20}(?:rate|too many)",
)

TOOMANYCONN = _any(
    r"too many (?:connections|concurrent|simultaneous|sessions|smtp sessions)|connection (?:count|rate) limit|(?:maximum|max) (?:number of )?connections",  # common
    r"too many recipients|recipient (?:count|limit) exceeded|exceeded (?:the )?(?:maximum )?number of recipients",
)

BLOCKED = _any(
    r"(?:client|your|sending|the) (?:host|ip|address|server|network|mta|ip address|mail server)(?: address)? .{0,60}(?:is |has been |was )?(?:blocked|blacklisted|banned|rejected|refused|denied|listed|not allowed|not permitted)",  # common
    r"block ?list|black ?list|\brbl\b|\bdnsbl\b|spamhaus|spamcop|barracuda|sorbs|listed (?:at|on|in|by)|blocked using",  # Postfix "blocked using zen.spamhaus.org"
    r"(?:access|connection) (?:denied|refused|blocked)|refused to talk to me|client host rejected|service unavailable; client host",  # Postfix, Sendmail
    r"\bblocked\b|\bbanned\b|not allowed to (?:send|connect)|poor reputation|dynamic ip|residential|dial-?up",
)

VIRUSDETECTED = _any(r"virus|malware|infected|trojan|worm\b|malicious")

POLICYVIOLATION = _any(
    r"polic(?:y|ies)|violat|prohibited|not (?:allowed|permitted) (?:by|in|for) (?:the |our )?(?:policy|organi[sz]ation)|attachment|file type|extension (?:is )?(?:not allowed|blocked|prohibited)",  # common
)

SYSTEMERROR = _any(
    r"system (?:error|problem|failure)|internal (?:server )?error|server error|local error|temporary (?:local )?(?:problem|failure|error)|error in processing|unable to process|misconfigur|configuration error",  # common
    r"(?:mail )?(?:loop|loops back to myself|too many hops|hop count exceeded)",  # Postfix "mail for X loops back to myself", Sendmail "Too many hops"
)

NETWORKERROR = _any(
    r"connection (?:timed? ?out|refused|reset|closed|lost|failed)|timed? ?out|network (?:is )?unreachable|no route to host|(?:could not|unable to|cannot|can't) connect",  # common
    r"lost connection|host (?:is )?(?:unreachable|down|not responding)|dns (?:error|failure|problem|lookup)|name server|temporary (?:dns|lookup) failure|no answer from",
)

CONTENTERROR = _any(r"content|mime|encoding|message format|charset|8-?bit|malformed")

SYSTEMFULL = _any(r"insufficient (?:system )?storage|(?:disk|system|file ?system|spool) (?:is )?full|out of (?:disk )?space|no space left")

NOTACCEPT = _any(
    r"(?:does not|doesn't|will not|won't|do not) accept (?:any )?(?:e-?)?mail|not accepting (?:any )?(?:e-?)?mail|null mx|no mail (?:service|server)|mail (?:is )?not accepted",
)

EXPIRED = _any(
    r"retry (?:time|timeout) (?:not reached|exceeded)|delivery time expired|message expired|gave up|giving up|time(?:d)? out waiting|expired",  # Exim "retry timeout exceeded", qmail "I'm not going to try again"
    r"(?:could not|couldn't|unable to) be delivered (?:within|for|after)|has not been (?:delivered|able to be delivered)|(?:still )?being retried|will (?:continue|keep) (?:trying|to try)|not (?:yet )?been delivered|delayed|queue too long|too long in (?:the )?queue",
)

SECURITYERROR = _any(
    r"authenticat|starttls|\btls\b|\bssl\b|encrypt|certificate|must issue a|security|unauthori[sz]ed|credential",  # common
)

MAILERERROR = _any(
    r"x-unix|\bunix\b|procmail|maildrop|command (?:died|failed|output|returned)|pipe to|program (?:exited|failed)|exit (?:code|status)|mail delivery program|local delivery (?:failed|program)|sh: |permission denied",  # Postfix/Sendmail local delivery
)

SYNTAXERROR = _any(r"syntax error|command (?:not|un)recogni[sz]ed|unrecogni[sz]ed command|invalid command|bad sequence of commands|line too long")

# First pass: specific wordings, in Sisimai's Reason::get order.
FIRST: tuple[Rule, ...] = (
    Rule("mailboxfull", MAILBOXFULL),
    Rule("mesgtoobig", MESGTOOBIG),
    Rule("exceedlimit", EXCEEDLIMIT),
    Rule("suspend", SUSPEND),
    Rule("hasmoved", HASMOVED),
    Rule("norelaying", NORELAYING),
    Rule("authfailure", AUTHFAILURE),
    Rule("userunknown", USERUNKNOWN, USERUNKNOWN_VETOES, frozenset({"RCPT"})),
    Rule("filtered", FILTERED),
    Rule("requireptr", REQUIREPTR),
    Rule("notcompliantrfc", NOTCOMPLIANTRFC),
    Rule("badreputation", BADREPUTATION),
    Rule("rejected", REJECTED),
    Rule("hostunknown", HOSTUNKNOWN),
    Rule("spamdetected", SPAMDETECTED),
    Rule("speeding", SPEEDING),
    Rule("toomanyconn", TOOMANYCONN),
    Rule("blocked", BLOCKED),
)

# Second pass, after the status code's own meaning: broader wordings (Sisimai's Reason::anotherone).
SECOND: tuple[Rule, ...] = (
    Rule("virusdetected", VIRUSDETECTED),
    Rule("policyviolation", POLICYVIOLATION),
    Rule("systemerror", SYSTEMERROR),
    Rule("networkerror", NETWORKERROR),
    Rule("systemfull", SYSTEMFULL),
    Rule("notaccept", NOTACCEPT),
    Rule("expired", EXPIRED),
    Rule("securityerror", SECURITYERROR),
    Rule("mailererror", MAILERERROR),
    Rule("syntaxerror", SYNTAXERROR),
    Rule("contenterror", CONTENTERROR),
)

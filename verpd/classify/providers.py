"""Rules for receiving providers whose replies mean something specific.

Large providers answer with their own codes and wordings, documented in their
postmaster pages; where such a reply would be misread by the generic phrase rules,
the provider's own meaning is used. A provider is recognised by the remote or reporting
MTA's host name (a filtering gateway reports for the domains behind it) or by the
recipient's domain. Each rule is
(status prefix or None, phrase regex, reason); the first match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    hosts: re.Pattern[str]  # remote MTA host names or recipient domains
    rules: tuple[tuple[str | None, re.Pattern[str], str], ...]


def _rules(*rules: tuple[str | None, str, str]) -> tuple[tuple[str | None, re.Pattern[str], str], ...]:
    return tuple((prefix, re.compile(pattern), reason) for prefix, pattern, reason in rules)


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        # au by KDDI answers a recipient that does not exist with "550 <addr>: User unknown";
        # when the recipient's own reception filter refuses the sender it says
        # "550 : User unknown" without the address (Japanese carriers word filter
        # refusals as unknown users).
        "kddi",
        re.compile(r"(?:^|\.)(?:ezweb\.ne\.jp|au\.com|biz\.ezweb\.ne\.jp)$"),
        _rules((None, r"\b550 : user unknown", "filtered"), (None, r"user unknown|unknown user", "userunknown")),
    ),
    Provider(
        # NTT docomo's "550 Unknown user <addr>" comes from the recipient's reception filter as
        # often as from a missing mailbox, and docomo does not say which: filtered.
        "docomo",
        re.compile(r"(?:^|\.)docomo\.ne\.jp$"),
        _rules((None, r"unknown user|user unknown", "filtered")),
    ),
    Provider(
        # Orange / La Poste: https://postmaster.orange.fr (codes OFR_xxx, LPNxxx_xxx)
        "orange",
        re.compile(r"(?:^|\.)(?:orange\.fr|wanadoo\.fr|laposte\.net)$"),
        _rules(
            (None, r"destinataire invalide|invalid recipient", "userunknown"),
            (None, r"bloquee pour incident de spam|blocked for spamming", "blocked"),
        ),
    ),
    Provider(
        # Verizon's SMS/MMS gateways reject numbers that have no subscriber.
        "verizon",
        re.compile(r"(?:^|\.)(?:vtext\.com|vzwpix\.com)$"),
        _rules((None, r"no such user|invalid user", "userunknown")),
    ),
    Provider(
        # Symantec MessageLabs / Email Security.cloud verifies recipients for the domains it filters.
        "messagelabs",
        re.compile(r"(?:^|\.)messagelabs\.com$"),
        _rules((None, r"no such user|user unknown|unknown user|invalid recipient", "userunknown")),
    ),
    Provider(
        # Google Groups answers a post it will not take (the group does not exist, or the
        # sender may not post to it) with a letter in the sender's language: the sender was refused.
        "googlegroups",
        re.compile(r"(?:^|\.)googlegroups\.com$"),
        _rules((None, r".", "rejected")),
    ),
    Provider(
        # Google Workspace / Gmail: https://support.google.com/a/answer/3726730 (SMTP error reference)
        "google",
        re.compile(r"(?:^|\.)(?:google\.com|googlemail\.com|gmail\.com|aspmx\.l\.google\.com)$"),
        _rules(
            (None, r"not authorized to send email directly to our servers|ip you're using to send mail is not authorized", "blocked"),
            (None, r"likely unsolicited mail|has been blocked.{0,40}spam|detected that this message is likely suspicious", "spamdetected"),
            (None, r"low reputation|reputation of (?:the )?sending", "badreputation"),
            (None, r"not rfc ?5322 compliant|missing a valid address in from|multiple (?:from|sender|subject|date|to|cc|bcc|message-id|in-reply-to|references|reply-to) headers", "notcompliantrfc"),
            (None, r"receiving mail (?:at a rate|too quickly)|rate that prevents additional messages|daily sending quota|sending limit", "speeding"),
            (None, r"account that you tried to reach is (?:disabled|inactive)|account has been disabled", "suspend"),
            (None, r"over (?:its |their )?(?:storage )?quota|out of storage space|inbox is out of storage", "mailboxfull"),
            (None, r"pass(?:es)? authentication checks|authenticate with (?:either )?spf|unauthenticated|dmarc|\bspf\b|\bdkim\b", "authfailure"),
            (None, r"\bptr\b|reverse dns", "requireptr"),
        ),
    ),
    Provider(
        # Microsoft 365 / Outlook.com: https://learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/
        "microsoft",
        re.compile(r"(?:^|\.)(?:outlook\.com|hotmail\.[a-z.]+|live\.[a-z.]+|msn\.com|protection\.outlook\.com|office365\.us)$"),
        _rules(
            ("5.4.1", r"recipient address rejected: access denied", "userunknown"),  # directory-based edge blocking
            (None, r"recipientnotfound|recipient not found by smtp address lookup|requested action not taken: mailbox unavailable", "userunknown"),
            (None, r"rate limited due to ip reputation|ip reputation|reputation", "badreputation"),
            (None, r"banned sending ip|blocked using|traffic not accepted from this ip|part of their network is on our block list", "blocked"),
            (None, r"dmarc|\bspf\b|\bdkim\b|sender authentication", "authfailure"),
            (None, r"mailbox (?:is )?full|exceeded (?:its|the) storage|quota", "mailboxfull"),
        ),
    ),
    Provider(
        # Yahoo / AOL: https://senders.yahooinc.com/smtp-error-codes
        "yahoo",
        re.compile(r"(?:^|\.)(?:yahoo\.[a-z.]+|yahoodns\.net|ymail\.com|rocketmail\.com|aol\.com|aim\.com)$"),
        _rules(
            (None, r"\[bl2[1-3]\]|\[pbl\]|in spamhaus|connections will not be accepted", "blocked"),
            (None, r"doesn't have an? .{0,20}account|user doesn't exist|mailbox not found|no such user", "userunknown"),
            (None, r"mailbox (?:is )?(?:disabled|inactive)|account is disabled", "suspend"),
        ),
    ),
    Provider(
        # Apple iCloud: https://support.apple.com/102322 (postmaster information)
        "apple",
        re.compile(r"(?:^|\.)(?:icloud\.com|me\.com|mac\.com|mail\.icloud\.com)$"),
        _rules(
            (None, r"account (?:is )?(?:disabled|inactive)", "suspend"),
            (None, r"over quota|mailbox (?:is )?full", "mailboxfull"),
            (None, r"blocked|block ?list|dnsbl|spamhaus", "blocked"),
        ),
    ),
)


def reason(remote_mta: str | None, reporting_mta: str | None, address: str, text: str, status: str | None, reply_code: int | None) -> str | None:
    """The provider's meaning for this reply, if a known provider received (or filtered) the mail."""
    provider = _provider_of((remote_mta, reporting_mta, address.rpartition("@")[2]))
    if provider is None:
        return None
    for prefix, pattern, found in provider.rules:
        if (prefix is None or (status or "").startswith(prefix)) and pattern.search(text):
            return found
    return None


def _provider_of(hosts: tuple[str | None, ...]) -> Provider | None:
    """The first provider (in table order) that any of ``hosts`` belongs to."""
    names = {h.lower().rstrip(".") for h in hosts if h}
    if not names or not _ANY_PROVIDER.search("\n".join(names)):
        return None
    for provider in PROVIDERS:
        if any(provider.hosts.search(name) for name in names):
            return provider
    return None


# One search over all providers' host patterns rules most replies out at once.
# With MULTILINE each host, one per line, is matched from its own start to its own end.
_ANY_PROVIDER = re.compile("|".join(f"(?:{p.hosts.pattern})" for p in PROVIDERS), re.MULTILINE)

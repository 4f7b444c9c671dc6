"""Enhanced status codes: what each standard code means, and which code to believe.

``MEANING`` maps a code's subject.detail (the class digit is ignored) to the reason
it names by itself, from the registry of RFC 3463 and its updates (RFC 3886, 4468,
4865, 4954, 5248, 6710, 7372, 7504, 7505, 8689). Codes whose meaning depends on
the words around them (x.0.0, x.7.1 "delivery not authorized") are absent: the
phrase rules decide those.
Which code to believe when a report and the remote server's words disagree is
settled before classifying, by ``verpd.smtp.settle``.
"""

from __future__ import annotations

MEANING: dict[str, str] = {
    # x.1.x addressing (RFC 3463 §3.2)
    "1.0": "userunknown",  # other address status: given for a recipient, the address is bad
    "1.1": "userunknown",  # bad destination mailbox address
    "1.2": "hostunknown",  # bad destination system address
    "1.3": "userunknown",  # bad destination mailbox address syntax
    "1.4": "userunknown",  # destination mailbox address ambiguous
    "1.6": "hasmoved",  # destination mailbox has moved, no forwarding address
    "1.7": "rejected",  # bad sender's mailbox address syntax
    "1.8": "rejected",  # bad sender's system address
    "1.10": "notaccept",  # recipient address has null MX (RFC 7505)
    # x.2.x mailbox (§3.3)
    "2.1": "filtered",  # mailbox disabled, not accepting messages
    "2.2": "mailboxfull",  # mailbox full
    "2.3": "exceedlimit",  # message length exceeds administrative limit
    # x.3.x mail system (§3.4)
    "3.0": "systemerror",
    "3.1": "systemfull",  # mail system full
    "3.2": "notaccept",  # system not accepting network messages
    "3.3": "systemerror",  # system not capable of selected features
    "3.4": "mesgtoobig",  # message too big for system
    "3.5": "systemerror",  # system incorrectly configured
    # x.4.x network and routing (§3.5)
    "4.0": "networkerror",
    "4.1": "expired",  # no answer from host: the message waited and gave up
    "4.2": "networkerror",  # bad connection
    "4.3": "networkerror",  # directory server failure
    "4.4": "notaccept",  # unable to route: no mail exchanger to hand it to
    "4.5": "systemfull",  # mail system congestion
    "4.6": "networkerror",  # routing loop detected
    "4.7": "expired",  # delivery time expired
    # x.5.x mail delivery protocol (§3.6)
    "5.1": "syntaxerror",  # invalid command
    "5.2": "syntaxerror",  # syntax error
    "5.3": "toomanyconn",  # too many recipients
    "5.4": "syntaxerror",  # invalid command arguments
    "5.5": "syntaxerror",  # wrong protocol version
    # x.6.x message content (§3.7)
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.2": "contenterror",
    "6.3": "contenterror",
    "6.4": "contenterror",
    "6.5": "contenterror",
    "6.6": "contenterror",
    "6.7": "contenterror",
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    # x.7.x security and policy (§3.8 and later registrations)
    "7.0": "securityerror",
    "7.2": "securityerror",  # mailing list expansion prohibited
    "7.3": "securityerror",  # security conversion required but not possible
    "7.4": "securityerror",  # security features not supported
    "7.5": "securityerror",  # cryptographic failure
    "7.6": "securityerror",  # cryptographic algorithm not supported
    "7.7": "securityerror",  # message integrity failure
    "7.8": "securityerror",  # authentication credentials invalid (RFC 4954)
    "7.9": "policyviolation",  # authentication mechanism is too weak (RFC 4954)
    "7.10": "securityerror",  # encryption needed (RFC 5248)
    "7.11": "securityerror",  # encryption required for requested authentication mechanism
    "7.12": "securityerror",  # a password transition is needed
    "7.13": "suspend",  # user account disabled (RFC 5248)
    "7.14": "securityerror",  # trust relationship required
    "7.15": "securityerror",  # priority level is too low (RFC 6710)
    "7.16": "mesgtoobig",  # message too big for specified priority
    "7.17": "hasmoved",  # mailbox owner has changed (RFC 7293)
    "7.18": "hasmoved",  # domain owner has changed
    "7.19": "securityerror",  # RRVS test cannot be completed
    "7.20": "authfailure",  # no passing DKIM signature found (RFC 7372)
    "7.21": "authfailure",  # no acceptable DKIM signature found
    "7.22": "authfailure",  # no valid author-matched DKIM signature found
    "7.23": "authfailure",  # SPF validation failed
    "7.24": "authfailure",  # SPF validation error
    "7.25": "requireptr",  # reverse DNS validation failed
    "7.26": "authfailure",  # multiple authentication checks failed
    "7.27": "notaccept",  # sender address has null MX (RFC 7505)
    "7.28": "speeding",  # mail flood detected (RFC 8689)
    "7.29": "authfailure",  # ARC validation failure (RFC 8617)
    "7.30": "failedstarttls",  # REQUIRETLS support required (RFC 8689)
}


def meaning(status: str | None) -> str | None:
    """The reason a status code names on its own (``5.1.1`` → userunknown), if it does."""
    if not status or status[0] not in "245":
        return None
    return MEANING.get(status[2:])

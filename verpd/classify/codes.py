"""Enhanced status codes (RFC 3463 and its registry): which decide a reason on their own.

A code's subject.detail (the class digit is ignored) names a reason. Two kinds:

- ``DECISIVE`` codes are specific enough to decide alone, whatever words come with them:
  a server that says 5.1.1 says the mailbox does not exist, one that says 5.2.2 that it
  is full. Their wording may be anything ("Recipient address rejected", "Access
  denied") and changes nothing.
- ``DEFERRING`` codes name a family, not a cause: x.0.0, x.7.1 "delivery not
  authorized" (spam, a block list, a policy, a forged sender...), x.2.1 "mailbox
  disabled" (used for suspended accounts, recipients' filters, rate limits), x.5.0,
  x.3.0. The wording decides; the code's meaning is the default when no wording is
  known, and a default is never evidence enough for a hard verdict.

Which code to believe when a report and the server's words disagree is settled
before classifying, by ``verpd.smtp.settle``.
"""

from __future__ import annotations

from verpd.model import Reason as R

DECISIVE: dict[str, R] = {
    # x.1.x addressing (RFC 3463 §3.2)
    "1.1": R.USERUNKNOWN,  # bad destination mailbox address
    "1.2": R.HOSTUNKNOWN,  # bad destination system address
    "1.3": R.USERUNKNOWN,  # bad destination mailbox address syntax: the address can never work
    "1.6": R.HASMOVED,  # destination mailbox has moved, no forwarding address
    "1.7": R.REJECTED,  # bad sender's mailbox address syntax
    "1.8": R.REJECTED,  # bad sender's system address
    # x.2.x mailbox (§3.3)
    "2.2": R.MAILBOXFULL,  # mailbox full
    "2.3": R.EXCEEDLIMIT,  # message length exceeds administrative limit
    # x.3.x mail system (§3.4)
    "3.1": R.SYSTEMFULL,  # mail system full
    "3.4": R.MESGTOOBIG,  # message too big for system
    # x.4.x network and routing (§3.5)
    "4.6": R.NETWORKERROR,  # routing loop detected
    # x.5.x mail delivery protocol (§3.6)
    "5.3": R.TOOMANYCONN,  # too many recipients
    # x.7.x security and policy (§3.8 and later registrations)
    "7.13": R.SUSPEND,  # user account disabled (RFC 5248)
    "7.17": R.HASMOVED,  # mailbox owner has changed (RFC 7293)
    "7.18": R.HASMOVED,  # domain owner has changed (RFC 7293)
    "7.20": R.AUTHFAILURE,  # no passing DKIM signature found (RFC 7372)
    "7.21": R.AUTHFAILURE,  # no acceptable DKIM signature found
    "7.22": R.AUTHFAILURE,  # no valid author-matched DKIM signature found
    "7.23": R.AUTHFAILURE,  # SPF validation failed
    "7.24": R.AUTHFAILURE,  # SPF validation error
    "7.25": R.REQUIREPTR,  # reverse DNS validation failed
    "7.26": R.AUTHFAILURE,  # multiple authentication checks failed
    "7.27": R.REJECTED,  # sender address has null MX (RFC 7505): our sender, not the recipient
    "7.28": R.SPEEDING,  # mail flood detected (RFC 8689)
    "7.29": R.AUTHFAILURE,  # ARC validation failure (RFC 8617)
    "7.30": R.FAILEDSTARTTLS,  # REQUIRETLS support required (RFC 8689)
}

DEFERRING: dict[str, R] = {
    "1.0": R.USERUNKNOWN,  # other address status (IronPort "#5.1.0 Address rejected", SES "Unknown address error")
    "1.4": R.USERUNKNOWN,  # destination mailbox address ambiguous
    "1.10": R.NOTACCEPT,  # recipient address has null MX (RFC 7505); Microsoft uses it for unknown recipients
    "2.1": R.FILTERED,  # mailbox disabled: suspended accounts, recipients' filters, Gmail's rate limits
    "2.4": R.SYSTEMERROR,  # mailing list expansion problem
    "3.0": R.SYSTEMERROR,  # other or undefined mail system status
    "3.2": R.NOTACCEPT,  # system not accepting network messages
    "3.3": R.SYSTEMERROR,  # system not capable of selected features
    "3.5": R.SYSTEMERROR,  # system incorrectly configured
    "4.0": R.NETWORKERROR,  # other or undefined network or routing status
    "4.1": R.EXPIRED,  # no answer from host: the message waited and gave up
    "4.2": R.NETWORKERROR,  # bad connection
    "4.3": R.NETWORKERROR,  # directory server failure
    "4.4": R.NOTACCEPT,  # unable to route: no mail exchanger to hand it to
    "4.5": R.SYSTEMFULL,  # mail system congestion
    "4.7": R.EXPIRED,  # delivery time expired
    "5.0": R.SYNTAXERROR,  # other or undefined protocol status
    "5.1": R.SYNTAXERROR,  # invalid command
    "5.2": R.SYNTAXERROR,  # syntax error
    "5.4": R.SYNTAXERROR,  # invalid command arguments
    "5.5": R.SYNTAXERROR,  # wrong protocol version
    "5.6": R.SYNTAXERROR,  # authentication exchange line too long (RFC 4954)
    "7.0": R.SECURITYERROR,  # other or undefined security status
    "7.1": R.SECURITYERROR,  # delivery not authorized, message refused
    "7.2": R.SECURITYERROR,  # mailing list expansion prohibited
    "7.3": R.SECURITYERROR,  # security conversion required but not possible
    "7.4": R.SECURITYERROR,  # security features not supported
    "7.5": R.SECURITYERROR,  # cryptographic failure
    "7.6": R.SECURITYERROR,  # cryptographic algorithm not supported
    "7.7": R.SECURITYERROR,  # message integrity failure
    "7.8": R.SECURITYERROR,  # authentication credentials invalid (RFC 4954)
    "7.9": R.POLICYVIOLATION,  # authentication mechanism is too weak (RFC 4954)
    "7.10": R.SECURITYERROR,  # encryption needed (RFC 5248)
    "7.11": R.SECURITYERROR,  # encryption required for requested authentication mechanism
    "7.12": R.SECURITYERROR,  # a password transition is needed
    "7.14": R.SECURITYERROR,  # trust relationship required
    "7.15": R.SECURITYERROR,  # priority level is too low (RFC 6710)
    "7.16": R.MESGTOOBIG,  # message too big for specified priority
    "7.19": R.SECURITYERROR,  # RRVS test cannot be completed
}
# x.6.x (message content, §3.7) all default to contenterror; x.0.0 and x.2.0 have no meaning at all.

# Deferring codes that say only "something of this family went wrong" (the "other or
# undefined" x.y.0 codes, and the catch-alls servers use for anything: x.7.1 "delivery
# not authorized", x.2.1 "mailbox disabled", x.3.2 "not accepting messages", x.1.4).
# Their default is never evidence enough for a hard verdict; the other deferring codes
# (x.1.10 null MX, x.4.4 unable to route) say something definite about the destination.
GENERIC = frozenset({"1.0", "1.4", "2.1", "3.0", "3.2", "4.0", "5.0", "6.0", "7.0", "7.1"})


def decisive(status: str | None) -> R | None:
    """The reason a status code decides on its own (``5.1.1`` → userunknown), if it does."""
    if not status or status[0] not in "45":
        return None
    return DECISIVE.get(status[2:])

# What each code says, for the evidence of a verdict (RFC 3463 and the later registrations).
MEANINGS: dict[str, str] = {
    "1.1": "bad destination mailbox address",
    "1.2": "bad destination system address",
    "1.3": "bad destination mailbox address syntax: the address can never work",
    "1.6": "destination mailbox has moved, no forwarding address",
    "1.7": "bad sender's mailbox address syntax",
    "1.8": "bad sender's system address",
    "2.2": "mailbox full",
    "2.3": "message length exceeds administrative limit",
    "3.1": "mail system full",
    "3.4": "message too big for system",
    "4.6": "routing loop detected",
    "5.3": "too many recipients",
    "7.13": "user account disabled (RFC 5248)",
    "7.17": "mailbox owner has changed (RFC 7293)",
    "7.18": "domain owner has changed (RFC 7293)",
    "7.20": "no passing DKIM signature found (RFC 7372)",
    "7.21": "no acceptable DKIM signature found",
    "7.22": "no valid author-matched DKIM signature found",
    "7.23": "SPF validation failed",
    "7.24": "SPF validation error",
    "7.25": "reverse DNS validation failed",
    "7.26": "multiple authentication checks failed",
    "7.27": "sender address has null MX (RFC 7505): our sender, not the recipient",
    "7.28": "mail flood detected (RFC 8689)",
    "7.29": "ARC validation failure (RFC 8617)",
    "7.30": "REQUIRETLS support required (RFC 8689)",
    '1.0': 'other address status (IronPort "#5.1.0 Address rejected", SES "Unknown address error")',
    "1.4": "destination mailbox address ambiguous",
    "1.10": "recipient address has null MX (RFC 7505); Microsoft uses it for unknown recipients",
    "2.1": "mailbox disabled: suspended accounts, recipients' filters, Gmail's rate limits",
    "2.4": "mailing list expansion problem",
    "3.0": "other or undefined mail system status",
    "3.2": "system not accepting network messages",
    "3.3": "system not capable of selected features",
    "3.5": "system incorrectly configured",
    "4.0": "other or undefined network or routing status",
    "4.1": "no answer from host: the message waited and gave up",
    "4.2": "bad connection",
    "4.3": "directory server failure",
    "4.4": "unable to route: no mail exchanger to hand it to",
    "4.5": "mail system congestion",
    "4.7": "delivery time expired",
    "5.0": "other or undefined protocol status",
    "5.1": "invalid command",
    "5.2": "syntax error",
    "5.4": "invalid command arguments",
    "5.5": "wrong protocol version",
    "5.6": "authentication exchange line too long (RFC 4954)",
    "7.0": "other or undefined security status",
    "7.1": "delivery not authorized, message refused",
    "7.2": "mailing list expansion prohibited",
    "7.3": "security conversion required but not possible",
    "7.4": "security features not supported",
    "7.5": "cryptographic failure",
    "7.6": "cryptographic algorithm not supported",
    "7.7": "message integrity failure",
    "7.8": "authentication credentials invalid (RFC 4954)",
    "7.9": "authentication mechanism is too weak (RFC 4954)",
    "7.10": "encryption needed (RFC 5248)",
    "7.11": "encryption required for requested authentication mechanism",
    "7.12": "a password transition is needed",
    "7.14": "trust relationship required",
    "7.15": "priority level is too low (RFC 6710)",
    "7.16": "message too big for specified priority",
    "7.19": "RRVS test cannot be completed",
}


def describe(status: str) -> str:
    """A status code with what it says (``5.1.1: bad destination mailbox address``)."""
    meaning = MEANINGS.get(status[2:])
    return f"{status}: {meaning}" if meaning else status


def is_specific(status: str | None) -> bool:
    """Whether a deferring code says something definite (x.4.4), unlike a catch-all (x.7.1, x.y.0)."""
    return bool(status) and status[2:] not in GENERIC  # type: ignore[index]


# Meanings that hold only in the transient class: "no answer from host" is what Postfix
# writes (4.4.1) for a connection that failed; a 5.4.1 comes from a server that did
# answer, and Microsoft and Zoho use it for refusals (Microsoft's NDR reference: 5.4.1
# "Recipient address rejected: Access denied", "Relay Access Denied").
TRANSIENT_ONLY = frozenset({"4.1"})


def default(status: str | None) -> R | None:
    """The reason a deferring code names when no wording decided (``5.7.1`` → securityerror)."""
    if not status or status[0] not in "45":
        return None
    detail = status[2:]
    if detail in TRANSIENT_ONLY and status[0] != "4":
        return None
    if detail in DEFERRING:
        return DEFERRING[detail]
    if detail.startswith("6."):
        return R.CONTENTERROR
    return None

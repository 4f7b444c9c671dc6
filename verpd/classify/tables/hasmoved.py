"""hasmoved: the mailbox has moved and left no forwarding address (RFC 3463 X.1.6). Hard."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"user has moved; please try", "Sendmail cf FEATURE(redirect)", "deepin-community/sendmail@c7e7de44d9 cf/feature/redirect.m4:23 (redirect.m4)"),
    Phrase(r"(?:has|have) moved(?: on)?", "common", "verpd 0.1 phrase set: qmail, Postfix \"recipient no longer on server\""),
    Phrase(r"address (?:has )?changed", "common", "verpd 0.1 phrase set: qmail, Postfix \"recipient no longer on server\""),
    Phrase(r"no longer (?:on (?:this )?server|at this|with us)", "common", "verpd 0.1 phrase set: qmail, Postfix \"recipient no longer on server\""),
)

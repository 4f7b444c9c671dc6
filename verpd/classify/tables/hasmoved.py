"""hasmoved: the mailbox has moved and left no forwarding address (RFC 3463 X.1.6). Hard."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"user has moved; please try", "Sendmail cf FEATURE(redirect)", "deepin-community/sendmail@c7e7de44d9 cf/feature/redirect.m4:23 (redirect.m4)"),
    Phrase(r"\b(?:user|mailbox) has moved\b", "common: Postfix trivial-rewrite (relocated_maps), Sendmail FEATURE(redirect), RFC 3463 X.1.6 text (OpenSMTPD, Haraka)", "vdukhovni/postfix@17830e5c13 postfix/src/trivial-rewrite/resolve.c:727 ('5.1.6 User has moved to %s', relocated(5)); deepin-community/sendmail@c7e7de44d9 cf/feature/redirect.m4:23 ('551 User has moved; please try'); RFC 3463 §3.2 X.1.6 'Destination mailbox has moved, No forwarding address', verbatim in OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/esc.c:45 and haraka/haraka-dsn@07eb73f2dd index.js:17. Not any '... has moved' (a message moved to quarantine, a server that moved)"),
    Phrase(r"no longer (?:on (?:this )?server|at this|with us)", "Apple iCloud Mail ('recipient no longer on server'); sites' departed-user texts", "sisimai lib/Sisimai/Rhost/Apple.pm ('550 5.1.6 recipient no longer on server') (no primary source found); 'no longer at this (address)', 'no longer with us': no primary source found"),
)

"""verpd: a bounce-handling daemon for sites that mail their users.

It receives bounces from the site's own mail server over LMTP, verifies that each
recipient is a VERP address it signed, records what the bounce says, and decides
when an address should no longer be mailed.
"""

__version__ = "0.1.0"

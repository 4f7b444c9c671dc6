"""badreputation: the sending IP's or domain's reputation is too low."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"internal resources? temporarily unavailable", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §4xx '451 Internal resource temporarily unavailable' (greylisting, or poor IP reputation)"),
    Phrase(r"local ct ip reputation", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '550 Local CT IP Reputation - (Reject)'"),
    Phrase(r"the sending mta's poor reputation", "Cisco Secure Email (IronPort) SBRS-based HAT reject banner", "sisimai lib/Sisimai/Reason/BadReputation.pm (no primary source found)"),
    Phrase(r"reputation", "common", "verpd 0.1 phrase set: Gmail \"low reputation\", Microsoft, Yahoo \"[TSS04]\""),
    Phrase(r"sender score", "common", "verpd 0.1 phrase set: Gmail \"low reputation\", Microsoft, Yahoo \"[TSS04]\""),
    Phrase(r"bad (?:sender )?(?:ip )?rating", "common", "verpd 0.1 phrase set: Gmail \"low reputation\", Microsoft, Yahoo \"[TSS04]\""),
    Phrase(r"low quality sender", "common", "verpd 0.1 phrase set: Gmail \"low reputation\", Microsoft, Yahoo \"[TSS04]\""),
    Phrase(r"unexpected volume or user complaints", "common", "verpd 0.1 phrase set: Gmail \"low reputation\", Microsoft, Yahoo \"[TSS04]\""),
    Phrase(r"extreme bad ip profile", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Blocked.pm)"),
)

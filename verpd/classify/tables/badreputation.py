"""badreputation: the sending IP's or domain's reputation is too low."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"internal resources? temporarily unavailable", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §4xx '451 Internal resource temporarily unavailable' (greylisting, or poor IP reputation)"),
    Phrase(r"local ct ip reputation", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '550 Local CT IP Reputation - (Reject)'"),
    Phrase(r"the sending mta's poor reputation", "Cisco Secure Email (IronPort) SBRS-based HAT reject banner", "sisimai lib/Sisimai/Reason/BadReputation.pm (no primary source found)"),
    Phrase(r"(?<!/)reputation", "common: Gmail, Exchange Online, T-Online, GoDaddy, Mimecast, Cisco IronPort", "Gmail '5.7.1 ... very low reputation of the sending domain' (https://support.google.com/a/answer/3726730); T-Online 'none/bad reputation' (https://postmaster.t-online.de/index.en.html); GoDaddy 'this IP has a poor reputation on Cloudmark Sender Intelligence' (https://www.godaddy.com/help/fix-rejected-email-with-a-bounce-error-40685); Mimecast 'Local CT IP Reputation' (row 1); Exchange Online '4.7.650 ... rate limited due to IP reputation' (sisimai lib/Sisimai/Rhost/Microsoft.pm, no primary source found). Narrowed: not a URL path such as Barracuda's barracudanetworks.com/reputation (a block list reply)"),
    Phrase(r"sender score", "unidentified", "no primary source found; narrow: a reputation score of the sender"),
    Phrase(r"bad (?:sender )?(?:ip )?rating", "unidentified", "no primary source found; narrow: a bad sender/IP rating"),
    Phrase(r"low quality sender", "unidentified", "no primary source found; narrow"),
    Phrase(r"unexpected volume or user complaints", "Yahoo Mail / AOL ([TSS04])", "https://senders.yahooinc.com/smtp-error-codes ('421 4.7.0 [TSS04] Messages from <ip> temporarily deferred due to unexpected volume or user complaints'; archived azumakuniyuki/feb-2024-no-auth-no-entry yahoo-senders-smtp-error-codes/text)"),
    Phrase(r"extreme bad ip profile", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Blocked.pm)"),
)

"""notcompliantrfc: the message breaks RFC 5322 (duplicate or missing headers, bare LF)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"error: bare <lf> received", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:3951 (receive_data_message)"),
    Phrase(r"maximum allowed line length is 998 octets", "Exim default configure acl_check_data", "Exim/exim@13835a3c1e src/src/configure.default:604 (acl_check_data)"),
    Phrase(r"\d header syntax", "Exim default configure acl_check_data (verify = header_syntax)", "Exim/exim@13835a3c1e src/src/configure.default:610 (acl_check_data)"),
    Phrase(r"see https?://.{1,30}/docs/smtplf\.html", "qmail-smtpd", "notqmail/notqmail@a7012e4fdf qmail-smtpd.c:46 (straynewline)"),
    Phrase(r"message is not rfc 2822 compliant", "OpenSMTPD smtpd", "OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/smtp_session.c:2861 (TX_ERROR_MALFORMED)"),
    Phrase(r"message contains (nul characters|bare newlines|non-ascii characters in headers|invalid header)|message has no header/body separator", "Cyrus lmtpd", "cyrusimap/cyrus-imapd@1f3a129311 imap/imap_err.et:117 (IMAP_MESSAGE_CONTAINSNL) sent as cyrusimap/cyrus-imapd@1f3a129311 imap/lmtp_err.et:55 (LMTP_MESSAGE_INVALID)"),
    Phrase(r"line delimiter must be crlf", "Apache James SMTP", "apache/james-project@20bf8083e3 server/protocols/protocols-smtp/src/main/java/org/apache/james/smtpserver/DataLineJamesMessageHookHandler.java:149"),
    Phrase(r"rfc ?(?:5322|2822|822)", "common", "verpd 0.1 phrase set: Gmail \"not RFC 5322 compliant\""),
    Phrase(r"not (?:rfc|standards?)[ -]?compliant", "common", "verpd 0.1 phrase set: Gmail \"not RFC 5322 compliant\""),
    Phrase(r"(?:non|not)-?compliant (?:with|message)", "common", "verpd 0.1 phrase set: Gmail \"not RFC 5322 compliant\""),
    Phrase(r"(?:multiple|duplicate|too many) (?:'?[\w-]+'? )?headers?", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"duplicate header", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"missing (?:a )?(?:required )?(?:date|from|message-id|to) header", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"bare (?:lf|cr)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(reject|bounce), id=[^ ]+ - bad header", "amavisd-new (content filter, SMTP/LMTP reply relayed by the MTA)", "tajohnson/amavisd-new@bc8bc02509 amavisd:1840-1866 (%smtp_reason_by_ccat) and amavisd:15288-15300 (status by category) + amavisd:15331-15338 ('Reject'/'Bounce' prefix)"),
)

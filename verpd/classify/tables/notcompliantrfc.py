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
    Phrase(r"(?<!/)rfc ?(?:5322|2822|822)(?!;)", "common: Gmail, Exchange Online, OpenSMTPD", "Gmail '5.7.1 This message is not RFC 5322 compliant ...' (https://support.google.com/a/answer/3726730); Exchange Online '5.7.512 Access denied, message must be RFC 5322 section 3.6.2 compliant' (https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online); OpenSMTPD 'Message is not RFC 2822 compliant' (row 4). Narrowed: not the address type 'rfc822;' of a DSN field nor the media type 'message/rfc822'"),
    Phrase(r"not (?:rfc|standards?)[ -]?compliant", "common: Yahoo, Gmail", "Yahoo '554 5.7.9 Message not accepted for policy reasons. Headers are not RFC compliant' (https://senders.yahooinc.com/smtp-error-codes); Gmail 'not RFC 5322 compliant'"),
    Phrase(r"(?:non|not)-?compliant (?:with|message)", "unidentified", "no primary source found; narrow"),
    Phrase(r"(?:multiple|duplicate|too many) (?!received)(?:'?[\w-]+'? )?headers?", "common: Gmail, amavisd-new", "Gmail '... not RFC 5322 compliant because it has duplicate headers' (https://support.google.com/a/answer/3726730); amavisd-new 'BAD HEADER: duplicate header field' tajohnson/amavisd-new@bc8bc02509 amavisd:1858. Narrowed: not 'too many Received headers' (Haraka's '550 too many received headers - possible mail loop', connection.js:1570: a loop)"),
    Phrase(r"missing (?:a )?(?:required )?(?:date|from|message-id|to) header", "unidentified", "no primary source found (RFC 5322 §3.6 requires Date and From); narrow"),
    Phrase(r"bare (?:lf|cr)", "common (RFC 5321 §2.3.8 wording)", "RFC 5321 §2.3.8 (bare CR or LF not permitted); Postfix's 'Bare <LF> received' is row 0, qmail's smtplf notice row 3"),
    Phrase(r"(reject|bounce), id=[^ ]+ - bad header", "amavisd-new (content filter, SMTP/LMTP reply relayed by the MTA)", "tajohnson/amavisd-new@bc8bc02509 amavisd:1840-1866 (%smtp_reason_by_ccat) and amavisd:15288-15300 (status by category) + amavisd:15331-15338 ('Reject'/'Bounce' prefix)"),
    Phrase(r"messages missing a valid address in from: header, or having no from: header, are not accepted", "Google Gmail / Workspace", "https://support.google.com/a/answer/3726730 (SMTP error reference: 550 5.7.1 'Messages missing a valid address in From: header, or having no From: header, are not accepted')"),
)

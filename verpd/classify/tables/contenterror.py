"""contenterror: the message's format or encoding was refused (RFC 3463 X.6)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"message requires smtputf8, but no server was found that supports smtputf8", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:653 (smtp_helo)"),
    Phrase(r"must declare smtputf8 to send unicode address", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:4524"),
    Phrase(r"smtp cannot transfer messages with partial final lines", "qmail-remote", "notqmail/notqmail@a7012e4fdf qmail-remote.c:74 (perm_partialline)"),
    Phrase(r"does not support the sender's international e-mail address|unable to deliver unicode e-mail to a non-unicode mail server", "Courier esmtp client", "svarshavchik/courier@fe506ccc6d courier/courier/module.esmtp/libesmtp.C:64"),
    Phrase(r"x-dg-ref header is too long", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.0.350 ('x-dg-ref header is too long' relates to Rich Text formatted messages); https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/550-x-dg-ref-header-too-long-ndr"),
    Phrase(r"8-?bit data", "common: Postfix, Sendmail", "Postfix '5.6.0 improper use of 8-bit data in message header/body' vdukhovni/postfix@17830e5c13 postfix/src/global/mime_state.c:1165-1166; Sendmail '554 Cannot send 8-bit data to 7-bit destination' deepin-community/sendmail@c7e7de44d9 sendmail/deliver.c:2151"),
    Phrase(r"improper use of (?!smtp command pipelining)", "common: Postfix, amavisd-new", "Postfix 'improper use of 8-bit data in message header/body' vdukhovni/postfix@17830e5c13 postfix/src/global/mime_state.c:1165; amavisd-new 'Improper use of control character' tajohnson/amavisd-new@bc8bc02509 amavisd:10050. Narrowed: not Postfix's 'Improper use of SMTP command pipelining' (smtpd_check.c:1789, a protocol error)"),
    Phrase(r"mime (?:header|structure|type|format)", "unidentified", "no primary source found; narrow: a MIME structure error (RFC 3463 §3.7 X.6.0 'Other or undefined media error')"),
    Phrase(r"invalid (?:mime|header)", "common: Cyrus", "Cyrus 'Message contains invalid header' cyrusimap/cyrus-imapd@1f3a129311 imap/imap_err.et:123; OpenSMTPD's 'Message contains invalid header' is taken first by notcompliantrfc"),
    Phrase(r"message format", "unidentified", "no primary source found; narrow"),
    Phrase(r"content-transfer-encoding", "unidentified", "no primary source found; narrow: names the MIME header (RFC 2045 §6)"),
    Phrase(r"charset", "unidentified", "no primary source found (RFC 2046 §4.1.2 charset parameter); broad word, but only in rule 8"),
    Phrase(r"line too long", "unidentified", "no primary source found for a reply (RFC 5321 §4.5.3.1.6: 1000-octet text lines); narrow"),
    Phrase(r"contains? improperly-formatted binary content", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ContentError.pm)"),
    Phrase(r"contains? text that uses unnecessary base64 encoding", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ContentError.pm)"),
)

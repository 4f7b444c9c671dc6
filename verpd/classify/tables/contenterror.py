"""contenterror: the message's format or encoding was refused (RFC 3463 X.6)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"message requires smtputf8, but no server was found that supports smtputf8", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:653 (smtp_helo)"),
    Phrase(r"must declare smtputf8 to send unicode address", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:4524"),
    Phrase(r"smtp cannot transfer messages with partial final lines", "qmail-remote", "notqmail/notqmail@a7012e4fdf qmail-remote.c:74 (perm_partialline)"),
    Phrase(r"does not support the sender's international e-mail address|unable to deliver unicode e-mail to a non-unicode mail server", "Courier esmtp client", "svarshavchik/courier@fe506ccc6d courier/courier/module.esmtp/libesmtp.C:64"),
    Phrase(r"x-dg-ref header is too long", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.0.350 ('x-dg-ref header is too long' relates to Rich Text formatted messages); https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/550-x-dg-ref-header-too-long-ndr"),
    Phrase(r"8-?bit data", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"improper use of", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"mime (?:header|structure|type|format)", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"invalid (?:mime|header)", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"message format", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"content-transfer-encoding", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"charset", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"line too long", "common", "verpd 0.1 phrase set: Sendmail 5.6.x"),
    Phrase(r"contains? improperly-formatted binary content", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ContentError.pm)"),
    Phrase(r"contains? text that uses unnecessary base64 encoding", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ContentError.pm)"),
)

"""mesgtoobig: the message is too big for the receiving system (RFC 3463 X.3.4)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"message size exceeds fixed limit", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:5490 (smtpd_check_size)"),
    Phrase(r"error: message file too big", "Postfix smtpd/cleanup", "vdukhovni/postfix@17830e5c13 postfix/src/global/cleanup_strerror.c:72 (cleanup_stat_map)"),
    Phrase(r"message size exceeds file system imposed limit|chunk exceeds message size limit", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:2734 (mail_cmd)"),
    Phrase(r"message size \d+ exceeds size limit \d+ of server", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:2707 (smtp_loop)"),
    Phrase(r"message size exceeds maximum permitted", "Exim smtp_in/receive", "Exim/exim@13835a3c1e src/src/smtp_in.c:4876 (smtp_setup_msg MAIL SIZE=); Exim/exim@13835a3c1e src/src/receive.c:3342 (receive_msg)"),
    Phrase(r"message too big \(max=\d+\)", "Exim receive", "Exim/exim@13835a3c1e src/src/receive.c:3349 (receive_msg (local submission))"),
    Phrase(r"message size exceeds (fixed )?maximum (message size|value)", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/srvrsmtp.c:2984 (smtp MAIL SIZE= / collect); deepin-community/sendmail@c7e7de44d9 sendmail/srvrsmtp.c:4940"),
    Phrase(r"that message size exceeds my databytes limit", "qmail-smtpd", "notqmail/notqmail@a7012e4fdf qmail-smtpd.c:386 (smtp_data)"),
    Phrase(r"transaction failed, message too big", "OpenSMTPD smtpd", "OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/smtp_session.c:2849 (smtp_tx_dataline TX_ERROR_SIZE)"),
    Phrase(r"message size \(\d+\) exceeds fixed maximum message size|message size exceeds fixed maximum message size", "Cyrus lmtpd / Apache James", "cyrusimap/cyrus-imapd@1f3a129311 imap/lmtpengine.c:1130 (lmtpmode DATA (maxmessagesize))"),
    Phrase(r"message too big!", "Haraka connection.js", "haraka/Haraka@0bf10cbb48 connection.js:1336"),
    Phrase(r"message length \(\d+ bytes\) exceeds administrative limit", "Courier submit", "svarshavchik/courier@fe506ccc6d courier/courier/submit2.C:633"),
    Phrase(r"size=message too big|message header size exceeds policy limit", "Courier esmtpd/submit", "svarshavchik/courier@fe506ccc6d courier/courier/module.esmtp/courieresmtpd.C:615; svarshavchik/courier@fe506ccc6d courier/courier/submit.C:2161"),
    Phrase(r"message size exceeds fixed maximum message size", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.3.4"),
    Phrase(r"maximum email size exceeded", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '554 Maximum email size exceeded'"),
    Phrase(r"xgemail_0012", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0012: 'Message rejected because it exceeded the allowed size.'"),
    Phrase(r"552 message is too long", "Amazon SES SMTP endpoint (submission)", "awsdocs/amazon-ses-developer-guide @5b3d642 doc-source/troubleshoot-smtp.md (Amazon SES SMTP response codes, https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html) ('larger than 10 MB')"),
    Phrase(r"message (?:is )?too (?:big|large)", "common", "verpd 0.1 phrase set: common; Exim \"Line limit exceeded\""),
    Phrase(r"message (?:size|length) (?:exceeds|too large|over)", "common", "verpd 0.1 phrase set: common; Exim \"Line limit exceeded\""),
    Phrase(r"(?:mail|message|email) (?:is )?(?:larger|bigger) than", "common", "verpd 0.1 phrase set: common; Exim \"Line limit exceeded\""),
    Phrase(r"line limit exceeded", "common", "verpd 0.1 phrase set: common; Exim \"Line limit exceeded\""),
    Phrase(r"exceeds? (?:the )?(?:maximum|max|fixed maximum|allowed) (?:allowed )?(?:message )?size", "common", "verpd 0.1 phrase set: Postfix, Sendmail"),
    Phrase(r"size limit exceeded", "common", "verpd 0.1 phrase set: Postfix, Sendmail"),
    Phrase(r"exceeded maximum inbound message size", "common", "verpd 0.1 phrase set: Postfix, Sendmail"),
    Phrase(r"\bmax(?:imum)?\.? (?:message )?size (?:limit )?exceeded", "common", "RFC 1870 §6.1 (SIZE extension: a message over the server's fixed maximum is refused, 552); the 'max message size exceeded' wording of servers enforcing it"),
    Phrase(r"header size exceeds maximum permitted", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ContentError.pm)"),
    Phrase(r"message header size exceeds limit", "unknown (Exchange-style wording, unverified)", "no primary source found (listed by Sisimai lib/Sisimai/Reason/ExceedLimit.pm)"),
    Phrase(r"too much mail data", "any SMTP server (RFC 5321 example reply for exceeding the message-size limit)", "RFC 5321 §4.5.3.1 (Size Limits and Minimums): 'Errors due to exceeding these limits may be reported by using the reply codes ... 552 Too much mail data.'; same in RFC 2821 (apache/james-project@20bf8083e3 src/site/resources/server/rfclist/smtp/rfc2821.txt:3099)"),
)

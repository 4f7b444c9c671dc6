"""speeding: the sender went over a sending-rate limit."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"error: too many recipients from|error: too much mail from|error: too many auth commands from|too many new tls sessions from", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:3098 (rcpt_cmd (anvil rate)); vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:2683 (mail_cmd (anvil rate))"),
    Phrase(r"number of messages exceeded administrative limit", "Courier ratefilter", "svarshavchik/courier@fe506ccc6d courier/courier/filters/ratefilter.C:167"),
    Phrase(r"access denied, bad outbound sender", "Microsoft Exchange Server / Exchange Online", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.1.8 (sender exceeded a message rate limit)"),
    Phrase(r"storedrv\.submission\.exception:submissionquotaexceededexception", "Microsoft Exchange Online (SMTP AUTH client submission)", "same page, 'Exceeding the per day limit causes ... 554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException'"),
    Phrase(r"storedrv\.deliver; recipient thread limit exceeded", "Microsoft Exchange Online / EOP / Exchange 2010+", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 432 4.3.2 'STOREDRV.Deliver; recipient thread limit exceeded'"),
    Phrase(r"recipient'?s per hour message receive limit (from specific sender )?exceeded", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) rows 5.2.121 / 5.2.122"),
    Phrase(r"reached your daily limit for message recipients", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.1.90"),
    Phrase(r"submission quota was exceeded", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row n/a 'The message can't be submitted because the sender's submission quota was exceeded'"),
    Phrase(r"xgemail_0014", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0014: 'Message rejected because it exceeded the recipient's inbound rate limit for the single sender.'"),
    Phrase(r"xgemail_0015", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0015: 'Message rejected because it exceeded the recipient's total inbound rate limit from all senders.'"),
    Phrase(r'ratelimit \".{0,60}\" exceeded', "Rspamd ratelimit module (soft reject)", "rspamd/rspamd @eaac8e91 src/plugins/lua/ratelimit.lua message_func: string.format('Ratelimit \"%s\" exceeded', limit_type); action 'soft reject' -> milter 451 4.7.1"),
    Phrase(r"throttling failure: (maximum sending rate|daily message quota) exceeded", "Amazon SES SMTP endpoint (submission)", "awsdocs/amazon-ses-developer-guide @5b3d642 doc-source/troubleshoot-smtp.md (Amazon SES SMTP response codes, https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html) '454 Throttling failure: Daily message quota exceeded' / '454 Throttling failure: Maximum sending rate exceeded'"),
    Phrase(r"(?<!connection )rate ?limit", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"too many (?:messages|mails|e-?mails)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"sending (?:rate|limit) exceeded", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"exceeded (?:the )?(?:hourly|daily|message|sending) (?:rate|limit|quota)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"too many recipients this hour", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"message rate", "common", "verpd 0.1 phrase set: Gmail 4.2.1"),
    Phrase(r"throttl", "common", "verpd 0.1 phrase set: Gmail 4.2.1"),
    Phrase(r"receiving mail (?:at a rate|too quickly)", "common", "verpd 0.1 phrase set: Gmail 4.2.1"),
)

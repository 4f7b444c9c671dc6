"""norelaying: the receiving server refused to relay for the recipient's domain."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"relay access denied", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1772 (reject_unauth_destination)"),
    Phrase(r"relay not permitted", "Exim default configure acl_check_rcpt", "Exim/exim@13835a3c1e src/src/configure.default:515 (acl_check_rcpt)"),
    Phrase(r"relaying denied", "Sendmail cf (proto.m4) / Haraka haraka-dsn DSN.relaying_denied() / Apache James", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:82 (confRELAY_MSG); deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2109 (Rcpt_ok); haraka/haraka-dsn@07eb73f2dd index.js:189; apache/james-project@20bf8083e3 protocols/smtp/src/main/java/org/apache/james/protocols/smtp/core/AbstractAuthRequiredToRelayRcptHook.java:48"),
    Phrase(r"relaying temporarily denied\. cannot resolve ptr record for", "Sendmail cf (proto.m4)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2327"),
    Phrase(r"that domain isn't in my list of allowed rcpthosts", "qmail-smtpd", "notqmail/notqmail@a7012e4fdf qmail-smtpd.c:49 (err_nogateway)"),
    Phrase(r"sorry, (relaying denied from your location|we don't relay for|we don't relay)", "qmail-ldap / qmail patches", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-smtpd.c:156; sagredo-dev/qmail@302f308abf qmail-smtpd.c:207"),
    Phrase(r"i cannot deliver mail for", "Haraka connection.js", "haraka/Haraka@0bf10cbb48 connection.js:1129 (rcpt_respond default)"),
    Phrase(r"requested action not taken: relaying denied", "Apache James SMTP", "apache/james-project@20bf8083e3 protocols/smtp/src/main/java/org/apache/james/protocols/smtp/core/AbstractAuthRequiredToRelayRcptHook.java:48 (AbstractAuthRequiredToRelayRcptHook)"),
    Phrase(r"5\.7\.1 unable to relay", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.7.1 \"Unable to relay\""),
    Phrase(r"tenantattribution; relay access denied", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.7.64"),
    Phrase(r"open relay (is )?not allowed", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §4xx '451 Open relay not allowed'"),
    Phrase(r"domain of forward path is not allowed", "Trend Micro InterScan Messaging Security (IMSS)", "https://success.trendmicro.com/dcx/s/solution/1106332 ('550 Domain of forward path is not allowed': recipient domain not in Relay Domains)"),
    Phrase(r"you are trying to use me \[.{0,80}\] as a relay", "Symantec/Broadcom Email Security.cloud (MessageLabs)", "http://www.symanteccloud.com/troubleshooting (Symantec.cloud bounce-back troubleshooting page) (relay refusal); brief"),
    Phrase(r"xgemail_0010", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0010: 'Message rejected because the recipient's domain isn't a Sophos Email protected domain.'"),
    Phrase(r"etp100\b", "Trellix (FireEye ETP) Email Security - Cloud", "https://docs.trellix.com/data-and-email/docs/error-codes (Client and segregation codes table) ETP100 'Invalid recipient' Reject: invalid domain specified (domain not a known inline/OOB domain)"),
    Phrase(r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed|authori[sz]ed))", "common", "verpd 0.1 phrase set: Postfix \"Relay access denied\", Sendmail \"Relaying denied\""),
    Phrase(r"(?:not|unable to|cannot|can't|we do not|does not|won't) (?:permitted to )?relay", "common", "verpd 0.1 phrase set: Postfix \"Relay access denied\", Sendmail \"Relaying denied\""),
    Phrase(r"not (?:a )?(?:gateway|local host)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"no relaying", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"relay prohibited", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"not configured to relay", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(?:domain|host) (?:isn't|is not) in my list of allowed rcpthosts", "common", "verpd 0.1 phrase set: qmail"),
)

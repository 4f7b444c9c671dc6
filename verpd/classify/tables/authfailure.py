"""authfailure: SPF, DKIM or DMARC failed (RFC 7372 X.7.20-26)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"command rejected due to sender id validation failure", "Microsoft Outlook.com / Hotmail (legacy Sender ID)", "https://sendersupport.olc.protection.outlook.com/pm/troubleshooting.aspx (Outlook.com Postmaster > Troubleshooting > 'SMTP Error Codes'; archived copy github azumakuniyuki/feb-2024-no-auth-no-entry microsoft-troubleshooting/text/microsoft-troubleshooting-2026-06-15.txt) FAQ 'Why did I receive a \"550 command rejected due to Sender ID validation failure.\"' (domain publishes v=spf1 -all)"),
    Phrase(r"rejected because of sender policy framework violation", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.7.23 'The message was rejected because of Sender Policy Framework violation'"),
    Phrase(r"must pass either spf or dkim validation", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 4.7.26 'Access denied, a message sent over IPv6 [...] must pass either SPF or DKIM validation, this message is not signed'"),
    Phrase(r"(spf|dkim|dmarc) sender invalid - envelope rejected", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '550 SPF/DKIM/DMARC Sender Invalid - envelope rejected'"),
    Phrase(r"spf unauthorized mail is prohibited", "Cisco Secure Email (IronPort AsyncOS) SPF verification", "Cisco IronPort AsyncOS 7.1 for Email Advanced Configuration Guide, ch.4 Email Authentication, listenerconfig SPF defaults (manualsbrain.com/it/manuals/1649627/?page=293) 'Reject code: 550 / Reject text: #5.7.1 SPF unauthorized mail is prohibited.'"),
    Phrase(r"temporary error occurred during spf verification", "Cisco Secure Email (IronPort AsyncOS) SPF verification", "Cisco IronPort AsyncOS 7.1 for Email Advanced Configuration Guide, ch.4 Email Authentication, listenerconfig SPF defaults (manualsbrain.com/it/manuals/1649627/?page=293) 'Defer code: 451 / Defer text: #4.4.3 Temporary error occurred during SPF verification.'"),
    Phrase(r"spf \(sender policy framework\) domain authentication fail", "Symantec/Broadcom Email Security.cloud (MessageLabs)", "http://www.symanteccloud.com/troubleshooting (Symantec.cloud bounce-back troubleshooting page); exact text quoted in sisimai lib/Sisimai/Fact.pm comment ('553-SPF (Sender Policy Framework) domain authentication fail. Refer to the Troubleshooting page at http://www.symanteccloud.com/troubleshooting')"),
    Phrase(r"spf check failed\. sender not authorized", "recipient servers (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/162445/outbound-mail-returned-by-mailerdaemonme.html (Broadcom KB 162445: refusal texts of recipient servers, grouped by cause) under 'The sending server cannot be seen as authorized for the sending domain'"),
    Phrase(r"xgemail_0001", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0001: 'Message didn't contain a valid DKIM signature.'"),
    Phrase(r"xgemail_0002", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0002: 'Message failed an SPF check.'"),
    Phrase(r"xgemail_0003", "Sophos Central Email", "https://docs.sophos.com/central/customer/help/en-us/ManageYourProducts/EmailSecurity/SMTPErrorCodes/index.html table row XGEMAIL_0003: 'Message failed a DMARC check.'"),
    Phrase(r"\bspf\b.{0,40}(?:fail|softfail|error|not pass|check|record|reject)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"(?:fail|failed|failure|did not pass|does not pass).{0,20}\bspf\b", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"\bdkim\b[\w\s-]{0,25}(?:fail|invalid|not pass|error)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"dkim=(?:fail|permerror)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(?:failed|did not pass|does not pass) (?:the )?dkim", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"\bdmarc\b", "common", "verpd 0.1 phrase set: Gmail 5.7.26, Microsoft 5.7.509"),
    Phrase(r"not authenticated with (?:spf|dkim)", "common", "verpd 0.1 phrase set: Gmail 5.7.26, Microsoft 5.7.509"),
    Phrase(r"authenticate with (?:either )?spf", "common", "verpd 0.1 phrase set: Gmail 5.7.26, Microsoft 5.7.509"),
    Phrase(r"multiple authentication checks failed", "common", "verpd 0.1 phrase set: Gmail 5.7.26, Microsoft 5.7.509"),
    Phrase(r"sender policy framework", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"domainkeys", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"authentication checks? fail", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"spf\.pobox\.com/", "qmail-smtpd SPF patch (Jana Saout) / Mail::SPF::Query era default SPF explanation", "sagredo-dev/qmail@302f308abf spf.h:16-17 (former default explanation \"See http://spf.pobox.com/why.html?sender=%{S}&ip=%{I}&receiver=%{xR}\", now commented out in favour of SPF_DEFEXP) emitted by qmail-smtpd.c:1358 err_spf() as 550 lines"),
    Phrase(r"please inspect your spf settings", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/AuthFailure.pm)"),
    Phrase(r"invalid ip for sending mail of domain", "unknown (seen from Chinese providers, unverified)", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Blocked.pm)"),
)

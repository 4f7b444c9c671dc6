"""policyviolation: the message violates the receiving side's policy (attachments, content rules)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"we don't accept email with this mime content", "qmail-ldap qmail-smtpd", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-smtpd.c:1597"),
    Phrase(r"transaction failed due to too many mime parts", "Haraka connection.js", "haraka/Haraka@0bf10cbb48 connection.js:1549"),
    Phrase(r"571 delivery not authorized, message refused", "Courier submit (filter rejection)", "svarshavchik/courier@fe506ccc6d courier/courier/submit.C:2609 (low confidence)"),
    Phrase(r"5\.7\.9\d\d delivery not authorized, message refused", "Microsoft Exchange Server mail flow (transport) rules", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.7.900-5.7.999"),
    Phrase(r"policy violation detected \(as345\)", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.0.350 ('Requested action not taken: policy violation detected (AS345)' relates to nested attachments)"),
    Phrase(r"anti-spoofing policy - inbound not allowed|rejected by header.based anti-spoofing policy", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '550 Anti-Spoofing policy - Inbound not allowed', '550 Rejected by header based Anti-Spoofing policy'"),
    Phrase(r"message bounced due to content examination policy", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '550 Message bounced due to Content Examination policy'"),
    Phrase(r"host network,? not allowed", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '554 Host network, not allowed' (Geographical Restriction policy)"),
    Phrase(r"message rejected due to content restrictions", "recipient gateways (Broadcom list; brief attributes it to Cisco IronPort content filters)", "https://knowledge.broadcom.com/external/article/162445/outbound-mail-returned-by-mailerdaemonme.html (Broadcom KB 162445: refusal texts of recipient servers, grouped by cause) under 'something suspicious in the message content'"),
    Phrase(r"ms-office file containing vba macros found", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/162445/outbound-mail-returned-by-mailerdaemonme.html (Broadcom KB 162445: refusal texts of recipient servers, grouped by cause)"),
    Phrase(r"rejected due to banned content", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/169925/common-external-spam-filtering-error-cod.html (Broadcom KB 169925)"),
    Phrase(r"matched map: ", "Rspamd multimap module", "rspamd/rspamd @eaac8e91 src/plugins/lua/multimap.lua set_pre_result(rule.action, 'Matched map: ' .. rule.symbol)"),
    Phrase(r"these attachments are not allowed", "ASSP (Anti-Spam SMTP Proxy)", "https://maxclicksonline.com/client-area/knowledgebase.php?action=displayarticle&id=10095 (hosting provider's page listing ASSP anti-spam proxy bounce texts)"),
    Phrase(r"\[internal\] discarded by policy", "SparkPost / Momentum", "SparkPost/support-docs @2cb4102c content/momentum/3/3-reference/responses-by-code.md (Momentum MTA, which SparkPost runs) '550 5.7.1 [internal] discarded by policy' (low confidence)"),
    Phrase(r"polic(?:y|ies)", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"violat", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"prohibited", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"header error", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"attachment", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"file type", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"extension (?:is )?(?:not allowed|blocked|prohibited)", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
    Phrase(r"potential security issue", "common", "verpd 0.1 phrase set: common; Gmail 552-5.7.0"),
)

"""spamdetected: the message was judged to be spam."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"error: message content rejected", "Postfix cleanup(8) header/body_checks", "vdukhovni/postfix@17830e5c13 postfix/src/global/cleanup_strerror.c:73 (cleanup_stat_map) (low confidence)"),
    Phrase(r"rejected: message contains domain .{1,80} listed by", "Apache James URIRBLHandler", "apache/james-project@20bf8083e3 server/protocols/protocols-smtp/src/main/java/org/apache/james/smtpserver/fastfail/URIRBLHandler.java:137"),
    Phrase(r"550 spam refused\.", "Courier submit (spamtrap)", "svarshavchik/courier@fe506ccc6d courier/courier/submit2.C:647"),
    Phrase(r"content filter agent quarantined this message", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.2.1"),
    Phrase(r"message filtered\. (refer to the troubleshooting page at|please see the faqs section on spam)", "Symantec/Broadcom Email Security.cloud (MessageLabs) anti-spam", "http://www.symanteccloud.com/troubleshooting (Symantec.cloud bounce-back troubleshooting page) (Signaturing anti-spam filter); wording from sisimai lib/Sisimai/Reason/SpamDetected.pm (low confidence)"),
    Phrase(r"message rejected as spam by content filter(ing)?", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/162445/outbound-mail-returned-by-mailerdaemonme.html (Broadcom KB 162445: refusal texts of recipient servers, grouped by cause); https://knowledge.broadcom.com/external/article/169925/common-external-spam-filtering-error-cod.html (Broadcom KB 169925)"),
    Phrase(r"554 denied \(mode: normal\)", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/162445/outbound-mail-returned-by-mailerdaemonme.html (Broadcom KB 162445: refusal texts of recipient servers, grouped by cause) under 'The recipient server finds something suspicious in the message content' (low confidence)"),
    Phrase(r"rejected due to spam content", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/169925/common-external-spam-filtering-error-cod.html (Broadcom KB 169925)"),
    Phrase(r"blocked by spamassassin", "spamass-milter (SpamAssassin milter) default reject", "spamass-milter spamass-milter.cpp main(): 'Set standard reject text' rejecttext = \"Blocked by SpamAssassin\", rejectcode = \"5.7.1\"; assassinate(): smfi_setreply(ctx, \"550\", rejectcode, rejecttext)"),
    Phrase(r"spam message rejected", "Rspamd (milter / proxy) default reject", "rspamd/rspamd @eaac8e91 src/libserver/milter_internal.h RSPAMD_MILTER_REJECT_MESSAGE \"Spam message rejected\", RCODE 554, XCODE 5.7.1; conf/worker-proxy.inc reject_message"),
    Phrase(r': (spam|bulk) message found: \"', "Rspamd external scanners (cloudmark, dcc, kaspersky_se, metadefender)", "rspamd/rspamd @eaac8e91 lualib/lua_scanners/cloudmark.lua message = '${SCANNER}: spam message found: \"${VIRUS}\"'; dcc.lua '${SCANNER}: bulk message found: \"${VIRUS}\"'"),
    Phrase(r"appears to be unsolicited", "ASSP (Anti-Spam SMTP Proxy)", "https://maxclicksonline.com/client-area/knowledgebase.php?action=displayarticle&id=10095 (hosting provider's page listing ASSP anti-spam proxy bounce texts)"),
    Phrase(r"\bspam content\b", "Twilio SendGrid (dropped event reason, Spam Checker app)", "sendgrid/docs @c3eb3fef content/docs/glossary/drops.md and content/docs/for-developers/tracking-events/event.md (dropped event reasons) 'Spam Content (if Spam Checker app is enabled)'"),
    Phrase(r"the content of this message looked like spam|transaction failed spam message not queued", "Twilio SendGrid", "sisimai lib/Sisimai/Reason/SpamDetected.pm ('# SendGrid') (no primary source found)"),
    Phrase(r"spam(?!haus|cop| ?trap)", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"junk ?mail", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"unsolicited", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"bulk (?:e-?mail|mail)", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"\bubc?e\b", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"blacklisted url", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"uribl", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"surbl", "common", "verpd 0.1 phrase set: common; not the spamhaus/spamcop block lists"),
    Phrase(r"message (?:was |is )?(?:classified|identified|detected|considered) as (?:spam|junk|suspicious)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"content (?:was )?(?:rejected|refused)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"message content rejected", "common", "verpd 0.1 phrase set: provenance pending"),
)

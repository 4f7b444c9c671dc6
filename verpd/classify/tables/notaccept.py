"""notaccept: the domain accepts no mail at all (null MX, RFC 7505). Hard with a 5xx."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"recipient address rejected: domain .{1,80} does not accept mail \(nullmx\)", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1581 (reject_unknown_mailhost)"),
    Phrase(r"(?<!rejected: )domain .{1,80} does not accept mail \(nullmx\)", "Postfix smtp(8) client / dns_lookup", "vdukhovni/postfix@17830e5c13 postfix/src/dns/dns_lookup.c:1145 (dns_lookup_x); status vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_addr.c:622 (smtp_domain_addr DNS_NULLMX)"),
    Phrase(r"an mx or srv record indicated no smtp service", "Exim dnslookup router", "Exim/exim@13835a3c1e src/src/routers/dnslookup.c:366 (dnslookup_router_entry (null MX))"),
    Phrase(r"host does not accept mail: mx 0 \.", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/deliver.c:60 (deliver (null MX, RFC 7505))"),
    Phrase(r"name server: \.: host not found", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/err.c:1292 (sm_errstring) (CurHostName \".\" = MX target of a null MX on older versions) (low confidence)"),
    Phrase(r"domain does not accept mail", "OpenSMTPD mta", "OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/mta.c:1107 (mta_on_mx (DNS_NULLMX))"),
    Phrase(r"sends and receives no email \(null mx\)", "Haraka outbound", "haraka/Haraka@0bf10cbb48 outbound/hmail.js:277 (found_mx)"),
    Phrase(r"domain does not receive mail\.", "Courier esmtp client", "svarshavchik/courier@fe506ccc6d courier/courier/module.esmtp/libesmtp.C:1516 (RFC1035_MX_NONE (null MX))"),
    Phrase(r"recipient address reserved by rfc 2606", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") rows 5.1.4/5.1.5"),
    Phrase(r"account inbounds disabled", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §4xx '451 Account inbounds disabled'"),
    Phrase(r"\[internal\] null mx domain does not accept mail", "SparkPost / Momentum", "SparkPost/support-docs @2cb4102c content/momentum/3/3-reference/responses-by-code.md (Momentum MTA, which SparkPost runs) '550 5.4.4 [internal] NULL MX domain does not accept mail'"),
    Phrase(r"(?:domain|host|server|system)(?: [\w.-]+)? (?:does not|doesn't|will not|won't) (?:accept|receive) (?:any )?(?:e-?)?mail\b(?! from| with)", "common", "RFC 7505 §3 (a null MX says the domain does not accept mail); RFC 3463 §3.4 X.3.2 'System not accepting network messages': said of the destination, never of one sender or message"),
    Phrase(r"(?:domain|host|server|system) (?:is )?not accepting (?:any )?(?:e-?)?mail\b(?! from| with)", "common", "RFC 3463 §3.4 X.3.2 'System not accepting network messages'"),
    Phrase(r"null mx", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"no mail (?:service|server)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(?:couldn't|could not|can't|cannot) find a mail exchanger", "common", "verpd 0.1 phrase set: qmail"),
    Phrase(r"(?:doesn't|does not) (?:receive|accept) (?:any )?e-?mail according to", "common", "verpd 0.1 phrase set: RFC 7505; Gmail's DNS Error wording"),
    Phrase(r"malformed (?:or unexpected )?name server reply", "Postfix smtp(8)", "vdukhovni/postfix postfix/src/dns/dns_lookup.c:1140 (DNS_INVAL 'Malformed or unexpected name server reply'); postfix/src/smtp/smtp_addr.c maps DNS_INVAL to 5.4.4: the domain's DNS cannot route mail, permanently"),
)

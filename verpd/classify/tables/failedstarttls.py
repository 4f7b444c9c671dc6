"""failedstarttls: STARTTLS was required or failed (RFC 8689 X.7.30)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"must issue a starttls command first", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd.c:6236 (smtpd_proto)"),
    Phrase(r"tls is required, but (was not offered by host|host .{1,80} refused to start tls|our tls engine is unavailable|unavailable)", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:943 (smtp_helo); vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:890"),
    Phrase(r"cannot start tls: handshake failure|server certificate not verified|client tls configuration problem|tlsa lookup error for", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:1277 (smtp_start_tls); vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:1349"),
    Phrase(r"sender requested requiretls, but", "Postfix smtp(8) client", "vdukhovni/postfix@17830e5c13 postfix/src/smtp/smtp_proto.c:695 (smtp_helo)"),
    Phrase(r"(tls handshake failed|dane check failed|starttls failed)\.", "Sendmail cf (tls_server/tls_rcpt)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2923 (TLS_ERRCODE 454/554)"),
    Phrase(r"encryption required|do not try tls with", "Sendmail cf (tls_rcpt/try_tls)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2733 (low confidence)"),
    Phrase(r"no tls available but required by configuration|host failed tls verification required by configuration", "Haraka outbound", "haraka/Haraka@0bf10cbb48 outbound/hmail.js:563"),
    Phrase(r"server accepts messages only on tls connection", "Zimbra LMTP (mailboxd)", "Zimbra/zm-mailbox store/src/java/com/zimbra/cs/lmtpserver/LmtpReply.java (enum LmtpReply, commit 5c580876) TLS_REQUIRED(451, \"4.2.2\", \"Server accepts messages only on TLS connection\")"),
    Phrase(r"starttls-not-supported: destination mail server must support tls", "Microsoft Exchange Online / EOP (outbound DANE/DNSSEC)", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) rows 4.7.321 / 5.7.321"),
    Phrase(r"this route requires (encryption \(tls\)|tls version 1\.2 or greater|high.strength ciphers)", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '553 This route requires encryption (TLS)', '...TLS version 1.2 or greater', '...high-strength ciphers'"),
    Phrase(r"tls required but not supported", "Twilio SendGrid", "sisimai lib/Sisimai/Reason/SecurityError.pm / go-sisimai reason/why-failedstarttls.go ('SendGrid: the recipient mailserver does not support TLS or have a valid certificate') (no primary source found)"),
    Phrase(r"\[internal\] (tls negotiation failed|starttls required but not advertised|send starttls failed|no tls go-ahead)", "SparkPost / Momentum", "SparkPost/support-docs @2cb4102c content/momentum/3/3-reference/responses-by-code.md (Momentum MTA, which SparkPost runs) ('451 4.7.5 [internal] TLS negotiation failed', '451 4.7.6 [internal] STARTTLS required but not advertised')"),
)

"""exceedlimit: the message exceeds the recipient's own size limit (RFC 3463 X.2.3)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"message too large", "Postfix pipe(8)", "vdukhovni/postfix@17830e5c13 postfix/src/pipe/pipe.c:1182 (deliver_message (size_limit))"),
    Phrase(r"the message exeeded the maximum size the user accepts", "qmail-ldap qmail-lspawn", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-lspawn.c:165"),
    Phrase(r"mail size is larger than the maximum size allowed by server configuration", "Dovecot quota plugin (quota_mail_size)", "dovecot/core@f28b5a92ec src/plugins/quota/quota.c:126 (quota_alloc_result_errstr OVER_MAXSIZE)"),
    Phrase(r"resolver\.rst\.recipsizelimit|message too large for this recipient", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 5.2.3 \"RESOLVER.RST.RecipSizeLimit; message too large for this recipient\""),
    Phrase(r"message would exceed maximum mailbox size for this recipient", "GNU Mailutils mda/maidag", "https://gnu.org/software/mailutils/manual/html_node/Mailbox-Quotas.html (Mailbox Quotas)"),
    Phrase(r"resolver\.rst\.recipsizelimit", "Microsoft Exchange Server 2007-2019 (on-premises; also seen in hybrid via Exchange Online) / Exchange Online", "https://learn.microsoft.com/en-us/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (section 'Common enhanced status codes'; MicrosoftDocs OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md) row 5.2.3 'RESOLVER.RST.RecipSizeLimit; message too large for this recipient'"),
    Phrase(r"exceeds? (?:the )?(?:recipient'?s?|administrative|user'?s?) (?:size )?limit", "common: RFC 3463 X.2.3 text; Courier submit", "RFC 3463 §3.3 X.2.3 'Message length exceeds administrative limit' (a per-mailbox limit); Courier's '523 Message length (N bytes) exceeds administrative limit(M).' svarshavchik/courier@fe506ccc6d courier/courier/submit2.C:633 uses the same words for its system-wide limit (mesgtoobig), which this table, tried first, takes too; the recipient's/user's forms: no primary source found"),
)

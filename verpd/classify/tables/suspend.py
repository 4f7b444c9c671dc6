"""suspend: the account exists but is disabled, suspended or inactive. Soft."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"mailbox disabled for this recipient", "Sendmail cf access_db \"To:\" REJECT (blocklist_recipients)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:83 (confRCPTREJ_MSG); deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2163"),
    Phrase(r"mailaddress is administratively disabled", "qmail-ldap qmail-lspawn", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-lspawn.c:159"),
    Phrase(r"vdelivermail: account is locked email bounced", "vpopmail vdelivermail", "brunonymous/vpopmail@3ac73c4c1d vdelivermail.c:1125 (checkuser (BOUNCE_MAIL gid flag))"),
    Phrase(r"delivery to mailbox is disabled", "Cyrus lmtpd", "cyrusimap/cyrus-imapd@1f3a129311 imap/imap_err.et:96 (IMAP_MAILBOX_DISABLED) sent as cyrusimap/cyrus-imapd@1f3a129311 imap/lmtp_err.et:16 (LMTP_MAILBOX_DISABLED)"),
    Phrase(r"mailbox disabled, not accepting messages", "Zimbra LMTP (mailboxd) / RFC 3463 x.2.1 description", "Zimbra/zm-mailbox store/src/java/com/zimbra/cs/lmtpserver/LmtpReply.java (enum LmtpReply, commit 5c580876) MAILBOX_DISABLED(450, \"4.2.1\", \"Mailbox disabled, not accepting messages\"); RFC 3463 §3.3 X.2.1"),
    Phrase(r"(?:account|mail ?box|address|user|recipient) (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|not active|expired)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"(?:disabled|suspended|deactivated|locked) (?:account|mail ?box|user|recipient)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"inactive (?:account|mail ?box|user)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"account (?:has been )?(?:closed|terminated|cancel+ed)", "common", "verpd 0.1 phrase set: Yahoo, Outlook"),
    Phrase(r"this (?:account|mailbox) (?:has been )?(?:disabled|discontinued)", "common", "verpd 0.1 phrase set: Yahoo, Outlook"),
    Phrase(r"due to extended inactivity new mail is not currently being accepted", "unknown mailbox provider", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Filtered.pm)"),
    Phrase(r"mail receiving disabled", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/NotAccept.pm)"),
    Phrase(r" is currently suspended", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"\btemporary locked", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"is unavailable: user is terminated", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"recipient rejected: temporarily inactive", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"recipient suspend the service", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"user or domain is disabled", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/Suspend.pm)"),
    Phrase(r"mailbox is inactive", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/UserUnknown.pm)"),
    Phrase(r"user not active", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/UserUnknown.pm); RFC 821 Appendix example '450 User not active now' (apache/james-project@20bf8083e3 src/site/resources/server/rfclist/smtp/rfc0821.txt:3322) refers to terminal delivery (SEND), not to a mailbox"),
)

"""systemfull: the receiving system's disk is full (RFC 3463 X.3.1)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"insufficient system storage", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:5529 (smtpd_check_queue)"),
    Phrase(r"(cannot update mailbox|create maildir file|cannot append message to file|error writing message).{0,200}: no space left on device", "Postfix local(8)/virtual(8)", "vdukhovni/postfix@17830e5c13 postfix/src/global/mbox_open.c:253 (mbox_dsn)"),
    Phrase(r"space shortage, please try later", "Exim smtp_in", "Exim/exim@13835a3c1e src/src/smtp_in.c:4901 (smtp_setup_msg (check_spool_space))"),
    Phrase(r"insufficient disk space; try again later", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/srvrsmtp.c:2053 (smtp MAIL (MinFreeBlocks))"),
    Phrase(r"mail system storage has been exceeded", "Cyrus lmtpd", "cyrusimap/cyrus-imapd@1f3a129311 imap/imap_err.et:20 (IMAP_NOSPACE) sent as cyrusimap/cyrus-imapd@1f3a129311 imap/lmtp_err.et:22 (LMTP_SERVER_FULL)"),
    Phrase(r"431 mail system full", "Courier submit", "svarshavchik/courier@fe506ccc6d courier/courier/submit2.C:641"),
    Phrase(r"4\.3\.1 insufficient system resources", "Microsoft Exchange Server", "https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages (MicrosoftDocs/OfficeDocs-Exchange Exchange/ExchangeServer/mail-flow/non-delivery-reports-and-bounce-messages/non-delivery-reports-and-bounce-messages.md, table \"Enhanced status codes\") row 4.3.1 (back pressure)"),
    Phrase(r"insufficient (?:system )?(?:storage|disk space)", "common: RFC 5321 reply text; Postfix, Sendmail", "RFC 5321 §4.2.2 ('452 Requested action not taken: insufficient system storage'); Postfix '452 4.3.1 Insufficient system storage' (row 0); Sendmail 'Insufficient disk space; try again later' (row 3)"),
    Phrase(r"(?:disk|system|file ?system|spool) (?:is )?full", "common: RFC 3463 X.3.1 text; Courier, qmail, OpenSMTPD, Haraka", "RFC 3463 §3.4 X.3.1 'Mail system full' (verbatim in OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/esc.c:58 and haraka/haraka-dsn@07eb73f2dd index.js:32); Courier '431 Mail system full.' (row 5); qmail 'qq write error or disk full (#4.3.0)' notqmail/notqmail@a7012e4fdf qmail.c:134"),
    Phrase(r"out of (?:disk )?space", "common: Sendmail, qmail", "Sendmail 'Out of disk space for temp file' deepin-community/sendmail@c7e7de44d9 sendmail/collect.c:1025; qmail 'out of disk space' (ENOSPC) notqmail/notqmail@a7012e4fdf error_str.c:81"),
    Phrase(r"no space left", "common (strerror(ENOSPC)); Postfix local(8)", "'No space left on device' is the C library's ENOSPC text, e.g. Postfix 'error writing message: No space left on device' vdukhovni/postfix@17830e5c13 postfix/src/global/mbox_open.c:253"),
    Phrase(r"insufficient disk space", "Sendmail (srvrsmtp MAIL/queue free-space check); Exim (non-SMTP submission)", "deepin-community/sendmail@c7e7de44d9 sendmail/srvrsmtp.c:2053 and sendmail/queue.c:6007 (usrerr(\"452 4.4.5 Insufficient disk space; try again later\")); Exim/exim@13835a3c1e src/src/exim.c:5728"),
    Phrase(r"no space left on device", "any delivery agent relaying strerror(ENOSPC)", "errno ENOSPC text (POSIX strerror); deepin-community/sendmail@c7e7de44d9 mail.local/mail.local.c:1827 and sendmail/conf.c:3515 treat ENOSPC as a transient system error; Postfix/Dovecot pass it through in 'cannot update mailbox ...: No space left on device' (existing mta.jsonl systemfull row)"),
)

"""mailererror: a local delivery program (procmail, a pipe) failed."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"command died with (status|signal) \d+", "Postfix local(8)/pipe(8)", "vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:670 (pipe_command); vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:641"),
    Phrase(r"command time limit exceeded", "Postfix local(8)/pipe(8)", "vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:627 (pipe_command)"),
    Phrase(r"command failed: .{1,120}", "Postfix pipe_command", "vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:679 (pipe_command)"),
    Phrase(r"mail to (command|file) is restricted|file is executable", "Postfix local(8)", "vdukhovni/postfix@17830e5c13 postfix/src/local/token.c:156 (deliver_token); vdukhovni/postfix@17830e5c13 postfix/src/local/file.c:113"),
    Phrase(r"(service unavailable|internal software error|temporary failure|can.t create user output file|input/output error|local configuration error|data format error|critical os file missing|command line usage error|system resource problem)\. command output:", "Postfix pipe(8)/local(8) sysexits mapping", "vdukhovni/postfix@17830e5c13 postfix/src/global/sys_exits.c:82 (sys_exits_table)"),
    Phrase(r"child process of .{1,40} transport returned \d+", "Exim pipe transport", "Exim/exim@13835a3c1e src/src/transports/pipe.c:1065 (pipe_transport_entry)"),
    Phrase(r"child process of .{1,40} transport \(running command .{1,200}\) was terminated by signal", "Exim pipe transport", "Exim/exim@13835a3c1e src/src/transports/pipe.c:972 (pipe_transport_entry)"),
    Phrase(r"pipe delivery process timed out|pipe process failed to exec", "Exim pipe transport", "Exim/exim@13835a3c1e src/src/transports/pipe.c:936 (pipe_transport_entry)"),
    Phrase(r"unknown mailer error \d+", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/deliver.c:4541 (giveresponse)"),
    Phrase(r"(5\.3\.0 internal error|5\.0\.0 service unavailable|can.t create output|5\.0\.0 insufficient permission|5\.3\.5 system file missing|4\.0\.0 operating system error|4\.0\.0 i/o error)", "Sendmail", "deepin-community/sendmail@c7e7de44d9 libsm/strexit.c:107 (sm_sysexmsg) (sysexits of the local/prog mailer)"),
    Phrase(r"cannot mail directly to (programs|files|:include:s)|unsafe for mailing to (programs|files)|is an unknown user: cannot mail to", "Sendmail", "deepin-community/sendmail@c7e7de44d9 sendmail/recipient.c:679 (recipient)"),
    Phrase(r"unable to run qmail-local|qmail-local crashed|unable to run qmail-remote|qmail-remote crashed|aack, child crashed", "qmail-lspawn/qmail-rspawn/qmail-local", "notqmail/notqmail@a7012e4fdf qmail-lspawn.c:70; notqmail/notqmail@a7012e4fdf qmail-local.c:39"),
    Phrase(r"mda.{0,40}error \(|exited abnormally", "OpenSMTPD mda", "OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/mda.c:364 (mda_imsg (MDA_PERMFAIL)); OpenSMTPD/OpenSMTPD@3153385b02 usr.sbin/smtpd/smtpd.c:418 (low confidence)"),
    Phrase(r"maildrop: timeout quota exceeded", "Courier maildrop", "svarshavchik/courier-libs@2a13a234cc maildrop/main.C:70"),
    Phrase(r"x-unix", "Sendmail (local and prog mailers' diagnostic type)", "deepin-community/sendmail@c7e7de44d9 sendmail/conf.c:491-495 ('prog' and '*file*' mailers T=X-Unix/X-Unix/X-Unix), sendmail/deliver.c:4308 (m_diagtype X-UNIX: the Diagnostic-Code is the program's exit status)"),
    Phrase(r"procmail", "procmail run as a local delivery agent (Postfix mailbox_command, Exim pipe)", "Postfix 'Command died with status 1: \"/usr/bin/procmail\"' (vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:670); Exim pipe transport (Exim/exim@13835a3c1e src/src/transports/pipe.c:972); a full mailbox under procmail is taken first by mailboxfull"),
    Phrase(r"maildrop", "Courier maildrop", "svarshavchik/courier-libs@2a13a234cc maildrop/main.C:70 ('maildrop: timeout quota exceeded'); its 'maildir over quota' (maildrop/maildir.C:173) is taken first by mailboxfull"),
    Phrase(r"command (?:died|failed|output|returned)", "Postfix local(8)/pipe(8)", "vdukhovni/postfix@17830e5c13 postfix/src/global/pipe_command.c:670-679 ('Command died with status', 'Command failed:', 'Command output:'); the words after 'Command output:' may say more (user unknown, full mailbox), and those tables come first"),
    Phrase(r"pipe to", "unidentified", "no primary source found; narrow: delivery to a pipe"),
    Phrase(r"program (?:exited|failed)", "unidentified", "no primary source found; narrow"),
    Phrase(r"exit (?:code|status)", "common: Exim, Dovecot", "Exim '%s transport process returned non-zero status ...: exit code %d' Exim/exim@13835a3c1e src/src/deliver.c:2591-2595; Dovecot program-client 'Terminated with non-zero exit code %d' dovecot/core@f28b5a92ec src/lib-program-client/program-client-local.c:339"),
    Phrase(r"mailer error", "Sendmail", "'554 5.3.0 unknown mailer error %d' deepin-community/sendmail@c7e7de44d9 sendmail/deliver.c:4541 (giveresponse)"),
    Phrase(r"mail delivery program", "unidentified", "no primary source found; narrow"),
    Phrase(r"local delivery (?:failed|program)", "DragonFly Mail Agent (dma); unidentified others", "corecode/dma@7f88bbe780 local.c:209/248 ('local delivery failed: ...', syslog); no primary source found for a bounce text"),
    Phrase(r"(?<![\w-])sh: ", "POSIX sh error output relayed by pipe deliveries", "no primary source found for a particular system; narrowed to the word 'sh:' (not 'ssh:', 'publish:', 'refresh:'): the shell's own 'sh: <cmd>: not found' as quoted after Postfix's 'Command output:'"),
    Phrase(r"permission denied", "common (strerror(EACCES)) in local deliveries", "the C library's EACCES text, quoted by local delivery agents (e.g. Postfix local(8) file and mailbox errors, vdukhovni/postfix@17830e5c13 postfix/src/global/mbox_open.c:253 mbox_dsn); Sendmail's EX_NOPERM says 'Insufficient permission' (libsm/strexit.c:121)"),
    Phrase(r"operating system error", "Sendmail (EX_OSERR)", "':451 4.0.0 Operating system error' deepin-community/sendmail@c7e7de44d9 libsm/strexit.c:109 (sm_sysexmsg EX_OSERR)"),
)

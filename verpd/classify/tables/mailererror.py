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
    Phrase(r"x-unix", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"procmail", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"maildrop", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"command (?:died|failed|output|returned)", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"pipe to", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"program (?:exited|failed)", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"exit (?:code|status)", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"mailer error", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"mail delivery program", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"local delivery (?:failed|program)", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"sh: ", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"permission denied", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
    Phrase(r"operating system error", "common", "verpd 0.1 phrase set: Postfix/Sendmail local delivery"),
)

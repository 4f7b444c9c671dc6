"""Parsing takes time linear in the size of the message, whatever its shape.

Anyone who holds one VERP address can send a report through our MX, so each shape
here is a worst case for some part of the parser: thousands of recipients, parts,
levels of nesting or text lines, or one huge line built to make a pattern backtrack.
Each is parsed at two sizes, ``n`` and ``8 n``, in one run: linear work takes about
8 times as long, quadratic work 64 times. ``MAX_RATIO`` lies between, far enough from
8 that a loaded two-core machine does not trip it (each figure is the best of a few
runs, in CPU time of this thread, with the garbage collector paused: under a load of
4 on 2 cores linear shapes measured 4 to 12), close enough to 64 that a quadratic
step does: the DSN detector's rescan of the text per recipient, before it indexed the
paragraphs, measured 31 to 38 on the five DSN shapes, and 16 of the other 25 failed
too before their own fixes (ratios of 29 to 94, minutes, or a RecursionError).

The shapes after the first 30 are those of the text and prose readers added since
(Postfix's and MDaemon's letters, forwarded DSNs, rewritten and French notices,
one-sentence notices, Smail, InterMail, MessageLabs, Boxbe, old Exchange, Messaging
Server) and of the report's other names for a recipient (the returned copy's To and
Cc, X.400 and internal names). Before their fixes 17 of them failed: 14 lines of
blanks or of ``a@a@...`` that made a pattern backtrack (ratios of 56 to 64, or 8 n
beyond a minute: three quantifiers sharing a run of blanks took time cubic in its
length), a forwarded report's To: searched for in the whole text (27), and three
headers of nested comments that raised a RecursionError.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from verpd.model import Report
from verpd.parse import parse

MAX_RATIO = 24

# --- the shapes ---------------------------------------------------------------------------------

DAEMON = "From: Mail Delivery System <MAILER-DAEMON@example.com>\nReturn-Path: <>\n"


def _dsn(n: int, *, diagnostic: bool = False, command: bool = True, text: str = "paragraphs") -> bytes:
    """A multipart/report naming ``n`` recipients, each in a block of the delivery-status part
    and (``text``) in a paragraph of the text part, or all in one paragraph, or nowhere."""
    reason = " (in reply to RCPT TO command)" if command else ""
    if text == "paragraphs":
        human = "".join(f"<user{i}@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1\n    unknown user{reason}\n\n" for i in range(n))
    elif text == "one paragraph":
        human = "These recipients failed:\n" + "".join(f"user{i}@example.org\n" for i in range(n)) + "\n"
    else:
        human = "Delivery failed.\n\n"
    blocks = "".join(
        f"Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n"
        + ("Diagnostic-Code: smtp; 550 5.1.1 user unknown\n" if diagnostic else "")
        + "\n"
        for i in range(n)
    )
    return (
        f"{DAEMON}Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        f"--B\nContent-Type: text/plain\n\n{human}"
        f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n{blocks}"
        "--B\nContent-Type: text/rfc822-headers\n\nFrom: wiki@example.com\nTo: user0@example.org\n\n--B--\n"
    ).encode()


def _letter(subject: str, body: str, headers: str = "") -> bytes:
    return f"{DAEMON}Subject: {subject}\n{headers}\n{body}".encode()


def _fallback(body: str) -> bytes:
    return _letter("Undelivered Mail", "The following addresses failed:\n\n" + body + "\n")


def qmail(n: int) -> bytes:
    blocks = "".join(f"<user{i}@example.org>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 unknown\n\n" for i in range(n))
    return _letter("failure notice", "Hi. This is the qmail-send program at example.com.\n"
                   "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n" + blocks +
                   "--- Below this line is a copy of the message.\n\nFrom: wiki@example.com\n")


def _exim(headers: str, blocks: str) -> bytes:
    return _letter("Mail delivery failed: returning message to sender",
                   "This message was created automatically by mail delivery software.\n\n"
                   "A message that you sent could not be delivered to one or more of its\nrecipients. The following address(es) failed:\n\n"
                   + blocks + "\n------ This is a copy of the message, including all the headers. ------\n\nFrom: wiki@example.com\n", headers)


def _failed_header(n: int) -> str:
    return "X-Failed-Recipients: " + ", ".join(f"user{i}@example.org" for i in range(n)) + "\n"


def exim(n: int) -> bytes:
    return _exim(_failed_header(n), "".join(
        f"  user{i}@example.org\n    host mx.example.org [192.0.2.1]\n"
        f"    SMTP error from remote mail server after RCPT TO:<user{i}@example.org>:\n    550 5.1.1 unknown\n" for i in range(n)))


def exim_local_parts(n: int) -> bytes:
    return _exim(_failed_header(n), "".join(f"  user{i}\n    Unrouteable address\n" for i in range(n)))


def exim_pipes(n: int) -> bytes:
    pipes = "".join(f"  pipe to |/usr/bin/program{i}\n    generated by user{i}@example.org\n" for i in range(n))
    output = "".join(f"output line {i}\n" for i in range(n))
    return _exim("", pipes + "\nThe following text was generated during the delivery attempt:\n\n"
                 "------ pipe to |/usr/bin/program\n       generated by user0@example.org ------\n\n" + output)


def sendmail(n: int) -> bytes:
    addresses = "".join(f"<user{i}@example.org>\n    (reason: 550 5.1.1 User unknown)\n" for i in range(n))
    sessions = "".join(f"... while talking to mx{i}.example.net.:\n>>> DATA\n<<< 554 5.7.1 rejected\n" for i in range(n))
    return _letter("Returned mail: see transcript for details",
                   "   ----- The following addresses had permanent fatal errors -----\n" + addresses +
                   "\n   ----- Transcript of session follows -----\n" + sessions +
                   "\n   ----- Original message follows -----\n\nFrom: wiki@example.com\n")


def x3(n: int) -> bytes:
    return _letter("Delivery Status Notification", "This is an automatically generated Delivery Status Notification.\n\n"
                   + "".join(f"* user{i}@example.org\n" for i in range(n)) + "\n"
                   + "".join(f"SMTP:RCPT host mx.example.org: 550 unknown user{i}@example.org\n" for i in range(n)))


def exchange_wrapped(n: int) -> bytes:
    return _letter("Undeliverable: hello", "Diagnostic information for administrators:\n\nuser@example.org\n"
                   "Remote Server returned '550 5.1.1 unknown\n" + "".join(f"wrapped part {i}=\n" for i in range(n)),
                   "X-MS-Exchange-Message-Is-Ndr: yes\n")


def ezweb(n: int) -> bytes:
    explanation = "explanation line\n" * n
    recipients = "".join(f"<user{i}@example.org>: unknown\n" for i in range(n))
    return f"From: Postmaster@ezweb.ne.jp\nSubject: Mail System Error - Returned Mail\n\n{explanation}{recipients}".encode()


def html_report(n: int) -> bytes:
    return (f"{DAEMON}Subject: Undeliverable mail\nContent-Type: text/html\n\n"
            "<p>user@example.org: 550 unknown</p>" + "<script <br <" * n + "\n").encode()


def many_parts(n: int) -> bytes:
    parts = "".join(f"--B\nContent-Type: text/plain\n\nuser{i}@example.org: 550 5.1.1 unknown\n" for i in range(n))
    return f"{DAEMON}Subject: Undeliverable mail\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n{parts}--B--\n".encode()


def nested_multiparts(n: int) -> bytes:
    levels = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n" for i in range(n))
    return f"{DAEMON}Subject: Undeliverable mail\n{levels}\nuser@example.org: 550 unknown\n".encode()


def nested_messages(n: int) -> bytes:
    levels = "".join(f"Content-Type: message/rfc822\n\nSubject: level {i}\n" for i in range(n))
    return f"{DAEMON}Subject: Undeliverable mail\n{levels}\nbody\n".encode()


def mbox(n: int) -> bytes:
    return "".join(
        f"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n{DAEMON}Subject: failure notice\n\n"
        f"Hi. This is the qmail-send program at example.com.\n\n<user{i}@example.org>:\n550 unknown\n\n" for i in range(n)
    ).encode()



# --- the text reports, prose notices and name resolution added since -------------------------------


def _postfix_text(body: str) -> bytes:
    """Postfix's letter of 1999 (no DSN part): ``<address>: reason`` paragraphs, read by ``postfixtext``."""
    return _letter("Undelivered Mail Returned to Sender", "This is the Postfix program at host mail.example.net.\n\n"
                   "I'm sorry to have to inform you that the message returned\nbelow could not be delivered to one or more destinations.\n\n"
                   "\t--- Delivery error report follows ---\n\n<user@example.org>: unknown user: \"user\"\n\n" + body
                   + "\n\t--- Undelivered message follows ---\n\nFrom: wiki@example.com\n")


def _mdaemon(body: str) -> bytes:
    return f"From: MDaemon@mail.example.net\nSubject: Permanent Delivery Failure\n\nThe attached message had PERMANENT fatal delivery errors.\n\n{body}".encode()


def _transcript(replies: str) -> str:
    return f"--- Session Transcript ---\n <-- 220 mx.example.org ESMTP\n --> MAIL From:<wiki@example.com>\n <-- 250 ok\n{replies}--- End Session Transcript ---\n"


def mdaemon_pipelined(n: int) -> bytes:
    """Every RCPT sent before any reply is read (PIPELINING): the replies pair with the commands in order."""
    commands = "".join(f" --> RCPT To:<user{i}@example.org>\n" for i in range(n))
    return _mdaemon(_transcript(commands + " <-- 550 5.1.1 unknown\n" * n))


def _forwarded_dsn(n: int, sent_to: int, note: int) -> bytes:
    """A gateway's note of ``note`` lines with a DSN of ``n`` recipients attached, the DSN sent to ``sent_to`` addresses."""
    to = "To: " + ", ".join(f"list{i}@example.net" for i in range(sent_to)) + "\n"
    inner = to + _dsn(n, text="none").decode()
    return ("From: Mail Gateway <gateway-notices@gw.example.net>\nSubject: Delivery report for your message\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=G\n\n--G\nContent-Type: text/plain\n\n" + "The gateway passes the attached report on.\n" * note
            + "\n--G\nContent-Type: message/rfc822\n\n" + inner + "\n--G--\n").encode()


def _notice(body: str, subject: str = "Message status") -> bytes:
    """A mail system's notice in prose (a MAILER-DAEMON sender and nothing else of a bounce), with a returned copy."""
    return (f"From: MAILER-DAEMON@mx.example.net\nSubject: {subject}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=N\n\n"
            f"--N\nContent-Type: text/plain; charset=utf-8\n\n{body}\n--N\nContent-Type: message/rfc822\n\nFrom: wiki@example.com\nTo: user@example.org\n\n--N--\n").encode()


def _french(body: str) -> str:
    return "Votre message n'a pas pu être délivré / Your message could not be delivered\n\n" + body


def _smail(body: str) -> bytes:
    return _letter("Mail delivery failed: returning message to sender", "|------------------------- Failed addresses follow: ---------------------|\n"
                   " <user@example.org> ... unknown user\n" + body + "|------------------------- Message text follows: ------------------------|\nFrom: wiki@example.com\n")


def _intermail(body: str) -> bytes:
    return ("From: Mail Administrator <Postmaster@mail.example.com>\nSubject: Mail System Error - Returned Mail\n\n"
            "This Message was undeliverable due to the following reason:\n\nEach of the following recipients was rejected by a remote mail server.\n\n"
            "    Recipient: <user@example.org>\n    Reason:    5.1.1 <user@example.org>... User unknown\n\n"
            f"{body}\nPlease reply to Postmaster@mail.example.com\nif you feel this message to be in error.\n").encode()


def _messagelabs(body: str) -> bytes:
    return _letter("Mail Delivery Failure", "This is the mail delivery agent at messagelabs.com.\n\n" + body + "\nThe message subject was: hello\n",
                   "X-Msg-Ref: server-7.tower-143.messagelabs.com!1419367175!36473370!1\n")


def _with_returned_copy(headers: str, text: str, returned: str) -> bytes:
    return (f"{headers}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=R\n\n--R\nContent-Type: text/plain\n\n{text}\n"
            f"--R\nContent-Type: message/rfc822\n\nFrom: wiki@example.com\n{returned}\nhello\n--R--\n").encode()


def _exchange2003(recipients: str, returned: str = "To: user@example.org\n") -> bytes:
    """Exchange 5.5's IMS: recipient lines ``<name> on <date>`` with indented error lines, the original attached."""
    return _with_returned_copy("From: System Administrator <postmaster@example.com>\nSubject: Undeliverable: hello\nX-MS-Embedded-Report: \n",
                               "Your message did not reach some or all of the intended recipients.\n\n      Subject:\thello\n\n"
                               "The following recipient(s) could not be reached:\n\n" + recipients, returned)


def _messaging_server(fields: str, returned: str = "To: user@example.org\n") -> bytes:
    return _with_returned_copy("From: Internet Mail Delivery <postmaster@ms1.example.org>\nSubject: Delivery Notification: Delivery has failed\n",
                               "Your message cannot be delivered to the following recipients:\n\n" + fields, returned)


def _to_and_cc(n: int) -> str:
    """The returned copy's To and Cc naming ``n`` recipients each, with display names."""
    return ("To: " + ", ".join(f"User {i} <user{i}@example.org>" for i in range(n)) + "\n"
            + "Cc: " + ", ".join(f"\"Copy, {i}\" <copy{i}@example.net>" for i in range(n)) + "\n")


def _dsn_for(final_recipient: str, returned: str = "To: user@example.org\n") -> bytes:
    """A DSN about one recipient named ``final_recipient``, the returned copy's headers ``returned``."""
    return (f"{DAEMON}Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: text/plain\n\nDelivery failed.\n\n"
            f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\nFinal-Recipient: {final_recipient}\nAction: failed\nStatus: 5.1.1\n\n"
            f"--B\nContent-Type: text/rfc822-headers\n\nFrom: wiki@example.com\n{returned}\n--B--\n").encode()


Shape = Callable[[int], bytes]

# (id, builder, n, the detector that reads it): n is chosen so that parsing n takes a few ms (enough
# to measure), 8 n some tens, and 8 n stays within the text a detector reads (MAX_TEXT).
SHAPES: list[tuple[str, Shape, int, str | None]] = [
    ("dsn-recipients-without-diagnostic-code", lambda n: _dsn(n), 200, "dsn"),
    ("dsn-recipients-without-command", lambda n: _dsn(n, diagnostic=True, command=False), 100, "dsn"),
    ("dsn-recipients-not-in-the-text", lambda n: _dsn(n, text="none"), 200, "dsn"),
    ("dsn-recipients-in-one-paragraph", lambda n: _dsn(n, text="one paragraph"), 50, "dsn"),
    ("dsn-fields-in-plain-text", lambda n: _letter("Delivery Notification: failed", "".join(
        f"Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n\n" for i in range(n))), 100, "dsn"),
    ("many-mime-parts", many_parts, 100, "fallback"),
    ("multiparts-nested-deep", nested_multiparts, 1000, None),
    ("messages-nested-deep", nested_messages, 2400, None),
    ("mbox-of-many-bounces", mbox, 40, "qmail"),
    ("qmail-recipient-blocks", qmail, 120, "qmail"),
    ("exim-recipient-blocks-and-x-failed-recipients", exim, 80, "exim"),
    ("exim-x-failed-recipients-only", lambda n: _exim(_failed_header(n), ""), 800, "exim"),
    ("exim-local-parts-resolved-by-header", exim_local_parts, 200, "exim"),
    ("exim-pipes-with-long-output", exim_pipes, 100, "exim"),  # n beyond the output kept for each pipe
    ("sendmail-addresses-and-sessions", sendmail, 150, "sendmail"),
    ("x3-details-naming-recipients", x3, 200, "x3"),
    ("exchange-wrapped-lines", exchange_wrapped, 1500, "exchange2007"),
    ("ezweb-long-explanation", ezweb, 60, "ezweb"),  # n beyond the explanation kept for each recipient
    ("fallback-recipient-lines", lambda n: _fallback("".join(f"user{i}@example.org: 550 5.1.1 User unknown\n" for i in range(n))), 40, "fallback"),
    # one huge line, built for a pattern to backtrack on
    ("line-of-addresses", lambda n: _fallback(" ".join(f"user{i}@example.org" for i in range(n))), 300, "fallback"),
    ("line-of-errors-naming-one-address", lambda n: _fallback("user@example.org: 550 unknown, " * n), 250, "fallback"),
    ("line-of-one-word-then-at", lambda n: _fallback("a" * 20 * n + "@"), 300, None),
    ("line-of-blanks", lambda n: _fallback("x" + " " * 20 * n + "x"), 300, None),
    ("line-of-at-signs-in-brackets", lambda n: qmail(1).replace(b"Remote host said:", b"<" + b"a@" * 10 * n + b"a x\nRemote host said:"), 1500, "qmail"),
    ("line-of-dashes", lambda n: _fallback("-" * 20 * n), 300, None),
    ("line-of-smtp-errors", lambda n: _exim("", "  user@example.org\n    " + "SMTP error after RCPT TO a=b " * n + "\n"), 400, "exim"),
    ("html-of-unclosed-tags", html_report, 300, "fallback"),
    ("subject-of-encoded-words", lambda n: _fallback("user@example.org: 550 unknown").replace(b"Subject: Undelivered Mail", b"Subject: Undelivered Mail " + b"=?utf-8?q?x?= " * 40 * n), 300, "fallback"),
    ("sender-of-nested-comments", lambda n: _fallback("user@example.org: 550 unknown").replace(b"From: ", b"From: " + b"(" * 2 * n), 300, "fallback"),
    ("mbox-from-line-of-blanks", lambda n: b"From MAILER-DAEMON" + b" " * 200 * n + b"x\n" + mbox(2), 300, "qmail"),
    # --- the text reports, prose notices and name resolution added since (a block per detector) ---
    # postfixtext
    ("postfix-text-recipient-paragraphs", lambda n: _postfix_text("".join(
        f"<user{i}@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1\n    <user{i}@example.org>... User unknown (in reply to RCPT TO command)\n\n"
        for i in range(n))), 100, "postfix"),
    ("postfix-text-line-of-at-signs-in-brackets", lambda n: _postfix_text("<" + "a@" * 10 * n + "a x\n"), 1200, "postfix"),
    ("postfix-text-copy-marker-then-blanks", lambda n: _postfix_text("Original message" + " " * 20 * n + "x\n"), 900, "postfix"),
    # mdaemon
    ("mdaemon-failed-addresses-and-transcript", lambda n: _mdaemon("YOUR MESSAGE WAS NOT DELIVERED\n\n" + "".join(f"Failed address: user{i}@example.org\n" for i in range(n))
        + "\n" + _transcript("".join(f" --> RCPT To:<user{i}@example.org>\n <-- 550 5.1.1 unknown user{i}\n" for i in range(n)))), 100, "mdaemon"),
    ("mdaemon-transcript-pipelined", mdaemon_pipelined, 150, "mdaemon"),
    ("mdaemon-recipient-list", lambda n: _mdaemon("= Greetings from the MDaemon mail system at example.net =\n\ncould not be delivered to the following recipients:\n\n"
        + "".join(f"   user{i}@example.org (unknown user)\n" for i in range(n))), 150, "mdaemon"),
    ("mdaemon-list-heading-then-blanks", lambda n: _mdaemon("Failed address: user@example.org\n\ncould not be delivered to the following recipients" + " " * 20 * n + "x\n"), 600, "mdaemon"),
    ("mdaemon-listed-address-then-blanks", lambda n: _mdaemon("could not be delivered to the following recipients:\n\n   <user@example.org>" + " " * 20 * n + "x\n"
        + "\nFailed address: user@example.org\n"), 600, "mdaemon"),
    # forwardeddsn
    ("forwarded-dsn-recipients", lambda n: _forwarded_dsn(n, 1, 1), 150, "forwardeddsn"),
    ("forwarded-dsn-sent-to-many-beside-a-long-note", lambda n: _forwarded_dsn(1, n, n), 400, "forwardeddsn"),
    # rewritten
    ("rewritten-originals-in-one-line", lambda n: _notice("The message you sent could not be delivered.\n\n" + "".join(
        f"It was originally addressed to user{i}@example.org. " for i in range(n)) + "\n\nReason: 550 5.1.1 unknown\n"), 150, "rewritten"),
    ("rewritten-sender-of-nested-comments", lambda n: _notice("The message could not be delivered.\n\nIt was originally addressed to user@example.org.\n").replace(
        b"From: MAILER-DAEMON@mx.example.net", b"Return-Path: <>\nFrom: " + b"(" * 2 * n), 300, "rewritten"),
    ("rewritten-cue-then-blanks", lambda n: _notice("The message you sent could not be delivered.\n\nThe message was originally addressed to user@example.org.\n\n"
        "It was originally addressed to" + " " * 20 * n + "x\n"), 300, "rewritten"),
    # frenchbilingual (it reads the first 200 lines: long ones)
    ("french-failed-addresses-with-reasons", lambda n: _notice(_french("Adresse(s) en erreur / Failed address(es) :\n" + "".join(
        f"    user{i}@example.org : 550 5.1.1 {'Destinataire inconnu / Recipient unknown ' * 20}\n" for i in range(min(n, 150)))
        + "Raison / Reason : " + "Destinataire inconnu / Recipient unknown. " * n + "\n")), 20, "frenchbilingual"),
    ("french-labels-then-blanks", lambda n: _notice(_french("Adresse(s) en erreur / " + "\t" * 20 * n + " x\n\nAdresse(s) en erreur :\n    user@example.org\n\n"
        "Raison / " + "\t" * 20 * n + " x\n")), 300, "frenchbilingual"),
    ("french-sentence-then-blanks", lambda n: _notice(_french("Adresse(s) en erreur :\n    user@example.org\n\n"
        "Your message could not be delivered to" + " " * 20 * n + "x\n")), 300, "frenchbilingual"),
    # minimal (it reads the first 60 lines: long ones)
    ("minimal-sentences-in-one-line", lambda n: _notice("".join(
        f"Your message to user{i}@example.org could not be delivered because the address does not exist. " for i in range(n)) + "\n"), 100, "minimal"),
    ("minimal-cue-then-blanks", lambda n: _notice("Your message to user@example.org could not be delivered.\n\n"
        "We could not deliver your message to" + " " * 20 * n + "x\n"), 300, "minimal"),
    ("minimal-to-of-nested-comments", lambda n: _notice("Your message to user@example.org could not be delivered.\n").replace(
        b"Subject:", b"To: " + b"(" * 2 * n + b"\nSubject:", 1), 300, "minimal"),
    # smail
    ("smail-failed-addresses", lambda n: _smail("".join(f" <user{i}@example.org>\n   550 5.1.1 <user{i}@example.org> unknown user\n" for i in range(n))), 150, "smail"),
    ("smail-line-of-at-signs", lambda n: _smail(" <" + "a@" * 10 * n + "a x\n"), 1200, "smail"),
    ("smail-banner-of-blanks", lambda n: _smail("|-----" + " " * 20 * n + "x\n"), 1200, "smail"),
    # intermail
    ("intermail-recipient-reason-pairs", lambda n: _intermail("".join(
        f"    Recipient: <user{i}@example.org>\n    Reason:    5.1.1 <user{i}@example.org>... User unknown\n\n" for i in range(n))), 150, "intermail"),
    ("intermail-lines-of-at-signs", lambda n: _intermail("    Recipient: " + "a@" * 5 * n + "a x\n<" + "a@" * 5 * n + "a x\n"), 1500, "intermail"),
    # messagelabs
    ("messagelabs-address-reason-pairs", lambda n: _messagelabs("I was unable to deliver your message to the following addresses:\n\n" + "".join(
        f"user{i}@example.org\n\nReason: 550 5.1.1 <user{i}@example.org>: Recipient address rejected: User unknown\n\n" for i in range(n))), 150, "messagelabs"),
    ("messagelabs-qmail-line-of-at-signs", lambda n: _messagelabs("I was not able to deliver your message to the following addresses.\n\n"
        "<user@example.org>:\nRemote host said: 550 unknown\n\n<" + "a@" * 10 * n + "a x\n"), 600, "messagelabs"),
    ("messagelabs-delayed-list", lambda n: _messagelabs("This is an automatically generated Delivery Status Notification.\n\nTHIS IS A WARNING MESSAGE ONLY.\n\n"
        "Delivery to the following recipients has been delayed.\n\n" + "".join(f"       user{i}@example.org\n" for i in range(n))).replace(
        b"This is the mail delivery agent at messagelabs.com.\n\n", b""), 300, "messagelabs"),
    # boxbe
    ("boxbe-dsn-blocks", lambda n: _dsn(n, text="none").replace(b"From: Mail Delivery System <MAILER-DAEMON@example.com>", b"From: Boxbe <notify@boxbe.example.com>").replace(
        b"Delivery failed.", b"Your message to user0@example.org is waiting for approval."), 200, "boxbe"),
    # exchange2003
    ("exchange2003-recipient-lines", lambda n: _exchange2003("".join(
        f"      'user{i}@example.org' on 3/14/2005 9:12 AM\n            The e-mail account does not exist.\n"
        f"            <mail01.example.net #5.1.1 smtp;550 5.1.1 <user{i}@example.org>... User unknown>\n\n" for i in range(n))), 100, "exchange2003"),
    ("exchange2003-x400-names-resolved-by-to-and-cc", lambda n: _exchange2003("".join(
        f"      /O=EXAMPLE/OU=HQ/CN=RECIPIENTS/CN=USER{i} on 10/19/99 8:28 PM\n            The recipient name is not recognized\n\n" for i in range(n)),
        _to_and_cc(n)), 100, "exchange2003"),
    ("exchange2003-recipient-lines-of-blanks", lambda n: _exchange2003("      'user@example.org' on 3/14/2005 9:12 AM\n            unknown\n"
        + ("      x" + " " * 590 + "on\n") * n), 50, "exchange2003"),
    # messagingserver
    ("messagingserver-recipient-fields", lambda n: _messaging_server("".join(
        f"  Recipient address: user{i}@ims-ms-daemon\n  Original address: user{i}@example.org\n  Reason: Remote SMTP server has rejected address\n"
        f"  Diagnostic code: smtp;550 5.1.1 <user{i}@example.org>... User unknown\n  Remote system: dns;mx.example.com (TCP|198.51.100.9|40213|192.0.2.25|25)\n\n"
        for i in range(n))), 100, "messagingserver"),
    ("messagingserver-internal-names-resolved-by-to-and-cc", lambda n: _messaging_server("".join(
        f"  Recipient address: user{i}@ims-ms-daemon\n  Reason: Over quota\n\n" for i in range(n)), _to_and_cc(n)), 100, "messagingserver"),
    # the report's names for a recipient (parse._address, text.normalize_address / x400_name)
    ("dsn-long-x400-address-resolved-by-to", lambda n: _dsn_for("x400; c=US;a= ;p=Example;" + "ou=unit;" * 20 * n + "s=User0;@mta", _to_and_cc(n)), 100, "dsn"),
    ("dsn-percent-hack-route-of-dots", lambda n: _dsn_for("rfc822; a%" + "b." * 10 * n + "b%x@y@z"), 1200, "dsn"),
    ("dsn-returned-to-of-nested-comments", lambda n: _dsn_for("rfc822; user@mailhub0", "To: " + "(" * 2 * n + "\n"), 300, "dsn"),
    # found by tests/fuzz.py: the fallback searched all the text before each address of a line
    # for a sender or target label (8 n took 61 times as long, a 116 kB line 94 s)
    ("fallback-line-of-addresses-after-a-word", lambda n: _fallback("user@example.org: 550 5.1.1 User unknown\n\nSee " + "a@example.org( " * 10 * n), 30, "fallback"),
]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect now, then no collection while timing (tests/fuzz.py uses it too)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _seconds(raw: bytes) -> tuple[float, Report]:
    """The CPU time of this thread parsing ``raw`` (other processes on a busy machine do not count), and the report."""
    started = time.thread_time()
    report = parse(raw)
    return time.thread_time() - started, report


@pytest.mark.parametrize(("build", "n", "detector"), [pytest.param(b, n, d, id=name) for name, b, n, d in SHAPES])
def test_eight_times_the_input_takes_about_eight_times_as_long(build: Shape, n: int, detector: str | None) -> None:
    """Parsing the shape at 8 n takes well under 64 times as long as at n (quadratic work would)."""
    small, large = build(n), build(8 * n)
    best_small = best_large = float("inf")
    with gc_paused():
        for runs in (2, 2):  # alternated, so that a slow moment of the machine weighs on both sizes
            for _ in range(runs):
                best_small = min(best_small, _seconds(small)[0])
            seconds, report = _seconds(large)
            best_large = min(best_large, seconds)
    assert report.detector == detector  # the shape reaches the code it is meant for
    ratio = best_large / best_small
    assert ratio < MAX_RATIO, f"{ratio:.1f} times as long for 8 times the input ({len(small)} -> {len(large)} bytes)"

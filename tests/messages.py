"""Small builders for the messages the LMTP and pipeline tests send.

Messages are built in the shape Postfix gives its DSNs (multipart/report with a
message/delivery-status part), anonymised to example.com / example.org.
"""

from __future__ import annotations


def dsn(
    verp: str,
    failed: str = "alice@example.com",
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown",
    message_id: str = "<dsn.1@mx.example.com>",
) -> bytes:
    """A Postfix-style delivery status notification for one recipient."""
    boundary = "B0UNDARY.1763719200/mx.example.com"
    return f"""\
Return-Path: <>
From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: {verp}
Subject: Undelivered Mail Returned to Sender
Message-ID: {message_id}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.com.

<{failed}>: host mail.example.com[192.0.2.25] said: {diagnostic}

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: Sat, 21 Nov 2026 11:59:58 +0000 (UTC)

Final-Recipient: rfc822; {failed}
Original-Recipient: rfc822;{failed}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: smtp; {diagnostic}

--{boundary}
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: Example Wiki <wiki@example.org>
To: {failed}
Subject: Example Wiki notification
Message-ID: <wiki.1@example.org>

--{boundary}--
""".encode()


def not_a_bounce(verp: str, message_id: str = "<human.1@example.net>") -> bytes:
    """A message to a VERP address that reports no delivery failure (a human reply)."""
    return f"""\
From: Bob Example <bob@example.net>
To: {verp}
Subject: Re: Example Wiki notification
Message-ID: {message_id}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Please stop sending me these.
""".encode()


def complaint(verp: str, complainant: str = "carol@example.net", feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 ARF report about a message sent with return path ``verp``."""
    return f"""\
From: fbl@feedback.example.net
To: {verp}
Subject: Abuse report
Message-ID: <arf.1@feedback.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

A user marked your message as spam.

--arf
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Rcpt-To: <{complainant}>

--arf--
""".encode()


def auto_reply(verp: str) -> bytes:
    """An RFC 3834 vacation reply to a message sent with return path ``verp``."""
    return f"""\
From: Carol Example <carol@example.net>
To: {verp}
Subject: Out of Office: Example Wiki notification
Auto-Submitted: auto-replied
Message-ID: <ooo.1@example.net>

I am away until Monday.
""".encode()

"""Forwarding unrecognized bounces to the admins through the SMTP relay.

The forward is a new message from ``forward.sender`` with a subject naming the
VERP address, a short explanation, and the original attached as
``message/rfc822``; it is sent with a null envelope sender (``MAIL FROM:<>``) so a
failure to deliver it can never loop back as another bounce. smtplib blocks, so
sending runs in a worker thread.

The original is attached as the bytes that arrived, only its line ends made CRLF (as
SMTP carries them anyway): it is never parsed and written out again, which would refold
long headers or move a line that is no header, and break the original's DKIM signature
for the admin who checks it. An original with a line over 998 octets, which SMTP does
not carry (RFC 5321 §4.5.3.1.6), is attached base64-encoded as ``original.eml``
(``application/octet-stream``) instead. Every value written into the subject or the
explanation has its control characters escaped, so none can start a header or a line of
its own.
"""

from __future__ import annotations

import asyncio
import email.policy
import re
import secrets
import smtplib
from collections.abc import Callable
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from verpd.config import ForwardConfig
from verpd.events import ForwardPayload
from verpd.store import OutboxItem

SMTP_TIMEOUT = 30.0
_SMTP_COMPAT32 = email.policy.compat32.clone(linesep="\r\n")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LONG_LINE = re.compile(rb"[^\r\n]{999}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    """``text`` with its control characters (CR, LF, NUL, ...) written as escapes such as ``\\r``."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


def forward_message(item: OutboxItem, config: ForwardConfig, hostname: str) -> bytes:
    """The message that forwards ``item``'s original to ``config.to``."""
    payload = item.payload
    assert isinstance(payload, ForwardPayload), f"a forward item carries a ForwardPayload, not {type(payload).__name__}"
    verps = payload.verps
    more = f" (and {len(verps) - 1} more)" if len(verps) > 1 else ""
    original = _LINE_END.sub(b"\r\n", item.message)
    boundary = _boundary(original)
    msg = MIMEMultipart("mixed", boundary=boundary)
    msg["From"] = f"verpd <{config.sender}>"
    msg["To"] = ", ".join(config.to)
    msg["Subject"] = _one_line(f"Unrecognized bounce for {verps[0]}{more}")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("verpd", domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"
    lines = [
        "verpd received a message for a VERP address it signed, but found no delivery",
        "failure in it, so nothing was recorded. The message is attached for review.",
        "",
        *(f"VERP address:  {_one_line(v)}" for v in verps),
        f"Tenant:        {_one_line(payload.tenant)}",
        f"User id:       {payload.user}",
        f"Sent at:       {payload.sent_at.isoformat()}",
        f"Received at:   {payload.received_at.isoformat()}",
        f"Message-ID:    {_one_line(payload.message_id or '(none)')}",
    ]
    msg.attach(MIMEText("\n".join(lines) + "\n", "plain", "utf-8"))
    if _LONG_LINE.search(original):
        attached = MIMEApplication(original, "octet-stream")
        attached.add_header("Content-Disposition", "attachment", filename="original.eml")
        msg.attach(attached)
        return msg.as_bytes(policy=_SMTP_COMPAT32)
    # The original's bytes go in after the rest is written: the email package would parse and
    # refold a Message, and cannot write 8-bit bytes as a payload. The boundary is not in them.
    placeholder = f"verpd-original-{boundary}"
    attached = Message()
    attached["Content-Type"] = "message/rfc822"
    attached.set_payload(placeholder)
    msg.attach(attached)
    # SMTP needs CRLF line ends; smtplib sends bytes exactly as given.
    return msg.as_bytes(policy=_SMTP_COMPAT32).replace(placeholder.encode("ascii"), original, 1)


def _boundary(original: bytes) -> str:
    """A MIME boundary that occurs nowhere in ``original``."""
    while True:
        boundary = f"verpd-{secrets.token_hex(16)}"
        if boundary.encode("ascii") not in original:
            return boundary


class Forwarder:
    """Sends forward items through the configured relay."""

    def __init__(self, config: ForwardConfig, hostname: str, sign: Callable[[bytes], bytes] | None = None) -> None:
        self.config = config
        self.hostname = hostname
        self.sign = sign  # DKIM-signs the forward (``dkim.sign`` with ``[dkim] sign_*``), if configured

    async def __call__(self, item: OutboxItem) -> None:
        message = forward_message(item, self.config, self.hostname)
        if self.sign is not None:
            message = self.sign(message)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: bytes) -> None:
        relay = self.config.relay
        with smtplib.SMTP(relay.host, relay.port, local_hostname=self.hostname, timeout=SMTP_TIMEOUT) as smtp:
            refused = smtp.sendmail("", list(self.config.to), message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

"""Forwarding unrecognized bounces to the admins through the SMTP relay.

The forward is a new message from ``forward.sender`` with a subject naming the
VERP address, a short explanation, and the original attached as
``message/rfc822``; it is sent with a null envelope sender (``MAIL FROM:<>``) so a
failure to deliver it can never loop back as another bounce. smtplib blocks, so
sending runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
from collections.abc import Callable
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from verpd.config import ForwardConfig
from verpd.events import ForwardPayload
from verpd.store import OutboxItem

SMTP_TIMEOUT = 30.0
_SMTP_COMPAT32 = email.policy.compat32.clone(linesep="\r\n")


def forward_message(item: OutboxItem, config: ForwardConfig, hostname: str) -> bytes:
    """The message that forwards ``item``'s original to ``config.to``."""
    payload = item.payload
    assert isinstance(payload, ForwardPayload), f"a forward item carries a ForwardPayload, not {type(payload).__name__}"
    verps = payload.verps
    more = f" (and {len(verps) - 1} more)" if len(verps) > 1 else ""
    msg = MIMEMultipart("mixed")
    msg["From"] = f"verpd <{config.sender}>"
    msg["To"] = ", ".join(config.to)
    msg["Subject"] = f"Unrecognized bounce for {verps[0]}{more}"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("verpd", domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"
    lines = [
        "verpd received a message for a VERP address it signed, but found no delivery",
        "failure in it, so nothing was recorded. The message is attached for review.",
        "",
        *(f"VERP address:  {v}" for v in verps),
        f"Tenant:        {payload.tenant}",
        f"User id:       {payload.user}",
        f"Sent at:       {payload.sent_at.isoformat()}",
        f"Received at:   {payload.received_at.isoformat()}",
        f"Message-ID:    {payload.message_id or '(none)'}",
    ]
    msg.attach(MIMEText("\n".join(lines) + "\n", "plain", "utf-8"))
    original = email.message_from_bytes(item.message, policy=email.policy.compat32)
    msg.attach(MIMEMessage(original))
    # SMTP needs CRLF line ends; smtplib sends bytes exactly as given.
    return msg.as_bytes(policy=_SMTP_COMPAT32)


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

"""The webhook action: POST each subscribed event, signed, to the tenant's URL.

The body is exactly :meth:`Event.to_json`. ``X-Verpd-Signature`` carries
``t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` (Stripe's scheme: the
time inside the MAC stops replays of an old request); :func:`verify` is the
receiver's side, and the README shows the same check in a dozen lines of stdlib
Python. Only a 2xx answer counts as delivered: a redirect, any other status, a
refused connection or a timeout raises :class:`~verpd.actions.ActionError` and the
outbox sends the same event (same ``X-Verpd-Id``) again later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import socket
from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime

import httpx
import structlog

import verpd
from verpd.actions import ActionError
from verpd.config import WebhookConfig
from verpd.events import Event

__all__ = ["SIGNATURE_HEADER", "EVENT_HEADER", "ID_HEADER", "SignatureError", "WebhookSender", "sign", "verify"]

log = structlog.get_logger("verpd.actions.webhook")

SIGNATURE_HEADER = "X-Verpd-Signature"
EVENT_HEADER = "X-Verpd-Event"  # the event type, e.g. subject.suppressed
ID_HEADER = "X-Verpd-Id"  # the event's idempotency key: a receiver drops a repeat
TOLERANCE = 300  # seconds a signature's timestamp may be away from the receiver's clock
MAX_RESPONSE_BYTES = 4096  # of a response body read (for the error message); the rest is never read
SNIPPET_CHARS = 200  # of the response body quoted in an error

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(ValueError):
    """An ``X-Verpd-Signature`` header is malformed, too old or too new, or does not sign the body."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Verpd-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(secret: bytes, header: str, body: bytes, now: int, tolerance: int = TOLERANCE) -> None:
    """Check that ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` s of ``now``.

    Several ``v1=`` entries are accepted (a sender rotating its secret signs with
    both); one match is enough. Unknown keys are ignored, for schemes yet to come.
    Raises :class:`SignatureError` saying what is wrong.
    """
    timestamp, signatures = _parse(header)
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(f"{SIGNATURE_HEADER} timestamp t={timestamp} is {age} s old (tolerance {tolerance} s): a replay, or a clock out of sync")
    if -age > tolerance:
        raise SignatureError(f"{SIGNATURE_HEADER} timestamp t={timestamp} is {-age} s in the future (tolerance {tolerance} s): a clock out of sync")
    expected = _digest(secret, body, timestamp).encode("ascii")
    matched = False
    for signature in signatures:  # compare every entry: the time taken says nothing about which one matched
        matched |= hmac.compare_digest(signature.lower().encode("ascii"), expected)
    if not matched:
        raise SignatureError(f"no v1 signature in {SIGNATURE_HEADER} matches the body: a wrong secret, or a body changed in transit")


def _digest(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header, or a SignatureError naming the flaw."""
    def malformed(why: str) -> SignatureError:
        return SignatureError(f"malformed {SIGNATURE_HEADER} header: {why}")

    if not header.strip():
        raise malformed("empty")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals:
            raise malformed(f"{item.strip()[:40]!r} is not key=value")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_DIGEST.fullmatch(value):
                raise malformed(f"v1={value[:70]!r} is not 64 hex digits (an HMAC-SHA256)")
            signatures.append(value)
    if not timestamps:
        raise malformed("no t= timestamp")
    if len(timestamps) > 1:
        raise malformed("more than one t= timestamp")
    if not (timestamps[0].isascii() and timestamps[0].isdigit()):
        raise malformed(f"t={timestamps[0][:20]!r} is not a Unix time in whole seconds")
    if not signatures:
        raise malformed("no v1= signature")
    return int(timestamps[0]), signatures


class WebhookSender:
    """Sends events to the webhook of their tenant; one HTTP client (and connection pool) per sender."""

    def __init__(
        self,
        config_for: Callable[[str], WebhookConfig | None],
        clock: Callable[[], datetime],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config_for = config_for  # tenant -> its webhook, or None
        self._clock = clock
        self._transport = transport  # a test's or a proxy's; None: httpx's own
        self._client: httpx.AsyncClient | None = None

    async def send(self, event: Event) -> None:
        """POST ``event`` to its tenant's webhook if it subscribes to it; raise ActionError unless answered 2xx."""
        config = self._config_for(event.tenant)
        if config is None or event.type not in config.events:
            log.debug("webhook.skipped", id=event.id, event_type=event.type.value, tenant=event.tenant,
                      why="no webhook configured" if config is None else "event not subscribed")
            return
        body = event.to_json()
        headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",  # the error quotes raw bytes; never inflate a compressed answer
            SIGNATURE_HEADER: sign(config.secret.value, body, int(self._clock().timestamp())),
            EVENT_HEADER: event.type.value,
            ID_HEADER: event.id,
        }
        host = _host(config.url)
        try:
            async with asyncio.timeout(config.timeout):  # the whole request; httpx's timeouts are per operation
                async with self._http().stream("POST", config.url, content=body, headers=headers, timeout=config.timeout) as response:
                    if response.is_success:
                        status = response.status_code
                    else:
                        raise ActionError(_refusal(host, response, await _head(response)))
        except (TimeoutError, httpx.TimeoutException):
            raise ActionError(f"webhook to {host} timed out after {config.timeout} s (webhook.timeout)") from None
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise ActionError(f"webhook to {host} failed: {_failure(e)}") from None
        log.info("webhook.sent", id=event.id, event_type=event.type.value, status=status, tenant=event.tenant)

    async def aclose(self) -> None:
        """Close the HTTP client and its connections (a later send opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                follow_redirects=False,  # a redirect is an error: the signed request goes where it was configured, or nowhere
                headers={"User-Agent": f"verpd/{verpd.__version__}"},
            )
        return self._client


async def _head(response: httpx.Response) -> bytes:
    """At most MAX_RESPONSE_BYTES of a streamed response body; the rest stays unread."""
    head = bytearray()
    async with aclosing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            head += chunk
            if len(head) >= MAX_RESPONSE_BYTES:
                break
    return bytes(head[:MAX_RESPONSE_BYTES])


def _refusal(host: str, response: httpx.Response, head: bytes) -> str:
    """Why a non-2xx answer is a failure, in one line: host, status, and the start of the body."""
    message = f"webhook to {host} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.is_redirect:
        message += f" (redirects are not followed: set webhook.url to the final URL, Location: {response.headers.get('Location', '')!r})"
    try:
        text = head.decode(response.charset_encoding or "utf-8", "replace")[:SNIPPET_CHARS]
    except LookupError:  # a charset Python does not know
        text = head.decode("utf-8", "replace")[:SNIPPET_CHARS]
    return f"{message}: {text!r}" if text else message


def _failure(error: Exception) -> str:
    """An httpx error in words, with the system's reason when it wraps one ("Connection refused")."""
    text = f"{type(error).__name__}: {error or 'no detail'}"
    cause = error.__cause__ or error.__context__
    for _ in range(10):  # a short chain: httpx error, httpcore error, OSError
        if cause is None:
            break
        if isinstance(cause, socket.gaierror):
            return f"{text} ({cause.strerror})"
        if isinstance(cause, OSError) and cause.errno:
            return f"{text} ({os.strerror(cause.errno)})"
        cause = cause.__cause__ or cause.__context__
    return text


def _host(url: str) -> str:
    """The host (and port) of ``url``: what an error names; never the path, which may hold a token."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host

"""The webhook action against a real HTTP server on 127.0.0.1, and its signature scheme."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog

import verpd
from verpd.actions import ActionError
from verpd.actions.webhook import SIGNATURE_HEADER, SignatureError, WebhookSender, sign, verify
from verpd.config import Secret, WebhookConfig
from verpd.events import Event, EventType

README = Path(__file__).resolve().parent.parent / "README.md"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = b"webhook-secret-for-tests-0123456789"


def make_event(type: EventType = EventType.SUBJECT_SUPPRESSED, tenant: str = "enwiki") -> Event:
    return Event(
        id="evt-0001",
        type=type,
        tenant=tenant,
        user=42,
        occurred_at=datetime(2024, 5, 1, 11, 59, 0, tzinfo=UTC),
        addresses=("user@example.org",),
        reason="10 hard bounces within 7d (limit 10)",
        rule="limit",
    )


# --- a real server that records requests and answers as told ---------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the test ends)
    repeat: int = 1  # then send body this many times (a huge response)


class Receiver(ThreadingHTTPServer):
    """Records each request and answers with the next scripted Answer (the last one repeats)."""

    daemon_threads = False  # server_close() joins every handler thread

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.answers: list[Answer] = [Answer()]
        self.release = threading.Event()  # lets hanging handlers go
        self.bytes_sent = 0
        self.handled = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/verpd"

    def next_answer(self) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client went away mid-answer (a huge body, a timeout): expected here


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
        answer = self.server.next_answer()
        try:
            if answer.hang:
                self.server.release.wait(10)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body) * answer.repeat))
            self.end_headers()
            for _ in range(answer.repeat):
                self.wfile.write(answer.body)
                self.server.bytes_sent += len(answer.body)
        except OSError:
            pass  # the client closed the connection
        finally:
            self.server.handled.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def config(url: str, events: frozenset[EventType] = frozenset({EventType.SUBJECT_SUPPRESSED}), timeout: int = 5) -> WebhookConfig:
    return WebhookConfig(url, Secret(SECRET), events, timeout)


@pytest.fixture
async def make_sender() -> AsyncIterator[Callable[..., WebhookSender]]:
    made: list[WebhookSender] = []

    def make(webhook: WebhookConfig | None, tenant: str = "enwiki") -> WebhookSender:
        sender = WebhookSender(lambda t: webhook if t == tenant else None, lambda: NOW)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.aclose()


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_verify() -> Callable[[bytes, str, bytes, float], bool]:
    """The receiver the README shows, executed as written."""
    match = re.search(r"<!-- webhook-receiver -->\s*```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, "README.md has no ```python block after <!-- webhook-receiver -->"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "README.md webhook receiver", "exec"), namespace)
    return namespace["verify"]


# --- what is sent ---------------------------------------------------------------------


async def test_body_is_event_json_and_signature_verifies(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """The POST body is exactly Event.to_json() and its X-Verpd-Signature verifies with verify()."""
    event = make_event()
    await make_sender(config(receiver.url)).send(event)
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/hooks/verpd"
    assert request.body == event.to_json()
    verify(SECRET, request.headers[SIGNATURE_HEADER], request.body, now=int(NOW.timestamp()))
    assert request.headers[SIGNATURE_HEADER].startswith(f"t={int(NOW.timestamp())},v1=")


async def test_headers_name_the_event_its_id_and_verpd(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """Content-Type is JSON, X-Verpd-Event is the type, X-Verpd-Id the idempotency key, User-Agent verpd/<version>."""
    await make_sender(config(receiver.url)).send(make_event())
    headers = {k.lower(): v for k, v in receiver.requests[0].headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-verpd-event"] == "subject.suppressed"
    assert headers["x-verpd-id"] == "evt-0001"
    assert headers["user-agent"] == f"verpd/{verpd.__version__}"


async def test_success_is_logged_without_the_secret(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A 2xx answer logs webhook.sent with id, event type, status and tenant, and never the secret."""
    with structlog.testing.capture_logs() as logs:
        await make_sender(config(receiver.url)).send(make_event())
    [sent] = [e for e in logs if e["event"] == "webhook.sent"]
    assert sent["id"] == "evt-0001" and sent["event_type"] == "subject.suppressed"
    assert sent["status"] == 200 and sent["tenant"] == "enwiki"
    assert SECRET.decode() not in repr(logs)


# --- the README's receiver --------------------------------------------------------------


async def test_readme_receiver_accepts_the_real_request(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """The receiver shown in the README accepts what the sender really sent."""
    await make_sender(config(receiver.url)).send(make_event())
    request = receiver.requests[0]
    assert readme_verify()(SECRET, request.headers[SIGNATURE_HEADER], request.body, NOW.timestamp() + 1) is True


async def test_readme_receiver_rejects_tampering_replays_and_wrong_secrets(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """The README receiver rejects a changed body, a request over 5 minutes old, a wrong secret and a malformed header."""
    await make_sender(config(receiver.url)).send(make_event())
    request = receiver.requests[0]
    header, body, now = request.headers[SIGNATURE_HEADER], request.body, NOW.timestamp()
    check = readme_verify()
    assert check(SECRET, header, body.replace(b'"user":42', b'"user":43'), now) is False
    assert check(SECRET, header, body, now + 301) is False
    assert check(b"some-other-secret-0123456789", header, body, now) is False
    assert check(SECRET, "garbage", body, now) is False
    assert check(SECRET, header.split(",")[0], body, now) is False


# --- failures are ActionErrors (the outbox retries) ---------------------------------------


async def test_error_status_raises_and_a_later_success_sends_the_same_id(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A 500 raises ActionError naming host, status and body; the retry after the receiver recovers succeeds with the same X-Verpd-Id."""
    receiver.answers = [Answer(500, b"database is down"), Answer(200)]
    sender = make_sender(config(receiver.url))
    with pytest.raises(ActionError, match=r"127\.0\.0\.1:\d+ answered HTTP 500 .*database is down"):
        await sender.send(make_event())
    await sender.send(make_event())
    assert [r.headers["X-Verpd-Id"] for r in receiver.requests] == ["evt-0001", "evt-0001"]


async def test_client_error_status_raises(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A 4xx (the receiver rejects the signature, say) is a failure too."""
    receiver.answers = [Answer(401, b"bad signature")]
    with pytest.raises(ActionError, match="HTTP 401.*bad signature"):
        await make_sender(config(receiver.url)).send(make_event())


async def test_connection_refused_raises(make_sender: Callable[..., WebhookSender]) -> None:
    """Nobody listening raises ActionError naming the host and the error."""
    port = free_port()
    with pytest.raises(ActionError, match=rf"webhook to 127\.0\.0\.1:{port} failed: ConnectError.*Connection refused"):
        await make_sender(config(f"http://127.0.0.1:{port}/hook")).send(make_event())


async def test_receiver_that_never_answers_times_out(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A receiver that accepts but never answers raises ActionError after webhook.timeout."""
    receiver.answers = [Answer(hang=True)]
    started = time.monotonic()
    with pytest.raises(ActionError, match=r"timed out after 1 s"):
        await make_sender(config(receiver.url, timeout=1)).send(make_event())
    assert time.monotonic() - started < 3


async def test_redirect_is_not_followed(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A 3xx raises ActionError saying redirects are not followed; the Location is never requested."""
    receiver.answers = [Answer(302, b"", {"Location": "/elsewhere"})]
    with pytest.raises(ActionError, match=r"HTTP 302 .*redirects are not followed.*/elsewhere"):
        await make_sender(config(receiver.url)).send(make_event())
    assert [r.path for r in receiver.requests] == ["/hooks/verpd"]


async def test_huge_response_body_is_not_read_whole(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """Only the start of a huge error body is read: the error quotes its first 200 characters and the server could not send it all."""
    chunk = b"0123456789" * 6553 + b"\n"  # 64 KiB
    receiver.answers = [Answer(500, chunk, repeat=1024)]  # 64 MiB
    with pytest.raises(ActionError) as caught:
        await make_sender(config(receiver.url)).send(make_event())
    assert repr(chunk[:200].decode()) in str(caught.value)
    assert ("0123456789" * 21) not in str(caught.value)
    assert receiver.handled.wait(5)
    assert receiver.bytes_sent < len(chunk) * 1024


async def test_errors_never_show_the_secret_or_the_url_path(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """An ActionError names the host only: neither the secret nor the URL's path (which may hold a token)."""
    receiver.answers = [Answer(500, b"no")]
    with pytest.raises(ActionError) as caught:
        await make_sender(config(receiver.url)).send(make_event())
    assert SECRET.decode() not in str(caught.value) and "/hooks/verpd" not in str(caught.value)


# --- what is not sent -------------------------------------------------------------------


async def test_unsubscribed_event_sends_nothing(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """An event type the webhook does not list in webhook.events is not sent."""
    await make_sender(config(receiver.url)).send(make_event(EventType.BOUNCE_HARD))
    assert receiver.requests == []


async def test_tenant_without_webhook_sends_nothing(receiver: Receiver, make_sender: Callable[..., WebhookSender]) -> None:
    """A tenant with no webhook configured sends nothing."""
    await make_sender(config(receiver.url), tenant="enwiki").send(make_event(tenant="dewiki"))
    assert receiver.requests == []


# --- sign / verify ----------------------------------------------------------------------

BODY = b'{"id":"x"}'
T = 1714564800


def test_sign_is_hmac_sha256_of_time_dot_body() -> None:
    """sign() is t=<time>,v1=<hex HMAC-SHA256(secret, "<time>." + body)>."""
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "malformed.*empty"),
        ("v1=" + "a" * 64, "malformed.*no t= timestamp"),
        (f"t={T}", "malformed.*no v1= signature"),
        (f"t={T},v1=abc", "malformed.*not 64 hex digits"),
        (f"t=soon,v1={'a' * 64}", "malformed.*not a Unix time"),
        (f"t=-5,v1={'a' * 64}", "malformed.*not a Unix time"),
        (f"t={T},t={T},v1={'a' * 64}", "malformed.*more than one t="),
        (f"t={T};v1={'a' * 64}", "malformed.*not a Unix time"),
        (f"t={T},garbage", "malformed.*'garbage' is not key=value"),
    ],
    ids=["empty", "no-t", "no-v1", "short-v1", "word-t", "negative-t", "two-t", "semicolon", "no-equals"],
)
def test_verify_names_a_malformed_header(header: str, message: str) -> None:
    """A header verify() cannot read raises SignatureError saying what is malformed."""
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, header, BODY, now=T)


def test_verify_rejects_an_old_timestamp() -> None:
    """A signature more than `tolerance` seconds old is refused as a possible replay."""
    with pytest.raises(SignatureError, match="301 s old"):
        verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + 301)
    verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + 300)


def test_verify_rejects_a_future_timestamp() -> None:
    """A signature more than `tolerance` seconds in the future is refused too."""
    with pytest.raises(SignatureError, match="61 s in the future"):
        verify(SECRET, sign(SECRET, BODY, T + 61), BODY, now=T, tolerance=60)
    verify(SECRET, sign(SECRET, BODY, T + 60), BODY, now=T, tolerance=60)


def test_verify_rejects_a_wrong_secret_or_body() -> None:
    """A well-formed, timely header that does not sign this body with this secret is refused."""
    header = sign(SECRET, BODY, T)
    with pytest.raises(SignatureError, match="no v1 signature .* matches"):
        verify(b"another-secret-0123456789abcdef", header, BODY, now=T)
    with pytest.raises(SignatureError, match="no v1 signature .* matches"):
        verify(SECRET, header, BODY + b" ", now=T)


def test_verify_accepts_any_of_several_v1_entries() -> None:
    """During a secret rotation the sender signs with both secrets; a receiver holding either one accepts."""
    old, new = b"old-secret-0123456789abcdef", b"new-secret-0123456789abcdef"
    header = f"t={T},v1={sign(old, BODY, T).split('v1=')[1]},v1={sign(new, BODY, T).split('v1=')[1]}"
    verify(old, header, BODY, now=T)
    verify(new, header, BODY, now=T)
    with pytest.raises(SignatureError):
        verify(b"third-secret-0123456789abcdef", header, BODY, now=T)


def test_verify_ignores_unknown_schemes_and_spaces() -> None:
    """Keys other than t and v1 are ignored (schemes yet to come), and spaces around items are allowed."""
    header = sign(SECRET, BODY, T).replace(",", ", v0=whatever, ")
    verify(SECRET, header, BODY, now=T)


def test_signature_error_is_a_value_error() -> None:
    """SignatureError is a ValueError, so a receiver's generic bad-input handling catches it."""
    assert issubclass(SignatureError, ValueError)


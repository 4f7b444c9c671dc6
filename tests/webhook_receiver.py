"""A real HTTP server on 127.0.0.1 that receives verpd's webhooks, for the daemon-level tests.

It records every request (headers and body) and answers as told: a status code, or
``HANG`` (read the request, then answer nothing until released), so a test can
hold a webhook in flight while it kills the daemon.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = -1


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None  # the status answered, None if the request was held and never answered


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self.plan: list[int] = []  # answers for the next requests, in order; then 200
        self.arrived = threading.Condition()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/verpd"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Request]:
        """Block until ``count`` requests have arrived (answered or held)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} webhook request(s) arrived, expected {count}")
            return list(self.requests)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    answer = receiver.plan.pop(0) if receiver.plan else 200
                    receiver.requests.append(Request(self.path, dict(self.headers.items()), body, None if answer == HANG else answer))
                    receiver.arrived.notify_all()
                if answer == HANG:
                    receiver.release.wait(60)
                    return
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except ConnectionError:  # the daemon went away (killed) before the answer: it retries the event
                    pass

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        return Handler


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(5)

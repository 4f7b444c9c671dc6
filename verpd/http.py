"""The HTTP intake: MediaWiki's ``api.php`` curl pipe, ``/metrics``, ``/healthz`` and ``/v1/subjects``.

Off unless ``http.listen`` is set. Like :mod:`verpd.lmtp`, this is a place where
outcomes and errors become replies:

POST …/api.php  action=bouncehandler, email=<raw message> (urlencoded or multipart; the
                fields may also come in the query string, the body wins), format=json
    200 {"bouncehandler": {"submitted": "job"}}      recorded (durably) for the VERP address(es)
                                                     in the message's last To: header
    200 {"bouncehandler": {"submitted": "failure"}}  no valid VERP address there: dropped,
                                                     as the extension does (spec §3.1)
    200 {"error": {"code": "invalid-ip", ...}}       client not in server.allowed_clients
        + MediaWiki-API-Error header                 (MediaWiki answers API errors with 200)
    200 {"error": {"code": "missingparam" | "badvalue" | "mustbeposted", ...}}
    401 http.token is set and the request lacks ``Authorization: Bearer <token>``
    400 a form that cannot be read (malformed multipart)
    408 the body did not arrive within REQUEST_TIMEOUT
    413 body over 3 × server.max_message_size + FORM_OVERHEAD, or message over
        server.max_message_size
    503 + Retry-After: 60   our fault (database down, a bug, a timeout) or MAX_CONCURRENT
        requests already running: the MTA keeps the bounce and retries
GET /metrics                      Prometheus text (allowed clients, no token; http.metrics)
GET /healthz                      200 {"status": "ok"} if SELECT 1 answers within 2 s, else 503
GET /v1/subjects/{tenant}/{user}  store.explain as JSON (allowed clients, token); 404 unknown

The client is the TCP peer, or, when the peer is in ``http.trusted_proxies``, the
rightmost X-Forwarded-For hop that is not a trusted proxy. Deliveries run shielded
in tasks of their own: a client that hangs up or a timeout never cancels a commit,
and :meth:`HttpIntake.close` waits for them.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import enum
import hmac
import ipaddress
import json
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import structlog
from aiohttp import BodyPartReader, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from verpd import metrics
from verpd.config import Config, HostPort
from verpd.errors import StartupError, StoreError, VerpError
from verpd.model import VerpAddress
from verpd.pipeline import Pipeline
from verpd.store import Store

log = structlog.get_logger("verpd.http")

REQUEST_TIMEOUT = 60.0  # seconds for one api.php request, reading the body included
MAX_CONCURRENT = 16  # api.php requests handled at once; one more gets 503 at once (bounds memory: each holds a message)
FORM_OVERHEAD = 64 * 1024  # bytes allowed beyond the encoded message for the other fields and multipart headers
HEALTH_TIMEOUT = 2.0  # seconds /healthz waits for SELECT 1
SCRAPE_TIMEOUT = 2.0  # seconds /metrics waits for the outbox gauges
RETRY_AFTER = "60"

INTERNAL_ONLY = "This API module is for internal use only."  # the extension's text for invalid-ip
_API_PATH = r"/{path:(?:.*/)?api\.php}"
_T = TypeVar("_T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _TooBig(Exception):
    """The request body passed HttpIntake.max_body while it was read."""


class HttpIntake:
    """The aiohttp application and its listener; ``start`` binds, ``close`` drains and stops."""

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        store: Store,
        clock: Callable[[], datetime],
        *,
        max_concurrent: int = MAX_CONCURRENT,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self.store = store
        self.clock = clock
        self.max_concurrent = max_concurrent
        self.request_timeout = request_timeout
        self.health_timeout = HEALTH_TIMEOUT
        self.allowed = config.server.allowed_clients
        self.trusted = config.http.trusted_proxies
        self.max_body = 3 * config.server.max_message_size + FORM_OVERHEAD  # %XX triples a byte at worst
        self.active = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=self.max_body, middlewares=[self._count])
        self.app.router.add_route("*", _API_PATH, self.api, name="api")
        self.app.router.add_get("/healthz", self.healthz, name="healthz")
        self.app.router.add_get("/v1/subjects/{tenant}/{user}", self.subject, name="subjects")
        if config.http.metrics:
            self.app.router.add_get("/metrics", self.scrape, name="metrics")

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``sock`` (e.g. handed over by systemd) or bind ``http.listen``."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=self.config.server.shutdown_timeout)
        await runner.setup()
        listen = self.config.http.listen
        try:
            if sock is not None:
                site: web.BaseSite = web.SockSite(runner, sock)
            elif listen is not None:
                site = web.TCPSite(runner, listen.host, listen.port)
            else:
                raise ValueError("HttpIntake.start needs http.listen or a socket")
            await site.start()
        except OSError as e:
            await runner.cleanup()
            raise StartupError(f"cannot listen for HTTP on {listen}: {e.strerror or e}; choose another http.listen",
                               status=77 if isinstance(e, PermissionError) else 69) from e
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("http.started", listen=[str(a) for a in self.bound()], metrics=self.config.http.metrics,
                 token=self.config.http.token is not None)

    def bound(self) -> list[HostPort]:
        """The addresses actually listened on (useful with port 0)."""
        if self._runner is None:
            return []
        return [HostPort(str(a[0]), int(a[1])) for a in self._runner.addresses if isinstance(a, tuple)]

    async def stop_accepting(self) -> None:
        """Close the listening socket; requests in progress go on."""
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()

    async def close(self) -> None:
        """Stop accepting, let requests and deliveries in progress finish (up to server.shutdown_timeout), close."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await runner.cleanup()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.config.server.shutdown_timeout)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("http.stopped")

    def _detached(self, work: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``work`` in a task no request can cancel; ``close`` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(_forget(self._tasks))
        return task

    async def _bounded(self, work: Coroutine[Any, Any, _T], timeout: float) -> _T:
        """``work``'s result within ``timeout`` seconds, else TimeoutError (``work`` itself runs on, never cancelled)."""
        task = self._detached(work)
        done, _ = await asyncio.wait({task}, timeout=timeout)  # neither a timeout nor our cancellation cancels ``task``
        if not done:
            raise TimeoutError(f"no answer within {timeout:g} s")
        return task.result()

    # --- who is asking ------------------------------------------------------------------

    def client_ip(self, request: web.Request) -> IPAddress | None:
        """The TCP peer, or behind a trusted proxy the rightmost X-Forwarded-For hop that is not one (None: unknown)."""
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        client = _ip(peer[0]) if isinstance(peer, tuple) and peer else None
        if client is None or not _within(client, self.trusted):
            return client
        hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
        for hop in reversed(hops):
            client = _ip(hop)
            if client is None or not _within(client, self.trusted):
                return client
        return client

    def _authorized(self, request: web.Request) -> bool:
        token = self.config.http.token
        if token is None:
            return True
        scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode("utf-8", "surrogateescape"), token.value)

    def _gate(self, request: web.Request, *, token: bool) -> web.Response | None:
        """403 (or, for api.php, the extension's invalid-ip) outside allowed_clients; 401 without the token."""
        client = self.client_ip(request)
        if client is None or not _within(client, self.allowed):
            log.warning("http.refused", reason="client_not_allowed", client=str(client) if client else None, path=request.path)
            if request.match_info.route.name == "api":
                metrics.rcpt_outcome("http", metrics.RCPT_REFUSED_CLIENT)
                return _api_error("invalid-ip", INTERNAL_ONLY)
            return _error(403, "forbidden", "this client is not in server.allowed_clients")
        if token and not self._authorized(request):
            log.warning("http.refused", reason="unauthorized", client=str(client), path=request.path)
            return _error(401, "unauthorized", "a valid bearer token is required (Authorization: Bearer <http.token>)",
                          {"WWW-Authenticate": 'Bearer realm="verpd"'})
        return None

    # --- api.php ------------------------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _api_error("mustbeposted", 'The "bouncehandler" module requires a POST request.')
        refused = self._gate(request, token=True)
        if refused is not None:
            return refused
        if self.active >= self.max_concurrent:
            log.warning("http.busy", active=self.active, limit=self.max_concurrent)
            return _unavailable(f"more than {self.max_concurrent} requests at once; retry later")
        self.active += 1
        try:
            return await self._api(request)
        finally:
            self.active -= 1

    async def _api(self, request: web.Request) -> web.StreamResponse:
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        limit = self.config.server.max_message_size
        try:
            if request.content_length is not None and request.content_length > self.max_body:
                raise _TooBig
            async with asyncio.timeout_at(deadline):
                fields = {**_form(request.rel_url.raw_query_string.encode("utf-8", "surrogateescape")), **await self._body(request)}
        except _TooBig:
            log.warning("http.too_big", limit=self.max_body)
            return _error(413, "toobig", f"the request body is larger than {self.max_body} bytes")
        except TimeoutError:
            return _error(408, "timeout", "the request body did not arrive in time")
        except (ValueError, ConnectionError) as e:  # a malformed multipart body, or a client that hung up
            log.info("http.bad_body", error=f"{type(e).__name__}: {e}")
            return _error(400, "badrequest", "the form could not be read")
        action = fields.get("action", b"").decode("utf-8", "replace")
        if action != "bouncehandler":
            return _api_error("badvalue", f'Unrecognized value for parameter "action": {action}.')
        raw = fields.get("email", b"")
        if not raw:
            return _api_error("missingparam", 'The "email" parameter must be set.')
        if len(raw) > limit:
            log.warning("http.too_big", size=len(raw), limit=limit)
            return _error(413, "toobig", f"the message is larger than server.max_message_size ({limit} bytes)")
        now = self.clock()
        recipients = self._recipients(raw, now)
        if not recipients:
            return web.json_response({"bouncehandler": {"submitted": "failure"}})
        try:
            delivery = self.pipeline.deliver(raw, recipients, now)
            await self._bounded(delivery, max(0.0, deadline - asyncio.get_running_loop().time()))
        except Exception as e:
            log.error("http.failed", error=f"{type(e).__name__}: {e}", recipients=len(recipients),
                      exc_info=not isinstance(e, StoreError | TimeoutError))
            return _unavailable("the bounce was not recorded; retry later")
        return web.json_response({"bouncehandler": {"submitted": "job"}})

    async def _body(self, request: web.Request) -> dict[str, bytes]:
        """The form fields of the body, as bytes exactly as sent (URL-encoded or multipart)."""
        if request.content_type == "multipart/form-data":
            return await self._multipart(request)
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self.max_body:
                raise _TooBig
        return _form(bytes(body)) if request.content_type in ("application/x-www-form-urlencoded", "application/octet-stream", "") else {}

    async def _multipart(self, request: web.Request) -> dict[str, bytes]:
        fields: dict[str, bytes] = {}
        budget = self.max_body
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):  # a nested multipart is no form field
                continue
            value = bytearray()
            while chunk := await part.read_chunk(65536):
                value += chunk
                budget -= len(chunk)
                if budget < 0:
                    raise _TooBig
            if part.name:
                fields[part.name] = bytes(value)
        return fields

    def _recipients(self, raw: bytes, now: datetime) -> list[VerpAddress]:
        """The VERP addresses of ours in the message's last To: header (the extension reads that header, spec §1.3)."""
        found: dict[str, VerpAddress] = {}
        addresses = _to_addresses(raw)
        if not addresses:
            log.info("rcpt.rejected", intake="http", reason="no_to_header")
            metrics.rcpt_outcome("http", "not_ours")
        for address in addresses:
            try:
                verp = self.pipeline.check_recipient(address, now)
            except VerpError as e:
                log.info("rcpt.rejected", intake="http", reason=e.kind.value, rcpt=address, detail=e.detail)
                metrics.rcpt_outcome("http", e.kind)
                continue
            except Exception:
                log.exception("rcpt.failed", intake="http", rcpt=address)
                metrics.rcpt_outcome("http", metrics.RCPT_ERROR)
                continue
            metrics.rcpt_outcome("http", metrics.RCPT_ACCEPTED)
            found.setdefault(verp.local_part, verp)
        return list(found.values())

    # --- /metrics, /healthz, /v1 --------------------------------------------------------

    async def scrape(self, request: web.Request) -> web.StreamResponse:
        refused = self._gate(request, token=False)
        if refused is not None:
            return refused
        try:
            pending, dead, oldest = await self._bounded(self.store.outbox_backlog(), SCRAPE_TIMEOUT)
        except Exception as e:
            log.warning("metrics.store_unavailable", error=f"{type(e).__name__}: {e}")
            metrics.STORE_UP.set(0)
            for gauge in (metrics.OUTBOX_PENDING, metrics.OUTBOX_DEAD, metrics.OUTBOX_OLDEST_AGE):
                gauge.set(float("nan"))  # unknown, not zero: an alert on the age must not see "all clear"
        else:
            metrics.STORE_UP.set(1)
            metrics.OUTBOX_PENDING.set(pending)
            metrics.OUTBOX_DEAD.set(dead)
            metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (self.clock() - oldest).total_seconds()) if oldest else 0.0)
        return web.Response(body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        try:
            await self._bounded(self.store.ping(), self.health_timeout)
        except Exception as e:
            log.warning("health.failed", error=f"{type(e).__name__}: {e}")
            return web.json_response({"status": "unavailable", "error": "the database does not answer"}, status=503,
                                     headers={"Retry-After": RETRY_AFTER})
        return web.json_response({"status": "ok"})

    async def subject(self, request: web.Request) -> web.StreamResponse:
        refused = self._gate(request, token=True)
        if refused is not None:
            return refused
        tenant, user = request.match_info["tenant"], request.match_info["user"]
        if not re.fullmatch(r"\d{1,18}", user):
            return _error(404, "not_found", f"no subject {tenant}/{user}: a user is a number")
        try:
            found = await self._bounded(self.store.explain(tenant, int(user)), self.request_timeout)
        except Exception as e:
            log.error("http.failed", error=f"{type(e).__name__}: {e}", path=request.path, exc_info=not isinstance(e, StoreError | TimeoutError))
            return _unavailable("the database does not answer; retry later")
        if found is None:
            return _error(404, "not_found", f"no record of subject {tenant}/{user}")
        return web.json_response(found, dumps=_dumps)

    @web.middleware
    async def _count(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Count every answer in verpd_http_requests_total{endpoint, status}; a bug is our fault: 503."""
        endpoint = request.match_info.route.name or "other"
        try:
            response = await handler(request)
        except web.HTTPException as e:
            metrics.HTTP_REQUESTS.labels(endpoint, str(e.status)).inc()
            raise
        except Exception as e:
            log.exception("http.failed", error=f"{type(e).__name__}: {e}", path=request.path)
            response = _unavailable("internal error; retry later")
        metrics.HTTP_REQUESTS.labels(endpoint, str(response.status)).inc()
        return response


# --- helpers ----------------------------------------------------------------------------


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a timed-out request already logged what it knew

    return done


def _ip(text: str) -> IPAddress | None:
    """An address from a peer name or an X-Forwarded-For hop ("192.0.2.1", "192.0.2.1:443", "[2001:db8::1]:443")."""
    text = text.strip()
    if m := re.fullmatch(r"\[([^\]]+)\](?::\d+)?|(\d+\.\d+\.\d+\.\d+):\d+", text):
        text = m.group(1) or m.group(2)
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _within(ip: IPAddress, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    return any(ip in net for net in networks)


def _form(encoded: bytes) -> dict[str, bytes]:
    """URL-encoded fields with their values as the exact bytes sent (a repeated field: the last wins, as in PHP)."""
    pairs = urllib.parse.parse_qsl(encoded.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return {name: value.encode("latin-1") for name, value in pairs}


def _to_addresses(raw: bytes) -> list[str]:
    """The addresses in the last To: header of ``raw``'s top-level header block."""
    head = re.split(rb"\r?\n[ \t]*\r?\n", raw, maxsplit=1)[0]
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n\n")
    values = message.get_all("To") or []
    if not values:
        return []
    return [address for _, address in email.utils.getaddresses([str(values[-1])]) if "@" in address]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(data: Any) -> str:
    return json.dumps(data, default=_json_default, ensure_ascii=False)


def _error(status: int, code: str, info: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "info": info}}, status=status, headers=headers)


def _api_error(code: str, info: str) -> web.Response:
    """An error as MediaWiki's API gives it: HTTP 200, the code in a MediaWiki-API-Error header too."""
    return _error(200, code, info, {"MediaWiki-API-Error": code})


def _unavailable(info: str) -> web.Response:
    return _error(503, "unavailable", info, {"Retry-After": RETRY_AFTER})

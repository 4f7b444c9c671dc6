"""The HTTP intake over real sockets: MediaWiki's api.php curl pipe, /metrics, /healthz and /v1/subjects."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import VERP_DOMAIN, FakeClock, lmtp_port, make_config, verp_address
from tests.lmtp_client import LMTPClient
from tests.messages import dsn
from verpd.config import Config
from verpd.daemon import Daemon
from verpd.errors import StartupError
from verpd.http import HttpIntake
from verpd.pipeline import Pipeline
from verpd.store import Store, create_engine

API = "/w/api.php?action=bouncehandler&format=json"  # where the documented curl pipe posts
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN = "a-long-http-token-for-the-tests-0123456789"


def http_config(tmp_path: Path, *, server: dict[str, Any] | None = None, **http: Any) -> Config:
    return make_config(tmp_path, http={"listen": "127.0.0.1:0", **http}, **({"server": server} if server else {}))


def base_url(daemon: Daemon) -> str:
    return f"http://127.0.0.1:{daemon.http.bound()[0].port}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as c:
        yield c


def curl_body(raw: bytes) -> bytes:
    """What ``curl --data-urlencode email@-`` sends for ``raw`` on stdin."""
    return b"email=" + urllib.parse.quote_from_bytes(raw, safe="").encode()


async def post_bounce(client: httpx.AsyncClient, daemon: Daemon, raw: bytes, **headers: str) -> httpx.Response:
    """POST ``raw`` the way the extension's documented curl pipe does."""
    return await client.post(base_url(daemon) + API, content=curl_body(raw), headers={**FORM, "Host": "wiki.example.org", **headers})


def sample(text: str, name: str, **labels: str) -> float:
    """One sample of a /metrics text, read with prometheus-client's own parser (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


# --- api.php: the extension's curl pipe ---------------------------------------------------


async def test_the_documented_curl_pipe_gets_the_extensions_reply_and_the_bounce_is_stored(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """A urlencoded email=<raw> to /w/api.php?action=bouncehandler&format=json gets 200 {"bouncehandler": {"submitted": "job"}} after the commit."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    response = await post_bounce(client, daemon, dsn(verp_address(config, clock, user=42)))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"bouncehandler": {"submitted": "job"}}
    (row,) = await daemon.store.list_bounces()
    assert (row["tenant"], row["user_id"], row["address"], row["reason"]) == ("enwiki", 42, "alice@example.com", "userunknown")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["curl", "-sS", "-H", "Host: wiki.example.org", "--data-urlencode", "email@-", "{base}" + API], id="issue-form"),
        pytest.param(["curl", "-sS", "-d", "action=bouncehandler", "--data-urlencode", "email@-", "{base}/api.php"], id="spec-exim-transport"),
    ],
)
async def test_the_real_curl_command_line_works_unchanged(
    make_daemon, tmp_path: Path, clock: FakeClock, argv: list[str]
) -> None:
    """The curl command lines of the issue and of the extension's Exim transport (spec §1.4), run for real, record the bounce."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    process = await asyncio.create_subprocess_exec(
        *[a.replace("{base}", base_url(daemon)) for a in argv],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await process.communicate(dsn(verp_address(config, clock, user=7)))
    assert process.returncode == 0, err
    assert out == b'{"bouncehandler": {"submitted": "job"}}'
    assert [r["user_id"] for r in await daemon.store.list_bounces()] == [7]


async def test_multipart_form_and_eight_bit_bytes_arrive_exactly(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """A multipart/form-data post (curl -F) is accepted too, and both encodings deliver the message's bytes unchanged."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    urlencoded = dsn(verp_address(config, clock, user=1)).replace(b"This is the mail system", b"Caf\xe9 \xff mail system")
    multipart = dsn(verp_address(config, clock, user=2), message_id="<dsn.2@mx.example.com>").replace(b"This is", b"C\xc3\xa9 \xfe is")
    assert (await post_bounce(client, daemon, urlencoded)).json() == {"bouncehandler": {"submitted": "job"}}
    response = await client.post(base_url(daemon) + "/api.php", data={"action": "bouncehandler", "format": "json"},
                                 files={"email": ("bounce.eml", multipart, "message/rfc822")})
    assert response.json() == {"bouncehandler": {"submitted": "job"}}
    stored = {row["user_id"]: (await daemon.store.bounce(row["id"]))["raw"] for row in await daemon.store.list_bounces()}
    assert stored == {1: urlencoded, 2: multipart}


@pytest.mark.parametrize(
    "to",
    [
        pytest.param(lambda a: a.replace("-enwiki-", "-dewiki-"), id="bad-signature"),
        pytest.param(lambda a: a.replace(VERP_DOMAIN, "example.net"), id="not-ours"),
        pytest.param(lambda a: "wiki@example.org", id="not-a-verp"),
        pytest.param(None, id="expired"),
    ],
)
async def test_a_bounce_without_a_valid_verp_in_to_gets_the_extensions_failure_reply(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient, to
) -> None:
    """A forged, foreign, plain or expired To: address gets 200 {"bouncehandler": {"submitted": "failure"}} and nothing is stored."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    good = verp_address(config, clock)
    address = verp_address(config, clock, sent_ago=config.verp.accept_time) if to is None else to(good)
    response = await post_bounce(client, daemon, dsn(good).replace(f"To: {good}".encode(), f"To: {address}".encode()))
    assert (response.status_code, response.json()) == (200, {"bouncehandler": {"submitted": "failure"}})
    assert await daemon.store.list_bounces() == []


async def test_the_to_header_may_carry_a_display_name_and_the_last_one_counts(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """The VERP address is read from the message's last To: header, with or without angle brackets and a name."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    verp = verp_address(config, clock, user=9)
    raw = dsn(verp).replace(f"To: {verp}".encode(), f"To: someone@example.org\nTo: Wiki bounces <{verp}>".encode())
    assert (await post_bounce(client, daemon, raw)).json() == {"bouncehandler": {"submitted": "job"}}
    assert [r["user_id"] for r in await daemon.store.list_bounces()] == [9]


@pytest.mark.parametrize(
    ("method", "body", "code", "info"),
    [
        pytest.param("POST", b"action=bouncehandler&format=json", "missingparam", 'The "email" parameter must be set.', id="no-email"),
        pytest.param("POST", b"action=bouncehandler&email=", "missingparam", 'The "email" parameter must be set.', id="empty-email"),
        pytest.param("POST", b"action=query&email=x", "badvalue", 'Unrecognized value for parameter "action": query.', id="other-action"),
        pytest.param("GET", None, "mustbeposted", 'The "bouncehandler" module requires a POST request.', id="get"),
    ],
)
async def test_malformed_requests_get_mediawiki_api_errors(
    make_daemon, tmp_path: Path, client: httpx.AsyncClient, method: str, body: bytes | None, code: str, info: str
) -> None:
    """A request the extension's module would refuse gets MediaWiki's error shape, HTTP 200 and the MediaWiki-API-Error header."""
    daemon = await make_daemon(http_config(tmp_path))
    response = await client.request(method, base_url(daemon) + "/w/api.php", content=body, headers=FORM)
    assert (response.status_code, response.headers["MediaWiki-API-Error"]) == (200, code)
    assert response.json() == {"error": {"code": code, "info": info}}


# --- who may post -----------------------------------------------------------------------


async def test_a_client_outside_allowed_clients_gets_invalid_ip(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """Outside server.allowed_clients api.php answers as the extension does: HTTP 200, {"error": {"code": "invalid-ip", ...}}; nothing is stored."""
    config = http_config(tmp_path, server={"allowed_clients": ["192.0.2.0/24"]})
    daemon = await make_daemon(config)
    response = await post_bounce(client, daemon, dsn(verp_address(config, clock)))
    assert (response.status_code, response.headers["MediaWiki-API-Error"]) == (200, "invalid-ip")
    assert response.json() == {"error": {"code": "invalid-ip", "info": "This API module is for internal use only."}}
    assert await daemon.store.list_bounces() == []
    assert (await client.get(base_url(daemon) + "/metrics")).status_code == 403
    assert (await client.get(base_url(daemon) + "/v1/subjects/enwiki/42")).status_code == 403


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        pytest.param([], "192.0.2.7", "invalid-ip", id="untrusted-peer-xff-ignored"),
        pytest.param(["127.0.0.1/32"], "192.0.2.7", "job", id="trusted-proxy-believed"),
        pytest.param(["127.0.0.1/32"], "203.0.113.9, 192.0.2.7", "job", id="rightmost-untrusted-hop-is-the-client"),
        pytest.param(["127.0.0.1/32"], "192.0.2.7, 203.0.113.9", "invalid-ip", id="spoofed-leftmost-hop-ignored"),
        pytest.param(["127.0.0.1/32", "198.51.100.0/24"], "192.0.2.7, 198.51.100.3", "job", id="chain-of-trusted-proxies"),
        pytest.param(["127.0.0.1/32"], "not-an-address", "invalid-ip", id="garbage-hop"),
        pytest.param(["127.0.0.1/32"], None, "invalid-ip", id="trusted-proxy-without-xff-is-itself-the-client"),
    ],
)
async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient, trusted: list[str], forwarded: str | None, expected: str
) -> None:
    """The client is the peer, or behind a trusted proxy the rightmost X-Forwarded-For hop that is not a trusted proxy."""
    config = http_config(tmp_path, server={"allowed_clients": ["192.0.2.0/24"]}, trusted_proxies=trusted)
    daemon = await make_daemon(config)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = (await post_bounce(client, daemon, dsn(verp_address(config, clock)), **headers)).json()
    assert (body.get("bouncehandler", {}).get("submitted") or body["error"]["code"]) == expected


async def test_a_configured_token_is_required_and_accepted(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """With http.token set, api.php and /v1 answer 401 without the right bearer token and work with it; /metrics needs none."""
    config = http_config(tmp_path, token=TOKEN)
    daemon = await make_daemon(config)
    raw = dsn(verp_address(config, clock, user=3))
    missing = await post_bounce(client, daemon, raw)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await post_bounce(client, daemon, raw, Authorization="Bearer wrong-token")).status_code == 401
    assert (await post_bounce(client, daemon, raw, Authorization=f"Basic {TOKEN}")).status_code == 401
    assert await daemon.store.list_bounces() == []
    accepted = await post_bounce(client, daemon, raw, Authorization=f"Bearer {TOKEN}")
    assert (accepted.status_code, accepted.json()) == (200, {"bouncehandler": {"submitted": "job"}})
    url = base_url(daemon) + "/v1/subjects/enwiki/3"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
    assert (await client.get(base_url(daemon) + "/metrics")).status_code == 200


# --- our faults and limits ----------------------------------------------------------------


async def test_a_database_failure_answers_503_with_retry_after_then_recovers(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """While the database cannot be written api.php answers 503 + Retry-After: 60 and a JSON error; the retry is recorded."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    raw = dsn(verp_address(config, clock))
    blocker = sqlite3.connect(config.database.url.split("///", 1)[1], isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        response = await post_bounce(client, daemon, raw)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (response.status_code, response.headers["Retry-After"], response.json()["error"]["code"]) == (503, "60", "unavailable")
    assert await daemon.store.list_bounces() == []
    assert (await post_bounce(client, daemon, raw)).json() == {"bouncehandler": {"submitted": "job"}}
    assert len(await daemon.store.list_bounces()) == 1


async def test_a_bug_answers_503_too(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient, monkeypatch) -> None:
    """Any exception while recording is our fault: 503 with Retry-After, never a success."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(daemon.pipeline, "deliver", broken)
    response = await post_bounce(client, daemon, dsn(verp_address(config, clock)))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "60")


async def test_oversized_messages_and_bodies_get_413(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """A message over server.max_message_size, or a body over 3 × that plus the form overhead, gets 413; nothing is stored."""
    config = http_config(tmp_path, server={"max_message_size": "64KiB"})
    daemon = await make_daemon(config)
    big = dsn(verp_address(config, clock)) + b"A" * (64 * 1024)  # URL-encodes to about its own size: under the body limit
    response = await post_bounce(client, daemon, big)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "toobig")
    huge = dsn(verp_address(config, clock)) + b"\x00" * (100 * 1024)  # %00 triples it: over 3 × 64 KiB + 64 KiB
    response = await post_bounce(client, daemon, huge)
    assert response.status_code == 413
    assert await daemon.store.list_bounces() == []


async def test_more_concurrent_requests_than_the_limit_get_503(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """When MAX_CONCURRENT api.php requests are running, one more gets 503 + Retry-After at once."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    daemon.http.max_concurrent = 0
    response = await post_bounce(client, daemon, dsn(verp_address(config, clock)))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "60")


async def test_a_body_that_does_not_arrive_in_time_gets_408(make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """A client that stalls while sending the body gets 408 once the per-request timeout passes."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    daemon.http.request_timeout = 0.3
    raw = curl_body(dsn(verp_address(config, clock)))

    async def slowly() -> AsyncIterator[bytes]:
        yield raw[:100]
        await asyncio.sleep(1)
        yield raw[100:]

    response = await client.post(base_url(daemon) + API, content=slowly(), headers=FORM)
    assert response.status_code == 408


# --- /metrics -------------------------------------------------------------------------------


async def test_metrics_parse_and_bounce_counters_move_for_lmtp_and_http(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """/metrics is Prometheus text that prometheus-client parses; a bounce over LMTP and one over HTTP each move the counters."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)

    async def scrape() -> str:
        response = await client.get(base_url(daemon) + "/metrics")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        return response.text

    before = await scrape()
    names = {f.name for f in text_string_to_metric_families(before)}
    assert {"verpd_bounces_recorded", "verpd_recipients", "verpd_sessions_open", "verpd_outbox_pending",
            "verpd_outbox_oldest_pending_age_seconds", "verpd_db_commit_seconds", "verpd_parse_seconds", "verpd_store_up"} <= names
    assert sample(before, "verpd_store_up") == 1

    lmtp = await LMTPClient.connect("127.0.0.1", lmtp_port(daemon))
    _, (reply,) = await lmtp.deliver(dsn(verp_address(config, clock, user=1)), [verp_address(config, clock, user=1)])
    await lmtp.close()
    assert reply.code == 250
    after_lmtp = await scrape()
    hard = {"reason": "userunknown", "severity": "hard"}
    assert sample(after_lmtp, "verpd_bounces_recorded_total", **hard) == sample(before, "verpd_bounces_recorded_total", **hard) + 1
    assert sample(after_lmtp, "verpd_recipients_total", intake="lmtp", outcome="accepted") >= 1
    assert sample(after_lmtp, "verpd_sessions_opened_total", protocol="lmtp") >= 1

    assert (await post_bounce(client, daemon, dsn(verp_address(config, clock, user=2)))).status_code == 200
    after_http = await scrape()
    assert sample(after_http, "verpd_bounces_recorded_total", **hard) == sample(after_lmtp, "verpd_bounces_recorded_total", **hard) + 1
    assert sample(after_http, "verpd_recipients_total", intake="http", outcome="accepted") == (
        sample(after_lmtp, "verpd_recipients_total", intake="http", outcome="accepted") + 1)
    assert sample(after_http, "verpd_db_commit_seconds_count") > sample(before, "verpd_db_commit_seconds_count")
    assert sample(after_http, "verpd_http_requests_total", endpoint="api", status="200") >= 1


async def test_outbox_gauges_are_read_from_the_store_at_scrape_time(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """verpd_outbox_pending and the oldest pending age come from the outbox table when /metrics is scraped."""
    config = make_config(tmp_path, http={"listen": "127.0.0.1:0"}, forward={"to": ["postmaster@example.org"]})
    daemon = await make_daemon(config)
    from tests.messages import not_a_bounce

    await post_bounce(client, daemon, not_a_bounce(verp_address(config, clock)))  # queued for the admins; the relay is down
    clock.advance(seconds=90)
    text = (await client.get(base_url(daemon) + "/metrics")).text
    assert sample(text, "verpd_outbox_pending") + sample(text, "verpd_outbox_dead") == 1
    assert sample(text, "verpd_outbox_oldest_pending_age_seconds") in (0, 90)  # 0 once the worker gave up (dead)


async def test_metrics_can_be_switched_off(make_daemon, tmp_path: Path, client: httpx.AsyncClient) -> None:
    """With http.metrics = false there is no /metrics."""
    daemon = await make_daemon(http_config(tmp_path, metrics=False))
    assert (await client.get(base_url(daemon) + "/metrics")).status_code == 404


# --- /healthz and /v1/subjects ---------------------------------------------------------------


async def test_healthz_is_ok_while_the_database_answers_and_503_when_it_does_not(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """/healthz answers 200 {"status": "ok"} after SELECT 1, and 503 when the database cannot be opened."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    response = await client.get(base_url(daemon) + "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})

    (tmp_path / "broken").mkdir()  # SQLite cannot open a directory as its database
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/broken")
    store = Store(engine)
    intake = HttpIntake(config, Pipeline(config, store), store, clock)
    try:
        await intake.start()
        response = await client.get(f"http://127.0.0.1:{intake.bound()[0].port}/healthz")
        assert (response.status_code, response.json()["status"], response.headers["Retry-After"]) == (503, "unavailable", "60")
    finally:
        await intake.close()
        await engine.dispose()


async def test_healthz_times_out_after_its_limit(make_daemon, tmp_path: Path, client: httpx.AsyncClient, monkeypatch) -> None:
    """A database that does not answer within the health timeout makes /healthz 503, not a hung probe."""
    daemon = await make_daemon(http_config(tmp_path))
    daemon.http.health_timeout = 0.1

    async def hang() -> None:
        await asyncio.sleep(1)

    monkeypatch.setattr(daemon.store, "ping", hang)
    assert (await client.get(base_url(daemon) + "/healthz")).status_code == 503


async def test_subjects_endpoint_explains_a_known_subject_and_404s_an_unknown_one(
    make_daemon, tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    """/v1/subjects/{tenant}/{user} is store.explain as JSON with ISO datetimes; an unknown subject is a JSON 404."""
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    await post_bounce(client, daemon, dsn(verp_address(config, clock, user=42)))
    response = await client.get(base_url(daemon) + "/v1/subjects/enwiki/42")
    assert response.status_code == 200
    body = response.json()
    assert (body["subject"]["state"], body["subject"]["user_id"]) == ("active", 42)
    assert body["subject"]["last_bounce_at"] == clock.now.isoformat()
    assert [b["address"] for b in body["bounces"]] == ["alice@example.com"]
    for path in ("/v1/subjects/enwiki/43", "/v1/subjects/dewiki/42", "/v1/subjects/enwiki/not-a-number"):
        missing = await client.get(base_url(daemon) + path)
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


# --- lifecycle ----------------------------------------------------------------------------------


async def test_the_daemon_closes_the_http_port_on_stop(tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """Daemon.stop() closes the HTTP listener with the mail listeners."""
    daemon = Daemon(http_config(tmp_path), clock=clock)
    await daemon.start()
    url = base_url(daemon) + "/healthz"
    assert (await client.get(url)).status_code == 200
    await daemon.stop()
    with pytest.raises(httpx.ConnectError):
        await client.get(url)


async def test_the_intake_can_listen_on_a_socket_it_is_handed(tmp_path: Path, clock: FakeClock, client: httpx.AsyncClient) -> None:
    """HttpIntake.start(sock) serves on an already bound socket (systemd socket activation)."""
    daemon = Daemon(http_config(tmp_path), clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    intake = HttpIntake(daemon.config, daemon.pipeline, daemon.store, clock)
    try:
        await intake.start(sock)
        port = intake.bound()[0].port
        assert port == sock.getsockname()[1]
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code in (200, 503)
    finally:
        await intake.close()
        await daemon.engine.dispose()
        sock.close()


async def test_a_malformed_multipart_body_gets_400(make_daemon, tmp_path: Path, client: httpx.AsyncClient) -> None:
    """A multipart/form-data body without a boundary is the client's fault: 400, not 503."""
    daemon = await make_daemon(http_config(tmp_path))
    response = await client.post(base_url(daemon) + API, content=b"garbage", headers={"Content-Type": "multipart/form-data"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "badrequest")


async def test_the_readmes_failing_curl_pipe_exits_75_on_503_so_the_mta_retries(make_daemon, tmp_path: Path, clock: FakeClock) -> None:
    """The README's pipe (curl -sSf … || exit 75) exits EX_TEMPFAIL while verpd answers 503, and 0 once the bounce is recorded."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    config = http_config(tmp_path)
    daemon = await make_daemon(config)
    command = f"curl -sSf -d action=bouncehandler --data-urlencode email@- {base_url(daemon)}/w/api.php >/dev/null || exit 75"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    raw = dsn(verp_address(config, clock))

    async def pipe() -> int:
        process = await asyncio.create_subprocess_exec("/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.DEVNULL, env=env)
        await process.communicate(raw)
        assert process.returncode is not None
        return process.returncode

    blocker = sqlite3.connect(config.database.url.split("///", 1)[1], isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        assert await pipe() == 75
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await pipe() == 0
    assert len(await daemon.store.list_bounces()) == 1


async def test_a_port_in_use_is_a_startup_error_that_names_http_listen(tmp_path: Path, clock: FakeClock) -> None:
    """When http.listen cannot be bound the daemon does not start: StartupError (EX_UNAVAILABLE) naming the setting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        daemon = Daemon(http_config(tmp_path, listen=f"127.0.0.1:{taken.getsockname()[1]}"), clock=clock)
        with pytest.raises(StartupError, match="http.listen") as raised:
            await daemon.start()
    assert raised.value.status == 69

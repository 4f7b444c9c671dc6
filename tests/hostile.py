"""Hostile LMTP clients, each beside a legitimate one: the cases of tests/test_hostile.py and
tests/bench/bench_hostile.py.

Every case starts its own ``verpd serve`` subprocess (:func:`running`) with small
limits (:data:`LIMITS`), so that each limit is reached within seconds. While the
attack runs, :func:`legit_deliveries` delivers fresh bounces (a new valid VERP
address, a DSN) one after another and times each from connect to its 250. An
attack returns what the attacker saw (:class:`Attack`); the test asserts on that
and on the legitimate latencies, the bench prints them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config_file
from tests.lmtp_client import LMTPClient, Reply
from tests.messages import dsn
from verpd.config import Config

HOST = "127.0.0.1"
LEGIT_BOUND = 5.0  # seconds: the legitimate client's 250 arrives within this while any attack runs
MIN_ATTACK = 1.0  # seconds: a quick attack is repeated until it has run this long, so legitimate deliveries overlap it
MIB = 1 << 20

# The daemon under attack: limits small enough that each case reaches its limit in seconds.
LIMITS: dict[str, Any] = {
    "max_connections": 20,
    "idle_timeout": "2s",
    "data_timeout": "3s",
    "connection_lifetime": "4s",
    "max_commands": 300,
    "max_errors": 20,
    "max_recipients": 100,
    "shutdown_timeout": "10s",
}


@dataclass
class Target:
    """A running ``verpd serve`` and what it takes to talk to it."""

    port: int
    config: Config
    process: Process
    clock: FakeClock
    server: dict[str, Any]  # the [server] table it runs with
    nofile: int | None = None  # its RLIMIT_NOFILE, when the case set one
    users: itertools.count = field(default_factory=lambda: itertools.count(1))

    def verp(self) -> str:
        """A fresh valid VERP address (a user number not used before)."""
        return verp_address(self.config, self.clock, user=next(self.users))

    def events(self, name: str) -> list[dict]:
        return [e for e in self.process.events if e.get("event") == name]


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *, nofile: int | None = None, **server: Any) -> AsyncIterator[Target]:
    """A ``verpd serve`` subprocess with :data:`LIMITS` and ``server`` in [server]; stopped (SIGTERM) afterwards."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    table = {"lmtp": f"{HOST}:{port}", **LIMITS, **server}
    process = await Process.start(write_config_file(tmp_path, server=table, log={"level": "info"}), nofile=nofile)
    target = Target(port, make_config(tmp_path), process, FakeClock(start=datetime.now(UTC)), table, nofile)
    try:
        yield target
    finally:
        if process.proc.returncode is None:
            process.proc.terminate()
        try:
            await process.finish(timeout=30)
        except TimeoutError:
            process.proc.kill()
            await process.finish()


# --- the legitimate client ---------------------------------------------------------------


@dataclass
class Legit:
    """What the legitimate client saw: seconds from connect (or MAIL) to each 250, and anything but a 250."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))


async def legit_deliveries(target: Target, started: asyncio.Event, stop: asyncio.Event, *, persistent: bool = False) -> Legit:
    """Deliver fresh bounces until ``stop`` is set, after at least one that began once ``started`` was set.

    ``persistent``: over one connection opened before the attack (an MTA's cached
    connection), reconnecting when verpd closes it; else a new connection each time.
    The first delivery happens before ``started`` is set and is not timed.
    """
    seen = Legit()
    client: LMTPClient | None = None
    timed = 0
    warmed = False
    while not warmed or not stop.is_set() or timed == 0:
        verp = target.verp()
        begun = time.perf_counter()
        try:
            async with asyncio.timeout(4 * LEGIT_BOUND):
                if client is None:
                    client = await _connect_retrying(target)
                replies = await _deliver(client, verp)
        except (ConnectionError, TimeoutError, AssertionError) as e:
            if client is not None:
                client.writer.close()
            client = None
            if not persistent or isinstance(e, TimeoutError):
                seen.failures.append(f"{type(e).__name__}: {e}")
            continue  # a persistent client reconnects and delivers the message again, as an MTA would
        elapsed = time.perf_counter() - begun
        if [r.code for r in replies] != [250]:
            seen.failures.append(f"DATA answered {[str(r) for r in replies]}")
        if not warmed:
            warmed = True
            started.set()
        elif started.is_set():
            seen.latencies.append(elapsed)
            timed += 1
        if not persistent:
            await client.close()
            client = None
        await asyncio.sleep(0.05)  # an MTA's pace, not a load test
    if client is not None:
        await client.close()
    return seen


async def _connect_retrying(target: Target) -> LMTPClient:
    """Connect, retrying while verpd answers 421 (all slots taken), as an MTA retries later."""
    while True:
        try:
            return await LMTPClient.connect(HOST, target.port)
        except AssertionError as e:  # LMTPClient.connect asserts a 220 greeting
            if "421" not in str(e):
                raise
            await asyncio.sleep(0.1)


async def _deliver(client: LMTPClient, verp: str) -> list[Reply]:
    mail = await client.mail()
    if mail.code != 250:
        raise ConnectionError(f"MAIL answered {mail}")
    rcpt = await client.rcpt(verp)
    if rcpt.code != 250:
        raise ConnectionError(f"RCPT answered {rcpt}")
    return await client.data(dsn(verp, message_id=f"<legit.{verp.split('@')[0]}@mx.example.com>"), 1)


# --- attacks ------------------------------------------------------------------------------


@dataclass
class Attack:
    """What one attack sent (``volume``, for the bench's table) and saw (``facts``, for the test's assertions)."""

    volume: str
    facts: dict[str, Any]
    seconds: float = 0.0


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Target], Awaitable[Attack]]
    server: dict[str, Any] = field(default_factory=dict)  # [server] settings beyond LIMITS
    persistent: bool = False  # the legitimate client keeps one connection (the attack takes every free slot)
    nofile: int | None = None


@dataclass
class Outcome:
    case: Case
    attack: Attack
    legit: Legit
    events: list[dict] = field(default_factory=list)  # the daemon's whole log, once it has stopped

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]


async def run_case(case: Case, tmp_path: Path) -> Outcome:
    """Start a daemon, run ``case``'s attack beside the legitimate client, stop the daemon."""
    async with running(tmp_path, nofile=case.nofile, **case.server) as target:
        outcome = await attack_beside_legit(target, case)
    outcome.events = target.process.events
    return outcome


async def attack_beside_legit(target: Target, case: Case) -> Outcome:
    started, stop = asyncio.Event(), asyncio.Event()
    legit = asyncio.create_task(legit_deliveries(target, started, stop, persistent=case.persistent))
    try:
        async with asyncio.timeout(60):
            while not started.is_set():
                if legit.done():
                    legit.result()  # raises what stopped it
                    raise AssertionError("the legitimate client stopped before the attack began")
                await asyncio.sleep(0.01)
        begun = time.perf_counter()
        attack = await case.run(target)
        attack.seconds = time.perf_counter() - begun
    finally:
        stop.set()
    async with asyncio.timeout(60):
        seen = await legit
    return Outcome(case, attack, seen)


async def repeated(once: Callable[[], Awaitable[Any]]) -> list[Any]:
    """``once()`` again and again until MIN_ATTACK seconds have passed; what each round returned."""
    rounds, begun = [], time.monotonic()
    while not rounds or time.monotonic() - begun < MIN_ATTACK:
        rounds.append(await once())
    return rounds


class Raw:
    """A bare connection: what an attacker writes and reads, byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, target: Target, *, lhlo: bool = True) -> Raw:
        raw = cls(*await asyncio.open_connection(HOST, target.port, limit=4 * MIB))
        greeting = await raw.line()
        assert greeting.startswith("220"), greeting
        if lhlo:
            await raw.send(b"LHLO attacker.example.net\r\n")
            assert (await raw.reply()).startswith("250"), "LHLO refused"
        return raw

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self, timeout: float = 30.0) -> str:
        """One line ("" at EOF)."""
        data = await asyncio.wait_for(self.reader.readline(), timeout)
        return data.decode("utf-8", "replace").rstrip("\r\n")

    async def reply(self, timeout: float = 30.0) -> str:
        """One whole reply, its lines joined with "\\n" ("" at EOF)."""
        lines = []
        while True:
            line = await self.line(timeout)
            lines.append(line)
            if line[3:4] != "-":
                return "\n".join(lines)

    async def replies_until_closed(self, timeout: float = 30.0) -> list[str]:
        """Every reply line until verpd closes the connection."""
        found = []
        with contextlib.suppress(ConnectionError):
            while line := await self.line(timeout):
                found.append(line)
        return found

    async def send_ignoring_close(self, data: bytes) -> None:
        """Write ``data``; verpd may close the connection before it has read it all."""
        with contextlib.suppress(ConnectionError):
            await self.send(data)

    def close(self) -> None:
        self.writer.close()


async def _trickle_until_closed(raw: Raw, data: bytes, pause: float) -> tuple[str, float]:
    """Write ``data`` a byte at a time, ``pause`` apart, until verpd closes; its last line and the seconds it took."""
    begun = time.monotonic()
    reader = asyncio.create_task(raw.replies_until_closed(timeout=60))
    for byte in itertools.cycle(data):
        if reader.done():
            break
        with contextlib.suppress(ConnectionError):
            raw.writer.write(bytes([byte]))
        await asyncio.sleep(pause)
    lines = await reader
    raw.close()
    return (lines[-1] if lines else ""), time.monotonic() - begun


async def slowloris_command(target: Target, connections: int = 10) -> Attack:
    """Connections trickling one command line at 4 bytes/s: each gets 421 4.4.2 after idle_timeout."""
    raws = [await Raw.open(target) for _ in range(connections)]
    results = await asyncio.gather(*(_trickle_until_closed(raw, b"MAIL FROM:<slow@example.net>", 0.25) for raw in raws))
    return Attack(f"{connections} connections trickling a command line at 4 B/s",
                  {"last_lines": [r[0] for r in results], "seconds": [r[1] for r in results]})


async def noop_keepalive(target: Target, connections: int = 10) -> Attack:
    """Connections sending a NOOP every second: each gets 421 4.4.2 once connection_lifetime is over."""

    async def keep_alive(raw: Raw) -> tuple[str, float, int]:
        begun, sent = time.monotonic(), 0
        while True:
            await raw.send_ignoring_close(b"NOOP\r\n")
            sent += 1
            reply = await raw.reply()
            if not reply.startswith("250"):
                raw.close()
                return reply, time.monotonic() - begun, sent
            await asyncio.sleep(1.0)

    raws = [await Raw.open(target) for _ in range(connections)]
    results = await asyncio.gather(*(keep_alive(raw) for raw in raws))
    return Attack(f"{connections} connections, a NOOP each per second",
                  {"last_lines": [r[0] for r in results], "seconds": [r[1] for r in results], "noops": sum(r[2] for r in results)})


async def command_flood(target: Target, connections: int = 5) -> Attack:
    """Connections pipelining NOOPs as fast as they can: each gets 421 4.4.2 after max_commands."""
    noops = int(target.server["max_commands"]) + 50

    async def flood(raw: Raw) -> list[str]:
        await raw.send_ignoring_close(b"NOOP\r\n" * noops)
        lines = await raw.replies_until_closed()
        raw.close()
        return lines

    async def once() -> list[list[str]]:
        raws = [await Raw.open(target) for _ in range(connections)]
        return await asyncio.gather(*(flood(raw) for raw in raws))

    rounds = await repeated(once)
    return Attack(f"{len(rounds) * connections} connections x {noops:,} pipelined NOOPs", {"lines": [lines for r in rounds for lines in r]})


async def data_trickle(target: Target, connections: int = 5) -> Attack:
    """Transactions whose DATA body arrives at 4 bytes/s: each gets 421 4.4.2 after data_timeout."""

    async def trickle() -> tuple[str, float]:
        raw = await Raw.open(target)
        await raw.send(f"MAIL FROM:<>\r\nRCPT TO:<{target.verp()}>\r\nDATA\r\n".encode())
        replies = [await raw.reply() for _ in range(3)]
        assert [r[:3] for r in replies] == ["250", "250", "354"], replies
        return await _trickle_until_closed(raw, b"Subject: slow\r\n\r\nThis body never ends.\r\n", 0.25)

    results = await asyncio.gather(*(trickle() for _ in range(connections)))
    return Attack(f"{connections} DATA bodies trickled at 4 B/s",
                  {"last_lines": [r[0] for r in results], "seconds": [r[1] for r in results]})


async def connection_flood(target: Target, extra: int = 200) -> Attack:
    """Every free slot held, then ``extra`` more connections: each gets 421 4.3.2; once the holders leave, a new client is served."""
    cap = int(target.server["max_connections"])
    held = [await Raw.open(target) for _ in range(cap - 1)]  # the legitimate client holds the last slot

    async def refused() -> list[str]:
        reader, writer = await asyncio.open_connection(HOST, target.port)
        lines = []
        with contextlib.suppress(ConnectionError):
            while line := await asyncio.wait_for(reader.readline(), 30):
                lines.append(line.decode().rstrip("\r\n"))
        writer.close()
        return lines

    answers = await asyncio.gather(*(refused() for _ in range(extra)))
    for raw in held:
        raw.writer.write(b"QUIT\r\n")
        raw.close()
    await asyncio.sleep(0.2)  # let verpd see the holders leave
    after = await LMTPClient.connect(HOST, target.port)
    verp = target.verp()
    _, data = await after.deliver(dsn(verp, message_id="<after.flood@mx.example.com>"), [verp])
    await after.close()
    return Attack(f"{cap - 1} held + {extra} extra connections", {"answers": answers, "after": [r.code for r in data]})


async def connection_burst(target: Target, connections: int = 2_000) -> Attack:
    """``connections`` opened at once, beyond max_connections and asyncio's default backlog (100): every one is
    greeted, 220 or 421 4.3.2, within seconds (none waits unanswered in the queue)."""

    async def first_line() -> tuple[str, float]:
        begun = time.monotonic()
        reader, writer = await asyncio.open_connection(HOST, target.port)
        try:
            line = await asyncio.wait_for(reader.readline(), 30)
        finally:
            writer.close()
        return line.decode().rstrip("\r\n"), time.monotonic() - begun

    results = await asyncio.gather(*(first_line() for _ in range(connections)))
    return Attack(f"{connections:,} connections at once", {"first_lines": [r[0] for r in results], "seconds": [r[1] for r in results]})


def _rcpt_lines(addresses: list[str]) -> bytes:
    return b"".join(f"RCPT TO:<{a}>\r\n".encode() for a in addresses)


async def many_recipients(target: Target, recipients: int = 10_000) -> Attack:
    """One transaction naming 10,000 valid recipients, pipelined: 250 up to max_recipients, then 452, then 421 4.7.0."""
    valid = [target.verp() for _ in range(int(target.server["max_recipients"]))]
    pipelined = _rcpt_lines([valid[i % len(valid)] for i in range(recipients)])

    async def once() -> list[str]:
        raw = await Raw.open(target)
        await raw.send(b"MAIL FROM:<>\r\n")
        assert (await raw.reply()).startswith("250")
        await raw.send_ignoring_close(pipelined)
        lines = await raw.replies_until_closed()
        raw.close()
        return lines

    rounds = await repeated(once)
    return Attack(f"{len(rounds)} transactions of {recipients:,} RCPTs", {"rounds": rounds})


async def invalid_recipients(target: Target, recipients: int = 10_000) -> Attack:
    """10,000 RCPTs that are not VERP addresses, pipelined over as many connections as it takes."""
    sent, closes, per_connection = 0, [], []
    while sent < recipients:
        raw = await Raw.open(target)
        await raw.send(b"MAIL FROM:<>\r\n")
        assert (await raw.reply()).startswith("250")
        batch = min(recipients - sent, 2 * int(target.server["max_errors"]))
        await raw.send_ignoring_close(_rcpt_lines([f"nobody{sent + i}@example.net" for i in range(batch)]))
        lines = await raw.replies_until_closed()
        raw.close()
        answered = [line for line in lines if line.startswith("550")]
        sent += len(answered)
        per_connection.append(len(answered))
        closes.append(lines[-1] if lines else "")
    return Attack(f"{sent:,} invalid RCPTs over {len(closes)} connections", {"rejected": per_connection, "closes": closes, "sent": sent})


async def error_flood(target: Target, lines: int = 5_000) -> Attack:
    """Garbage: unknown commands (aiosmtpd's 502 after 5) and 5,000 non-ASCII lines (421 4.7.0 after max_errors)."""
    unknown_raw = await Raw.open(target)
    await unknown_raw.send_ignoring_close(b"".join(f"XYZZY{i} plugh\r\n".encode() for i in range(100)))
    unknown = await unknown_raw.replies_until_closed()
    unknown_raw.close()
    sent, closes, per_connection, begun = 0, [], [], time.monotonic()
    while sent < lines or time.monotonic() - begun < MIN_ATTACK:
        raw = await Raw.open(target)
        await raw.send_ignoring_close("\u00e9\u00e8\u00ff garbage \u2603\r\n".encode() * 100)
        replies = await raw.replies_until_closed()
        raw.close()
        errors = [line for line in replies if line.startswith("500")]
        sent += len(errors)
        per_connection.append(len(errors))
        closes.append(replies[-1] if replies else "")
    return Attack(f"100 unknown commands, {sent:,} non-ASCII lines over {len(closes)} connections",
                  {"unknown": unknown, "errors": per_connection, "closes": closes})


async def long_lines(target: Target) -> Attack:
    """A 1 MiB + 1 byte line in a body for three recipients (554 5.6.0 each), then as a command line (500), then a NOOP."""

    async def once() -> dict[str, Any]:
        verps = [target.verp() for _ in range(3)]
        client = await LMTPClient.connect(HOST, target.port)
        assert (await client.mail()).code == 250
        for verp in verps:
            assert (await client.rcpt(verp)).code == 250
        start = await client.command("DATA")
        assert start.code == 354, start
        client.writer.write(b"Subject: long\r\n\r\n" + b"x" * (MIB + 1) + b"\r\n.\r\n")
        data = [await client.read_reply() for _ in verps]
        command = await client.command("NOOP " + "y" * (MIB + 1))
        after = await client.command("NOOP")
        await client.close()
        return {"data": [str(r)[:9] for r in data], "command": command.code, "after": after.code}

    rounds = await repeated(once)
    return Attack(f"{2 * len(rounds)} lines of 1 MiB + 1 byte", {"rounds": rounds})


async def binary_data(target: Target) -> Attack:
    """NULs and 8-bit bytes in commands and addresses, then a body full of them: the session stays in step and the body gets 250."""
    commands = [b"MA\x00IL FROM:<>\r\n", b"\xff\xfe\xfd\r\n", b"RCPT TO:<\x00@bounces.example.org>\r\n", b"MAIL FROM:<\xe9t\xe9@example.net>\r\n"]
    body = b"Subject: \xff\xfe binary\r\n\r\n" + b"".join(bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") + b"\x00\r\n" for _ in range(64))

    async def once() -> dict[str, Any]:
        raw = await Raw.open(target)
        answers = []
        for command in commands:
            await raw.send(command)
            answers.append(await raw.reply())
        await raw.send(f"RCPT TO:<{target.verp()}>\r\nRCPT TO:<\xe9\u00ff@bounces.example.org>\r\nDATA\r\n".encode())
        answers += [await raw.reply() for _ in range(3)]
        await raw.send(body + b".\r\n")
        data = await raw.reply()
        await raw.send(b"NOOP\r\n")
        after = await raw.reply()
        raw.close()
        return {"answers": answers, "data": data, "after": after}

    rounds = await repeated(once)
    return Attack(f"{len(rounds)} sessions of 4 binary commands and 16 KiB of binary body", {"rounds": rounds})


def large_dsn(verp: str, recipients: int) -> bytes:
    """A multipart/report to ``verp`` with ``recipients`` delivery-status blocks."""
    blocks = "".join(f"Final-Recipient: rfc822; user{i}@example.com\nAction: failed\nStatus: 5.1.1\n\n" for i in range(recipients))
    return (
        f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nTo: {verp}\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <large.1@mx.example.com>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.com.\n\n"
        f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n{blocks}"
        f"--B\nContent-Type: text/rfc822-headers\n\nReturn-Path: <{verp}>\nFrom: wiki@example.org\nTo: user0@example.com\n\n--B--\n"
    ).encode()


async def dsn_many_blocks(target: Target, recipients: int = 10_000) -> Attack:
    """A DSN naming 10,000 failed recipients: accepted with 250, at most parse.max_recipients reported."""
    async def once() -> list[str]:
        verp = target.verp()
        client = await LMTPClient.connect(HOST, target.port)
        _, data = await client.deliver(large_dsn(verp, recipients), [verp])
        await client.close()
        return [str(r)[:9] for r in data]

    size = len(large_dsn(target.verp(), recipients)) / MIB
    rounds = await repeated(once)
    return Attack(f"{len(rounds)} DSNs of {recipients:,} recipient blocks ({size:.1f} MiB each)", {"data": rounds})


async def descriptor_exhaustion(target: Target, connections: int = 150) -> Attack:
    """More connections than the daemon has file descriptors: accept() fails (EMFILE), its log stays short, and once
    they leave the queued ones are served."""
    held = await asyncio.gather(*(asyncio.open_connection(HOST, target.port) for _ in range(connections)))
    await target.process.wait_for_event("server.accept_failed")
    await asyncio.sleep(2.5)  # accept() keeps failing meanwhile (asyncio tries again each second)
    for _, writer in held:
        writer.close()
    after = await _connect_retrying(target)  # once the held ones are gone, the queue drains
    verp = target.verp()
    _, data = await after.deliver(dsn(verp, message_id="<after.emfile@mx.example.com>"), [verp])
    await after.close()
    return Attack(f"{connections} connections held open against a limit of {target.nofile} descriptors", {"after": [r.code for r in data]})


CASES = [
    Case("slowloris: command line", slowloris_command),
    Case("slowloris: NOOP keep-alive", noop_keepalive),
    Case("NOOP flood", command_flood),
    Case("slowloris: DATA body", data_trickle),
    Case("connection flood", connection_flood, server={"connection_lifetime": "60s", "idle_timeout": "30s"}, persistent=True),
    Case("connection burst", connection_burst, server={"max_connections": 200, "backlog": 1024}, persistent=True),
    Case("10,000 RCPTs, one transaction", many_recipients),
    Case("10,000 invalid RCPTs", invalid_recipients),
    Case("garbage and non-ASCII lines", error_flood),
    Case("lines over 1 MiB", long_lines),
    Case("binary commands and body", binary_data),
    Case("DSN of 10,000 recipients", dsn_many_blocks),
    Case("file descriptors exhausted", descriptor_exhaustion, server={"max_connections": 1000, "backlog": 1024}, persistent=True, nofile=96),
]
CASE_BY_NAME = {case.name: case for case in CASES}

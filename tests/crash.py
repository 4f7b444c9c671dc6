"""Crash safety under load: SIGKILL ``verpd serve`` while LMTP sessions deliver bounces, restart it, check the ledger.

The claim checked (issue 10): verpd answers 250 to a recipient only once its bounce is
committed, and a retry of anything it did not acknowledge stores nothing twice. The
driver is a black box: it knows what an MTA sees over LMTP, the daemon's process, and
the database file (or PostgreSQL database) once the daemon has stopped.

* ``sessions`` LMTP sessions deliver ``messages`` realistic, unique DSNs (own VERP
  address, failed address and Message-ID each); about one in three goes to 2 or 3 VERP
  recipients at once (LMTP: one reply per recipient); one in five is a soft bounce.
  Users get 1 to 5 bounces each, spread over the sessions, so ``policy.limit`` (3) is
  crossed concurrently and decisions and outbox rows (a webhook subscribed to
  ``bounce.hard`` and ``subject.suppressed``) are written too.
* The client keeps a ledger: per recipient, whether a 250 arrived. A recipient without
  one (connection broken by a kill, a 4xx) is retried, as an MTA would, until it gets one.
* Meanwhile the daemon is killed with SIGKILL ``kills`` times, alternately
  - at an arbitrary moment once the load has reached the kill's point, while at least one
    session is waiting for its DATA replies, and
  - right after a session reads a 250, while another session is waiting for its DATA
    replies. A daemon that answered before its commit had finished (a group commit that
    replies first and commits a few milliseconds later) loses that bounce here,
  and restarted on the same database and port; the sessions reconnect.
* :func:`check` then reads the database: every (VERP address, failed address) sent is in
  ``bounces`` exactly once and nothing else is; each user whose hard bounces reached the
  limit is suppressed with exactly one decision and one ``subject.suppressed`` outbox
  row, the others have none; each hard bounce has exactly one ``bounce.hard`` row.

Used by ``tests/test_crash.py`` (short) and ``python -m tests.bench crash`` (long).
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import FakeClock, make_config, verp_address
from tests.daemon_process import Process, free_port, write_config
from tests.lmtp_client import LMTPClient, Reply
from tests.messages import dsn
from tests.webhook_receiver import receiving

HOST = "127.0.0.1"
LIMIT = 3  # policy.limit: hard bounces of different messages that suppress a user
TENANT = "enwiki"  # verp_address's default tenant
BOUNCES_PER_USER = (1, 4, 2, 5, 3)  # in turn, user after user: the 4s, 5s and 3s cross LIMIT unless soft bounces keep them under
DOMAINS = ("example.com", "example.net", "example.org")
WEBHOOK_SECRET = "a-webhook-secret-for-the-crash-test"


class KillMoment(enum.StrEnum):
    RANDOM = "at a random moment"
    AFTER_250 = "right after a 250"


@dataclass
class Recipient:
    """One VERP recipient of a message, and what the client saw for it."""

    verp: str
    user: int
    acked: bool = False  # a 250 arrived for it
    failures: int = 0  # attempts that ended without a 250 (connection broken, 4xx)
    reply: str = ""  # the text of its 250
    killed_after: bool = False  # its 250 triggered a kill (KillMoment.AFTER_250)
    rejected: str = ""  # a 5xx reply: never retried, and a failure of the run

    @property
    def verp_local(self) -> str:
        return self.verp.rpartition("@")[0].casefold()


@dataclass
class Letter:
    """One bounce message, delivered (and redelivered) until each of its recipients has a 250 or a 5xx."""

    number: int
    failed: str  # the address the DSN says failed
    hard: bool
    recipients: list[Recipient]
    body: bytes

    def pending(self) -> list[Recipient]:
        return [r for r in self.recipients if not r.acked and not r.rejected]


@dataclass
class Kill:
    """One SIGKILL, and the load it landed in."""

    moment: KillMoment
    awaiting: int  # other transactions waiting for their DATA replies when it landed
    broken: int = 0  # connections (and connection attempts) it broke, as the sessions found out


@dataclass
class Findings:
    """What the database holds against the ledger; ``problems`` empty means the claim held."""

    lost: int = 0  # bounces, decisions or outbox rows the client's 250s promised and the database lacks
    duplicates: int = 0  # rows beyond the one each bounce, decision or event should have
    problems: list[str] = field(default_factory=list)
    bounces: int = 0
    decisions: int = 0
    outbox: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


@dataclass
class Result:
    letters: list[Letter]
    kills: list[Kill]
    findings: Findings
    seconds: float
    seed: int
    sessions: int
    tempfails: int  # 4xx replies the sessions got (each retried)

    @property
    def recipients(self) -> list[Recipient]:
        return [r for letter in self.letters for r in letter.recipients]

    def summary(self, label: str, command: str) -> list[str]:
        """The run as a block of lines to paste into BENCHMARKS.md."""
        rcpts = self.recipients
        acked = [r for r in rcpts if r.acked]
        retried = [r for r in rcpts if r.failures]
        again = [r for r in retried if "already" in r.reply]
        f = self.findings
        moments = Counter(k.moment for k in self.kills)
        return [
            f"crash ({label}): {command}",
            f"  kills          {len(self.kills)} x SIGKILL under {self.sessions} sessions "
            f"({moments[KillMoment.RANDOM]} {KillMoment.RANDOM}, {moments[KillMoment.AFTER_250]} {KillMoment.AFTER_250}); "
            f"{sum(k.awaiting for k in self.kills)} transactions awaiting DATA replies, {sum(k.broken for k in self.kills)} connections broken",
            f"  messages       {len(self.letters)} DSNs to {len(rcpts)} VERP recipients "
            f"({sum(len(x.recipients) > 1 for x in self.letters)} with 2-3), {sum(not x.hard for x in self.letters)} soft",
            f"  acknowledged   {len(acked)} recipients with 250 ({len(acked) - len(retried)} at the first attempt)",
            f"  retried        {len(retried)} unacknowledged, retried until 250 ({len(again)} answered 'already recorded': "
            f"committed before the kill, never acknowledged); {self.tempfails} 4xx replies",
            f"  database       {f.bounces} bounces, {f.decisions} suppress decisions, {f.outbox} outbox rows",
            f"  lost           {f.lost}",
            f"  duplicates     {f.duplicates}",
            f"  wall time      {self.seconds:.1f} s (seed {self.seed})",
        ]


def plan(messages: int, rng: random.Random, tmp_path: Path, first_user: int = 1000) -> list[Letter]:
    """``messages`` unique DSNs: realistic Postfix reports, 1-3 VERP recipients each, users with 1-5 bounces."""
    config = make_config(tmp_path)  # the VERP secret the daemon's configuration has too
    clock = FakeClock(datetime.now(UTC))
    run = f"{rng.getrandbits(32):08x}"
    verps: list[tuple[int, str]] = []
    user = first_user
    while len(verps) < 3 * messages:
        verps += [(user, verp_address(config, clock, user=user, sent_ago=60 + k)) for k in range(BOUNCES_PER_USER[user % 5])]
        user += 1
    letters, taken = [], 0
    for n in range(messages):
        count = rng.choices((1, 2, 3), weights=(6, 2, 1))[0]
        recipients = [Recipient(verp, user) for user, verp in verps[taken:taken + count]]
        taken += count
        failed = f"reader.{run}.{n}@{DOMAINS[n % len(DOMAINS)]}"
        hard = n % 5 != 4
        if hard:
            status, action, diagnostic = "5.1.1", "failed", f"550 5.1.1 <{failed}>: Recipient address rejected: User unknown in virtual mailbox table"
        else:
            status, action, diagnostic = "4.2.2", "delayed", f"452 4.2.2 <{failed}>: Mailbox full"
        body = dsn(recipients[0].verp, failed=failed, status=status, action=action, diagnostic=diagnostic,
                   message_id=f"<{run}.{n}@mx.{DOMAINS[n % len(DOMAINS)]}>")
        letters.append(Letter(n, failed, hard, recipients, body))
    return letters


class _Driver:
    """The sessions, the killer, and the state they share (one event loop: no locks needed)."""

    def __init__(self, config_path: Path, port: int, letters: list[Letter], sessions: int, kills: int, rng: random.Random) -> None:
        self.config_path = config_path
        self.port = port
        self.letters = letters
        self.sessions = sessions
        self.kills_wanted = kills
        self.rng = rng
        self.queue: asyncio.Queue[Letter | None] = asyncio.Queue()
        for letter in letters:
            self.queue.put_nowait(letter)
        self.outstanding = len(letters)
        self.total = sum(len(x.recipients) for x in letters)
        self.process: Process | None = None
        self.up = asyncio.Event()  # the daemon is running: sessions may (re)connect
        self.changed = asyncio.Event()  # a session acknowledged something or changed phase
        self.finished = False
        self.phase: dict[int, str] = {}  # session -> "envelope" (MAIL..DATA) or "data" (message sent, awaiting replies)
        self.kills: list[Kill] = []
        self.armed = False  # the next 250 (while another session awaits replies) kills the daemon
        self.acked = 0
        self.acked_since_start = 0
        self.tempfails = 0
        self.unexpected: list[str] = []

    async def drive(self) -> None:
        """Run the sessions and the killer until every recipient is acknowledged (or rejected); the daemon is left running."""
        self.process = await Process.start(self.config_path)
        self.up.set()
        work = asyncio.ensure_future(asyncio.gather(*(self._session(i) for i in range(self.sessions))))
        work.add_done_callback(lambda _: self._finish())
        killer = asyncio.create_task(self._killer())
        try:
            await asyncio.wait({work, killer}, return_when=asyncio.FIRST_EXCEPTION)
            for task in (killer, work):  # a failed restart must not leave the sessions waiting for it
                if task.done():
                    task.result()
            await work
            await killer
        finally:
            for task in (work, killer):
                task.cancel()
            await asyncio.gather(work, killer, return_exceptions=True)

    def _finish(self) -> None:
        self.finished = True
        self.changed.set()

    async def stop(self) -> int:
        """SIGTERM the running daemon; its exit status (0 if none was started)."""
        if self.process is None or self.process.proc.returncode is not None:
            return 0 if self.process is None else self.process.proc.returncode
        self.process.proc.terminate()
        return await self.process.finish()

    # --- the killer ---------------------------------------------------------------------------

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self.changed.clear()
            await self.changed.wait()

    def _awaiting(self, besides: int | None = None) -> int:
        return sum(1 for s, p in self.phase.items() if p == "data" and s != besides)

    async def _killer(self) -> None:
        for number in range(self.kills_wanted):
            # spread over the run, at a random point of the kill's own stretch of it
            threshold = self.total * (number + self.rng.uniform(0.2, 0.9)) / (self.kills_wanted + 1)
            moment = KillMoment.RANDOM if number % 2 == 0 else KillMoment.AFTER_250
            await self._until(lambda: self.finished or (self.acked >= threshold and self.acked_since_start > 0 and self._awaiting() > 0))
            if self.finished:
                return
            if moment is KillMoment.RANDOM:
                await asyncio.sleep(self.rng.uniform(0, 0.05))  # not a synchronisation: the moment itself is what is random
                await self._until(lambda: self.finished or self._awaiting() > 0)
                if self.finished:
                    return
                self._kill(moment)
            else:
                self.armed = True
                await self._until(lambda: self.finished or not self.up.is_set())
                if self.finished and self.up.is_set():
                    return
            await self._restart()

    def _kill(self, moment: KillMoment, trigger: int | None = None) -> None:
        """SIGKILL now, synchronously: no session runs between the count of awaited replies and the signal."""
        assert self.process is not None
        self.armed = False
        self.up.clear()
        self.kills.append(Kill(moment, self._awaiting(besides=trigger)))
        self.process.proc.kill()

    async def _restart(self) -> None:
        assert self.process is not None
        status = await self.process.finish()
        if status != -signal.SIGKILL:
            self.unexpected.append(f"killed daemon exited with {status}, not -SIGKILL")
        self.process = await Process.start(self.config_path)
        self.acked_since_start = 0
        self.up.set()

    # --- the sessions (an MTA's LMTP client, retrying what was not acknowledged) ---------------

    def _acknowledged(self, session: int, recipient: Recipient, reply: Reply) -> None:
        recipient.acked = True
        recipient.reply = reply.text
        self.acked += 1
        self.acked_since_start += 1
        self.changed.set()
        if self.armed and self._awaiting(besides=session) > 0:
            recipient.killed_after = True
            self._kill(KillMoment.AFTER_250, trigger=session)

    def _broken(self, incarnation: int, error: BaseException) -> None:
        if incarnation < len(self.kills):
            self.kills[incarnation].broken += 1
        else:
            self.unexpected.append(f"connection failed with no kill: {type(error).__name__}: {error}")

    async def _session(self, index: int) -> None:
        client: LMTPClient | None = None
        incarnation = 0  # which daemon (counted in kills) the connection goes to
        while (letter := await self.queue.get()) is not None:
            pending = letter.pending()
            try:
                if client is None:
                    await self.up.wait()
                    incarnation = len(self.kills)
                    client = await LMTPClient.connect(HOST, self.port)
                await self._transaction(index, client, letter, pending)
            except OSError as e:  # ConnectionError, a timeout: the daemon died under us
                self._broken(incarnation, e)
                if client is not None:
                    client.writer.close()
                client = None
                for r in pending:
                    if not r.acked and not r.rejected:
                        r.failures += 1
            finally:
                if self.phase.pop(index, None):
                    self.changed.set()
            if letter.pending():
                self.queue.put_nowait(letter)
                continue
            self.outstanding -= 1
            if self.outstanding == 0:
                for _ in range(self.sessions):
                    self.queue.put_nowait(None)
        if client is not None:
            await client.close()

    async def _transaction(self, index: int, client: LMTPClient, letter: Letter, pending: list[Recipient]) -> None:
        self.phase[index] = "envelope"
        if not self._ok(await client.mail(), pending):
            await client.command("RSET")
            return
        accepted = [r for r in pending if self._ok(await client.rcpt(r.verp), [r])]
        if not accepted:
            await client.command("RSET")
            return
        if not self._ok(await client.command("DATA"), accepted, expect=354):
            await client.command("RSET")
            return
        self.phase[index] = "data"
        self.changed.set()
        await client.send_message_body(letter.body)
        for r in accepted:
            reply = await client.read_reply()
            if self._ok(reply, [r]):
                self._acknowledged(index, r, reply)

    def _ok(self, reply: Reply, recipients: list[Recipient], expect: int = 250) -> bool:
        """Whether ``reply`` is ``expect``; a 4xx counts a failed attempt for ``recipients``, a 5xx rejects them."""
        if reply.code == expect:
            return True
        if 400 <= reply.code < 500:
            self.tempfails += 1
            for r in recipients:
                r.failures += 1
        else:
            for r in recipients:
                r.rejected = str(reply)
        return False


async def run(
    database_url: str, tmp_path: Path, *, sessions: int, messages: int, kills: int, seed: int | None = None, timeout: float = 600.0,
) -> Result:
    """Deliver ``messages`` over ``sessions`` while SIGKILLing the daemon ``kills`` times; then :func:`check` the database."""
    seed = seed if seed is not None else random.SystemRandom().getrandbits(32)
    rng = random.Random(seed)
    letters = plan(messages, rng, tmp_path)
    port = free_port()
    with receiving() as receiver:
        config_path = write_config(
            tmp_path, port,
            database={"url": database_url},
            policy={"limit": LIMIT, "act": True},
            webhook={"url": receiver.url, "secret": WEBHOOK_SECRET, "events": ["bounce.hard", "subject.suppressed"]},
            log={"level": "info"},
        )
        driver = _Driver(config_path, port, letters, sessions, kills, rng)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(driver.drive(), timeout)
        finally:
            status = await driver.stop()
        seconds = time.perf_counter() - started
    findings = await check(database_url, letters)
    if status != 0:
        findings.problem(f"the daemon's clean stop (SIGTERM) exited with {status}, not 0")
    for text in driver.unexpected:
        findings.problem(text)
    if len(driver.kills) != kills:
        findings.problem(f"{len(driver.kills)} kills landed, {kills} wanted: the load ended first (more messages?)")
    for number, kill in enumerate(driver.kills, 1):
        if kill.awaiting < 1 or kill.broken < 1:
            findings.problem(f"kill {number} ({kill.moment}) landed outside the load: {kill.awaiting} awaiting replies, {kill.broken} broken")
    return Result(letters, driver.kills, findings, seconds, seed, sessions, driver.tempfails)


async def check(database_url: str, letters: list[Letter]) -> Findings:
    """Compare the database with the ledger (see the module docstring); the daemon must be stopped."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            bounces = (await conn.execute(sa.text("SELECT tenant, user_id, verp_local, address, severity FROM bounces"))).all()
            decisions = (await conn.execute(sa.text("SELECT tenant, user_id, action FROM decisions"))).all()
            subjects = (await conn.execute(sa.text("SELECT tenant, user_id, state FROM subjects"))).all()
            outbox = (await conn.execute(sa.text("SELECT kind, payload FROM outbox"))).all()
    finally:
        await engine.dispose()
    f = Findings(bounces=len(bounces), decisions=len(decisions), outbox=len(outbox))
    sent = {(r.verp_local, x.failed.casefold()): (x, r) for x in letters for r in x.recipients}
    for x in letters:
        for r in x.recipients:
            if r.rejected:
                f.problem(f"{r.verp} (message {x.number}) was rejected: {r.rejected}")
            elif not r.acked:
                f.problem(f"{r.verp} (message {x.number}) never got a 250")

    stored = Counter((row.verp_local.casefold(), row.address.casefold()) for row in bounces)
    severity = {(row.verp_local.casefold(), row.address.casefold()): row.severity for row in bounces}
    for key, (letter, r) in sent.items():
        n = stored.get(key, 0)
        if n == 0 and r.acked:
            f.lost += 1
            f.problem(f"lost: {r.verp} / {letter.failed} got a 250 ({'after ' + str(r.failures) + ' failed attempts' if r.failures else 'at once'}"
                      f"{', then a SIGKILL' if r.killed_after else ''}) and is not in bounces")
        elif n > 1:
            f.duplicates += n - 1
            f.problem(f"duplicate: {r.verp} / {letter.failed} is in bounces {n} times")
        elif n == 1 and severity[key] != ("hard" if letter.hard else "soft"):
            f.problem(f"{r.verp} / {letter.failed} stored as {severity[key]}: the plan's DSNs no longer classify as the check assumes")
    for key, n in stored.items():
        if key not in sent:
            f.duplicates += n
            f.problem(f"stray: bounces holds {key}, which the client never sent")

    hard: Counter[tuple[str, int]] = Counter((TENANT, r.user) for x in letters if x.hard for r in x.recipients)
    suppressed = {subject for subject, n in hard.items() if n >= LIMIT}
    users = {(TENANT, r.user) for x in letters for r in x.recipients}
    made = Counter((row.tenant, row.user_id) for row in decisions if row.action == "suppress")
    for row in decisions:
        if row.action != "suppress":
            f.problem(f"unexpected {row.action} decision for {row.tenant}/{row.user_id}")
    _tally(f, "suppress decision", {s: 1 for s in suppressed}, made)
    states = {(row.tenant, row.user_id): row.state for row in subjects}
    for subject in users:
        want = "suppressed" if subject in suppressed else "active"
        if states.get(subject) != want:
            f.problem(f"subject {subject[0]}/{subject[1]} is {states.get(subject)}, expected {want} ({hard[subject]} hard bounces, limit {LIMIT})")

    events: Counter[tuple] = Counter()
    for row in outbox:
        body = json.loads(row.payload)
        if row.kind != "webhook":
            f.problem(f"unexpected outbox row of kind {row.kind}")
        elif body["event"] == "bounce.hard":
            events[("bounce.hard", body["evidence"][0]["verp"].casefold(), body["addresses"][0].casefold())] += 1
        elif body["event"] == "subject.suppressed":
            events[("subject.suppressed", body["tenant"], body["user"])] += 1
        else:
            f.problem(f"unexpected outbox event {body['event']}")
    wanted = {("bounce.hard", *key): 1 for key, (letter, _) in sent.items() if letter.hard}
    wanted.update({("subject.suppressed", *s): 1 for s in suppressed})
    _tally(f, "outbox event", wanted, events)
    return f


def _tally(f: Findings, what: str, wanted: dict, found: Counter) -> None:
    """Rows ``found`` per key against the count ``wanted``: the shortfall is lost, the excess duplicated."""
    for key in wanted.keys() | found.keys():
        want, have = wanted.get(key, 0), found.get(key, 0)
        if have < want:
            f.lost += want - have
            f.problem(f"lost {what}: {key} ({have} of {want})")
        elif have > want:
            f.duplicates += have - want
            f.problem(f"duplicate {what}: {key} ({have}, expected {want})")

"""A SQLite database already holding a million bounces, as a busy site's would after weeks of mail.

verpd's own code makes the schema (:func:`verpd.store.init_schema`, so the tables and indexes are
the real ones); the rows then go in through the stdlib ``sqlite3`` driver, streamed to
``executemany`` in one transaction, oldest first as they would have arrived. verpd's secondary
indexes are dropped first and made again afterwards from their own definitions (a sort each
instead of a million random inserts): they come out densely packed, where a live database's are
about two-thirds full. The shape, from one seeded generator:

* 200,000 subjects over seven tenants (enwiki the largest); each has at least one bounce, a
  skewed few many (the busiest some hundreds), ~5 on average;
* receipt times spread over the last 55 days: the policy period (7 days in the test
  configuration) and well beyond it, but inside ``policy.max_age`` (60 days), so the
  daemon's pruner finds nothing to delete while it is measured;
* each bounce its own VERP address (signed by the test secret) and each subject one address
  (one bounce in ten another), at a few large providers and a long tail of 30,000 domains;
* reasons, statuses, severities, diagnostics and evidence in the proportions a real intake
  sees (user unknown the most, mailbox full, host unknown, delays, blocks about us, ...);
* the subjects with three hard bounces within 7 days suppressed, with their decision, as the
  policy would have (about 9%); 20,000 complaints; the raw message kept for the newest 2%
  (``raw_messages`` is pruned after 7 days anyway).

The file is cached under the temporary directory, keyed by the schema's revision, this
generator's version and the row count, and rebuilt when older than :data:`MAX_AGE` (its
receipt times are relative to when it was built).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect

from tests.conftest import VERP_DOMAIN, make_config
from tests.messages import dsn
from verpd import migrations
from verpd.store import UTCDateTime, complaint_key, create_engine, dedup_key, init_schema
from verpd.verp import Verp

VERSION = 2  # bump when the generator changes: a cached file of another version is rebuilt
MAX_AGE = timedelta(days=3)  # a cached file older than this is rebuilt (its newest rows would have aged)
SPREAD = timedelta(days=55)
SUBJECTS = 200_000
COMPLAINTS = 20_000
RAW_SHARE = 0.02

TENANTS = (("enwiki", 45), ("dewiki", 15), ("frwiki", 12), ("commonswiki", 10), ("jawiki", 8), ("metawiki", 5), ("eswiki", 5))
PROVIDERS = (("gmail.com", 30), ("yahoo.com", 8), ("hotmail.com", 7), ("outlook.com", 5), ("gmx.de", 4), ("web.de", 3),
             ("aol.com", 2), ("icloud.com", 2), ("orange.fr", 2), ("yandex.ru", 2), ("mail.ru", 2), ("t-online.de", 1))
LONG_TAIL = 30_000  # other domains, sharing the remaining third of the addresses
REPORTERS = ("mx.example.org", "mx1.bounce.example.net", "mailer-daemon.googlemail.com", "mta7.am0.yahoodns.net", "mx.gmx.net")
DETECTORS = (("dsn", 70), ("exim", 10), ("qmail", 5), ("google", 8), ("fallback", 7))
DKIM = (("pass", 60), ("none", 30), ("fail", 10))


@dataclass(frozen=True)
class Kind:
    """One kind of failure: its verdict and how a bounce says it."""

    reason: str
    severity: str
    status: str
    code: int
    action: str
    diagnostic: str  # {a}: the failed address
    rule: str
    ref: str
    weight: int


KINDS = (
    Kind("userunknown", "hard", "5.1.1", 550, "failed", "550 5.1.1 <{a}>: Recipient address rejected: User unknown", "status", "5.1.1", 40),
    Kind("mailboxfull", "soft", "4.2.2", 452, "delayed", "452 4.2.2 The email account that you tried to reach is over quota", "status", "4.2.2", 12),
    Kind("mailboxfull", "soft", "5.2.2", 552, "failed", "552 5.2.2 <{a}>: mailbox full", "status", "5.2.2", 3),
    Kind("hostunknown", "hard", "5.1.2", 550, "failed", "Host or domain name not found. Name service error for {d}", "status", "5.1.2", 7),
    Kind("expired", "soft", "4.4.7", 0, "failed", "delivery temporarily suspended: connect to {d}: Connection timed out", "default", "action", 8),
    Kind("suspend", "hard", "5.2.1", 550, "failed", "550 5.2.1 The email account that you tried to reach is disabled", "provider", "google#3", 4),
    Kind("blocked", "soft", "5.7.1", 554, "failed", "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org", "phrase", "blocked#1", 5),
    Kind("spamdetected", "soft", "5.7.1", 550, "failed", "550 5.7.1 Message rejected as spam by Content Filtering", "phrase", "spamdetected#4", 4),
    Kind("policyviolation", "soft", "5.7.1", 550, "failed", "550 5.7.1 Message rejected due to local policy", "phrase", "policyviolation#2", 3),
    Kind("networkerror", "soft", "4.4.1", 0, "delayed", "connect to {d}[203.0.113.9]:25: No route to host", "default", "4.4.1", 4),
    Kind("systemerror", "soft", "4.3.0", 451, "delayed", "451 4.3.0 Temporary server error. Please try again later", "default", "4.3.0", 3),
    Kind("authfailure", "soft", "5.7.26", 550, "failed", "550 5.7.26 This mail is unauthenticated", "status", "5.7.26", 2),
    Kind("rejected", "soft", "5.7.1", 553, "failed", "553 5.7.1 <wiki@example.org>: Sender address rejected: not logged in", "stage", "MAIL", 1),
    Kind("filtered", "hard", "5.2.0", 550, "failed", "550 5.2.0 <{a}>: recipient refuses mail from this sender", "phrase", "filtered#2", 2),
    Kind("mesgtoobig", "soft", "5.3.4", 552, "failed", "552 5.3.4 Message size exceeds fixed limit", "status", "5.3.4", 1),
    Kind("onhold", "soft", "5.0.0", 550, "failed", "550 Requested action not taken", "default", "5.0.0", 1),
)


def _picker(rng: random.Random, table: tuple[tuple[object, int], ...]) -> Iterator[object]:
    values, weights = zip(*table)
    while True:
        yield from rng.choices(values, weights, k=4096)


def _stamp(moment: datetime) -> str:
    """The text SQLAlchemy stores for an aware UTC datetime on SQLite (checked against it in :func:`build`)."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _third_within(hard: list[datetime], period: timedelta) -> datetime | None:
    """When three of these (ascending) hard bounces first fell within ``period``: the policy's suppression, if any."""
    return next((hard[i + 2] for i in range(len(hard) - 2) if hard[i + 2] - hard[i] <= period), None)


def cached(rows: int, directory: Path | None = None) -> Path:
    """The pre-filled database of ``rows`` bounces: the cached file if it is fresh, else a new one."""
    directory = directory or Path(tempfile.gettempdir()) / "verpd-bench-stored"
    directory.mkdir(exist_ok=True)
    path = directory / f"bounces-{rows}-v{VERSION}-{migrations.head()}.sqlite3"
    if path.exists() and datetime.now(UTC) - datetime.fromtimestamp(path.stat().st_mtime, UTC) < MAX_AGE:
        return path
    for stale in directory.glob(f"bounces-{rows}-*"):  # an older version or schema, or aged
        stale.unlink()
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    started = time.perf_counter()
    build(building, rows)
    building.rename(path)
    print(f"ingest-stored: pre-filled {rows:,} bounces into {path} in {time.perf_counter() - started:.1f} s "
          f"({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def build(path: Path, rows: int, *, seed: int = 10) -> None:
    """Create verpd's schema at ``path`` and fill it (see the module docstring)."""
    asyncio.run(_schema(path))
    processor = UTCDateTime().dialect_impl(sqlite_dialect.dialect()).bind_processor(sqlite_dialect.dialect())
    probe = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert processor is not None and processor(probe) == _stamp(probe), "the stored datetime format changed: fix _stamp"
    now = datetime.now(UTC)
    rng = random.Random(seed)
    verp = Verp(make_config(path.parent).verp)  # the test secret, as the benchmark's own bounces

    tenants = _picker(rng, TENANTS)
    subjects = [(next(tenants), user) for user in rng.sample(range(1, 60_000_000), SUBJECTS)]
    names = zip(itertools.cycle(("mail", "post", "web", "net", "uni", "box")), itertools.cycle(("com", "net", "org", "de", "fr", "jp", "it")))
    tail = [f"{word}{n}.{tld}" for n, (word, tld) in enumerate(itertools.islice(names, LONG_TAIL))]
    providers = _picker(rng, PROVIDERS)
    addresses = []
    for _tenant, user in subjects:
        domain = next(providers) if rng.random() < 0.67 else tail[min(int(LONG_TAIL * rng.random() ** 2), LONG_TAIL - 1)]
        addresses.append(f"{rng.choice(('anna', 'ben', 'chen', 'dmitri', 'eva', 'farid', 'gita', 'hiro'))}.{user}@{domain}")

    # Who bounced: every subject once, the rest skewed so that a few subjects have hundreds; oldest first, as they arrived.
    owners = (list(range(SUBJECTS)) + [int(SUBJECTS * rng.random() ** 1.5) for _ in range(max(0, rows - SUBJECTS))])[:rows]
    rng.shuffle(owners)
    spread = SPREAD.total_seconds()
    ages = sorted((rng.random() * spread for _ in range(rows)), reverse=True)
    kinds = _picker(rng, tuple((k, k.weight) for k in KINDS))
    detectors = _picker(rng, DETECTORS)
    dkims = _picker(rng, DKIM)
    hard_seen: dict[int, list[datetime]] = {}
    first_last: dict[int, list[datetime]] = {}
    raw_from = int(rows * (1 - RAW_SHARE))
    raw_rows: list[tuple[str, str, bytes]] = []
    sent_times: set[tuple[int, int]] = set()  # one VERP address per mail: a subject's two mails are never sent in the same second

    def bounce_rows() -> Iterator[tuple[object, ...]]:  # streamed into executemany: the million rows never sit in memory at once
        for n, (owner, age) in enumerate(zip(owners, ages)):
            tenant, user = subjects[owner]
            received = now - timedelta(seconds=age)
            sent = int((received - timedelta(seconds=60 + rng.random() * rng.random() * 172_800)).timestamp())
            while (owner, sent) in sent_times:
                sent -= 1
            sent_times.add((owner, sent))
            local = verp.encode(tenant, user, sent).partition("@")[0]
            address = addresses[owner] if rng.random() < 0.9 else f"old.{user}@{tail[owner % LONG_TAIL]}"
            domain = address.rpartition("@")[2]
            kind = next(kinds)
            reporter = REPORTERS[owner % len(REPORTERS)]
            detector = next(detectors)
            stamp = _stamp(received)
            diagnostic = kind.diagnostic.format(a=address, d=domain)
            message_id = f"<{n:x}.{owner:x}@{reporter}>"
            raw_id = None
            if n >= raw_from:  # raw_messages ids follow this order (they are inserted after the bounces)
                message = dsn(f"{local}@{VERP_DOMAIN}", failed=address, status=kind.status, diagnostic=diagnostic, message_id=message_id)
                raw_rows.append((stamp, hashlib.sha256(message).hexdigest(), message))
                raw_id = len(raw_rows)
            first_last.setdefault(owner, [received, received])[1] = received
            if kind.severity == "hard":
                hard_seen.setdefault(owner, []).append(received)
            yield (
                tenant, user, local, _stamp(datetime.fromtimestamp(sent, UTC)), stamp, address, kind.action, kind.status, kind.code or None,
                kind.reason, kind.severity, diagnostic, f"mx.{domain}", reporter, detector, message_id,
                dedup_key("bounce", local, address.casefold()), None,
                json.dumps({"rule": kind.rule, "detector": detector, "ref": kind.ref, "source": f"{kind.ref}: {kind.reason}"}),
                1 if rng.random() < 0.95 else rng.randint(2, 4), stamp, domain, next(dkims), raw_id,
            )

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")  # a build that fails is thrown away: no journal needed
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index inserts
        db.execute("BEGIN")
        # verpd's own secondary indexes, dropped and made again after the rows (a sort each, not a million
        # random inserts): the same definitions, from the schema verpd just created.
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
        for name, _sql in indexes:
            db.execute(f"DROP INDEX {name}")
        db.executemany(
            "INSERT INTO bounces (tenant, user_id, verp_local, sent_at, received_at, address, action, status, reply_code, reason, severity, "
            "diagnostic, remote_mta, reporting_mta, detector, message_id, dedup_key, final_address, evidence, seen_count, last_seen_at, "
            "domain, dkim, raw_id) VALUES (" + ", ".join("?" * 24) + ")", bounce_rows())
        db.executemany("INSERT INTO raw_messages (received_at, sha256, message) VALUES (?, ?, ?)", raw_rows)
        why = "3 hard bounces within 7d (limit 3)"
        suppressed = {owner: at for owner, hard in hard_seen.items() if (at := _third_within(hard, timedelta(days=7)))}
        db.executemany(
            "INSERT INTO subjects (tenant, user_id, state, first_bounce_at, last_bounce_at, state_changed_at, state_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subjects[owner] + (("suppressed", _stamp(first), _stamp(last), _stamp(suppressed[owner]), why)
                                if owner in suppressed else ("active", _stamp(first), _stamp(last), None, None))
             for owner, (first, last) in first_last.items()))
        db.executemany(
            "INSERT INTO decisions (tenant, user_id, decided_at, action, rule, why, score, addresses, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (subjects[owner] + (_stamp(at), "suppress", "limit", why, 3.0, json.dumps([addresses[owner]]), "[]")
             for at, owner in sorted((at, owner) for owner, at in suppressed.items())))
        complaints = sorted((rng.random() * spread, rng.randrange(SUBJECTS)) for _ in range(COMPLAINTS))
        db.executemany(
            "INSERT INTO complaints (tenant, user_id, verp_local, received_at, address, feedback_type, message_id, dedup_key, dkim) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (subjects[owner] + (f"wiki-c{n}", _stamp(now - timedelta(seconds=age)), addresses[owner], "abuse", f"<arf.{n}@fbl.example.net>",
                                complaint_key(f"wiki-c{n}", addresses[owner], "abuse"), "pass")
             for n, (age, owner) in enumerate(reversed(complaints))))
        for _name, sql in indexes:
            db.execute(sql)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=WAL")  # what verpd sets on every connection anyway
    finally:
        db.close()


async def _schema(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await init_schema(engine)
    finally:
        await engine.dispose()


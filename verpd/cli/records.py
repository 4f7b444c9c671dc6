"""Commands about what verpd stored: bounces, complaints, subjects, the outbox, stats, pruning, the schema."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from verpd.cli.common import (
    EX_FAILURE, EX_OK, EX_USAGE, Progress, jsonable, load, print_table, say, text, with_store,
)

if TYPE_CHECKING:
    from verpd.store import Store

_COLUMNS = {
    "bounces": ("id", "received_at", "tenant", "user_id", "address", "status", "reason", "severity", "detector", "evidence"),
    "complaints": ("id", "received_at", "tenant", "user_id", "address", "feedback_type", "dkim"),
    "subjects": ("tenant", "user_id", "state", "first_bounce_at", "last_bounce_at", "state_changed_at", "state_reason"),
    "outbox": ("id", "kind", "tenant", "state", "attempts", "created_at", "next_attempt_at", "last_error"),
}


def _since(text_value: str) -> timedelta:
    """``1d``, ``12h``, ``30m``, ``2w`` or seconds, as for durations in the configuration."""
    from verpd.config import parse_duration

    try:
        return timedelta(seconds=parse_duration(text_value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(commands: Any, after: argparse.ArgumentParser) -> None:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
    shared = [after, database]

    sub = commands.add_parser("bounces", parents=[after], help="recorded bounces").add_subparsers(metavar="ACTION")
    p = sub.add_parser("list", parents=shared, help="recorded bounces, newest first")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=None, help="at most N rows")
    p.add_argument("--since", type=_since, metavar="AGE", help="only those received within AGE (1d, 12h, ...)")
    p.add_argument("--address", help="only those of this failed address (case-insensitive)")
    p.add_argument("--tenant", help="only those of this tenant")
    p.add_argument("--user", type=int, help="only those of this user id")
    p.set_defaults(handler=list_rows, table="bounces")
    p = sub.add_parser("show", parents=shared, help="one bounce, with its verdict's evidence (and the raw message while it is kept)")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--raw", action="store_true", help="print only the raw message as received (policy.raw_retention)")
    p.set_defaults(handler=bounce_show)

    sub = commands.add_parser("complaints", parents=[after], help="recorded complaints (ARF)").add_subparsers(metavar="ACTION")
    p = sub.add_parser("list", parents=shared, help="recorded complaints, newest first")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=None, help="at most N rows")
    p.set_defaults(handler=list_rows, table="complaints")

    sub = commands.add_parser("subjects", parents=[after], help="per tenant+user state").add_subparsers(metavar="ACTION")
    p = sub.add_parser("list", parents=shared, help="every tenant+user with a record")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--state", choices=("active", "suppressed"), help="only subjects in this state")
    p.set_defaults(handler=list_rows, table="subjects")
    p = sub.add_parser("show", parents=shared, help="a subject's state, the decisions about it and the bounces that counted, and why")
    p.add_argument("tenant")
    p.add_argument("user", type=int)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=subject_show)
    p = sub.add_parser("reset", parents=shared, help="the user re-confirmed: make the subject active, earlier bounces stop counting")
    p.add_argument("tenant")
    p.add_argument("user", type=int)
    p.add_argument("--by", default=os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli",
                   help="who resets (stored with the decision and sent with subject.reset)")
    p.set_defaults(handler=subject_reset)

    sub = commands.add_parser("outbox", parents=[after], help="side effects waiting to be carried out (webhooks, commands, MediaWiki, forwards)"
                              ).add_subparsers(metavar="ACTION")
    p = sub.add_parser("list", parents=shared, help="pending and dead-lettered items (--all: also those carried out)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--all", action="store_true", help="include the items already carried out")
    p.set_defaults(handler=outbox_list)
    p = sub.add_parser("retry", parents=shared, help="give dead-lettered items a fresh set of attempts, now")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--dead", action="store_true", help="every dead-lettered item")
    p.set_defaults(handler=outbox_retry)

    p = commands.add_parser("stats", parents=shared, help="counts of bounces, hard ones, suppressions and complaints, grouped")
    p.add_argument("--since", type=_since, default=timedelta(days=1), metavar="AGE", help="look back AGE (default 1d; 7d, 12h, ...)")
    p.add_argument("--by", choices=("reason", "day", "domain", "tenant"), default="reason", help="group by (default: reason)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=stats)

    p = commands.add_parser("prune", parents=shared, help="delete what policy.max_age and policy.raw_retention say is old, now")
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    p.set_defaults(handler=prune)

    db = commands.add_parser("db", parents=[after], help="the database schema").add_subparsers(metavar="ACTION")
    p = db.add_parser("upgrade", parents=shared, help="bring the schema up to date (serve does it at start too)")
    p.set_defaults(handler=db_upgrade)
    p = db.add_parser("copy", parents=[after], help="copy every record from one database to another (e.g. SQLite into PostgreSQL); "
                      "run it again to resume, nothing is copied twice")
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="the database to copy from")
    p.add_argument("--to", dest="target", required=True, metavar="URL", help="the database to copy into (its schema is created)")
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="rows per transaction (default 1000)")
    p.set_defaults(handler=db_copy)


def _print_rows(table: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(jsonable(row), ensure_ascii=False))
    else:
        print_table(_COLUMNS[table], rows, f"no {table}")


def list_rows(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)

    async def fetch(store: Store) -> list[dict[str, Any]]:
        if args.table == "bounces":
            since = now - args.since if args.since is not None else None
            return await store.list_bounces(args.limit, since=since, address=args.address, tenant=args.tenant, user=args.user)
        if args.table == "complaints":
            return await store.list_complaints(args.limit)
        return await store.list_subjects(state=args.state)

    _print_rows(args.table, with_store(config, fetch), args.json)
    return EX_OK


def bounce_show(args: argparse.Namespace) -> int:
    config = load(args)
    row = with_store(config, lambda store: store.bounce(args.id))
    if row is None:
        say(f"no bounce with id {args.id} (see: verpd bounces list)")
        return EX_FAILURE
    raw = row.pop("raw", None)
    if args.raw:
        if raw is None:
            say(f"the raw message of bounce {args.id} is no longer kept (policy.raw_retention)")
            return EX_FAILURE
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return EX_OK
    row["raw_kept"] = raw is not None
    if args.json:
        print(json.dumps(jsonable(row), ensure_ascii=False))
    else:
        for key, value in row.items():
            if key != "dedup_key":
                print(f"{key:14} {text(value) if key != 'evidence' or not value else json.dumps(value, ensure_ascii=False)}")
    return EX_OK


def subject_show(args: argparse.Namespace) -> int:
    config = load(args)
    found = with_store(config, lambda store: store.explain(args.tenant, args.user))
    if found is None:
        say(f"no record of user {args.user} of tenant {args.tenant!r} (no bounce or complaint was ever recorded)")
        return EX_FAILURE
    if args.json:
        print(json.dumps(jsonable(found), ensure_ascii=False))
        return EX_OK
    subject = found["subject"]
    rules = config.tenant(args.tenant).policy
    print(f"{args.tenant} user {args.user}: {subject['state']}"
          + (f" since {text(subject['state_changed_at'])} ({subject['state_reason']})" if subject.get("state_changed_at") else ""))
    print(f"  policy: limit {rules.limit} within {rules.period} s, act={str(rules.act).lower()}, soft_weight {rules.soft_weight:g}"
          + (f"; bounces before {text(subject['reset_at'])} no longer count (reset)" if subject.get("reset_at") else ""))
    if subject.get("flagged_at"):
        print(f"  would have been suppressed at {text(subject['flagged_at'])} (policy.act = false)")
    print(f"  decisions ({len(found['decisions'])}):" if found["decisions"] else "  decisions: none")
    for d in found["decisions"]:
        print(f"    {text(d['decided_at'])}  {d['action']}  rule {d['rule']}: {d['why']}")
        if d["addresses"]:
            print(f"      failed addresses: {', '.join(d['addresses'])}")
        for b in d["counted"]:
            print(f"      counted: {b['received_at'][:19].replace('T', ' ')}  {b['address']}  {b['status'] or '-'}  {b['reason']} {b['severity']}"
                  f"  [{b['evidence'] or 'no evidence'}]  {b['verp']}")
    print(f"  recent bounces ({len(found['bounces'])}):" if found["bounces"] else "  bounces: none")
    for b in found["bounces"]:
        seen = f" x{b['seen_count']}" if (b.get("seen_count") or 1) > 1 else ""
        print(f"    #{b['id']} {text(b['received_at'])}  {b['address']}  {b['status'] or '-'}  {b['reason']} {b['severity']}  [{text(b.get('evidence'))}]{seen}")
    for c in found["complaints"]:
        print(f"    complaint {text(c['received_at'])}  {c['address']}  {c['feedback_type']}  dkim {c.get('dkim') or '-'}")
    return EX_OK


def subject_reset(args: argparse.Namespace) -> int:
    from verpd.pipeline import Pipeline

    config = load(args)

    async def reset(store: Store) -> Any:
        return await Pipeline(config, store).reset(args.tenant, args.user, datetime.now(UTC), by=args.by)

    if with_store(config, reset) is None:
        say(f"no record of user {args.user} of tenant {args.tenant!r}; nothing to reset")
        return EX_FAILURE
    print(f"{args.tenant} user {args.user}: active; earlier bounces no longer count (subject.reset queued for the configured actions)")
    return EX_OK


def outbox_list(args: argparse.Namespace) -> int:
    config = load(args)
    rows = with_store(config, lambda store: store.list_outbox(pending_only=not args.all))
    for row in rows:
        row["state"] = "done" if row.get("done_at") else "dead" if row.get("dead_at") else "pending"
        row.pop("message", None)
        row["payload"] = json.loads(row["payload"])
    if args.json:
        for row in rows:
            print(json.dumps(jsonable(row), ensure_ascii=False))
    else:
        print_table(_COLUMNS["outbox"], rows, "no outbox items" if args.all else "nothing pending")
    return EX_OK


def outbox_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.dead:
        say("name the items to retry (verpd outbox list shows their ids) or give --dead for all dead-lettered ones")
        return EX_USAGE
    config = load(args)
    count = with_store(config, lambda store: store.retry_outbox(datetime.now(UTC), None if args.dead else list(args.ids)))
    print(f"{count} item(s) due again; a running daemon attempts them within a minute")
    return EX_OK if count or args.dead else EX_FAILURE


def stats(args: argparse.Namespace) -> int:
    config = load(args)
    since = datetime.now(UTC) - args.since
    rows = with_store(config, lambda store: store.stats(since, args.by))
    if args.json:
        for row in rows:
            print(json.dumps(jsonable(row), ensure_ascii=False))
        return EX_OK
    columns = (args.by, "bounces", "hard") + (("suppressed", "complaints") if args.by in ("day", "tenant") else ())
    print(f"since {since.strftime('%Y-%m-%d %H:%M:%S')} UTC, by {args.by}")
    print_table(columns, rows, "nothing recorded in that time")
    return EX_OK


def prune(args: argparse.Namespace) -> int:
    from verpd.prune import prune as prune_now
    from verpd.store import Store

    config = load(args)
    now = datetime.now(UTC)
    if args.dry_run:
        counts = with_store(config, lambda store: store.prunable(config.policy.max_age, config.policy.raw_retention, now))
        print("would delete: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
        return EX_OK
    progress = Progress("deleted")

    async def run(store: Store) -> int:
        return await prune_now(store, config.policy, now, progress.step)

    total = with_store(config, run)
    progress.finish()
    print(f"deleted {total} rows (bounces, complaints and finished outbox items older than policy.max_age, "
          f"raw messages older than policy.raw_retention)")
    return EX_OK


def db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    config = load(args)

    async def nothing(store: Store) -> None:
        return None

    with_store(config, nothing)  # init_schema: creates missing tables, adds missing columns and indexes
    url = make_url(config.database.url).render_as_string(hide_password=True)
    print(f"{url}: schema up to date (tables created, columns and indexes added in place where missing; "
          "versioned migrations come with the PostgreSQL work)")
    return EX_OK



def db_copy(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from verpd.config import _parse_database_url  # one reading of a database URL, as in the configuration
    from verpd.errors import ConfigError, ConfigProblem
    from verpd.store import copy_database, create_engine

    problems: list[ConfigProblem] = []
    urls = [_parse_database_url(text, key, Path.cwd(), problems) for key, text in (("--from", args.source), ("--to", args.target))]
    if problems:
        raise ConfigError("command line", problems)
    source_url, target_url = urls
    assert source_url is not None and target_url is not None
    if make_url(source_url).get_backend_name() == "sqlite" and not Path(make_url(source_url).database or "").exists():
        say(f"--from: no such database file {make_url(source_url).database}")
        return EX_FAILURE
    counts: dict[str, int] = {}
    progress = Progress("copying")

    def step(table: str, n: int) -> None:
        counts[table] = counts.get(table, 0) + n
        progress.step(n)

    async def run() -> dict[str, int]:
        source, target = create_engine(source_url), create_engine(target_url)
        try:
            return await copy_database(source, target, batch=args.batch, progress=step)
        finally:
            await source.dispose()
            await target.dispose()

    copied = asyncio.run(run())
    progress.finish()
    shown = make_url(target_url).render_as_string(hide_password=True)
    print(f"copied into {shown}: " + ", ".join(f"{table} {copied[table]} of {counts.get(table, 0)}" for table in copied))
    return EX_OK

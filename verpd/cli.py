"""The ``verpd`` command line.

    verpd [--config FILE] check-config
    verpd [--config FILE] serve [--lmtp HOST:PORT] [--database URL]
    verpd [--config FILE] verp encode --tenant W --user N [--time UNIX]
    verpd [--config FILE] verp verify ADDRESS [--now UNIX]
    verpd [--config FILE] bounces list [--json] [--limit N]
    verpd [--config FILE] complaints list [--json] [--limit N]
    verpd [--config FILE] bounces show ID [--json] [--raw]
    verpd [--config FILE] subjects list [--json]
    verpd [--config FILE] subjects show TENANT USER [--json]
    verpd [--config FILE] subjects reset TENANT USER [--by WHO]
    verpd [--config FILE] outbox list [--json] [--all]
    verpd [--config FILE] outbox retry (ID ... | --dead)
    verpd [--config FILE] parse [--jsonl] [--max-recipients N] [FILE ...]

The configuration file defaults to ``$VERPD_CONFIG``, then ``/etc/verpd/verpd.toml``.
``parse`` needs none: it reads one (for ``parse.max_recipients``) only when named
by ``--config`` or ``$VERPD_CONFIG``.
Exit status: 0 success, 1 a failure (or an invalid address for ``verp verify``),
2 a usage or configuration error (systemd does not restart on 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from verpd import __version__
from verpd.errors import ConfigError, StoreError, VerpError

if TYPE_CHECKING:
    from verpd.config import Config
    from verpd.store import Store

T = TypeVar("T")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = "/etc/verpd/verpd.toml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except ConfigError as e:
        print(f"verpd: {e}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as e:
        print(f"verpd: database error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (``verpd parse ... | head``): stop quietly, as Unix tools do,
        # and keep the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verpd", description="Bounce-handling daemon for signed VERP return paths.")
    parser.add_argument("--version", action="version", version=f"verpd {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"configuration file (default: $VERPD_CONFIG or {DEFAULT_CONFIG})",
    )
    commands = parser.add_subparsers(metavar="COMMAND")

    p = commands.add_parser("check-config", help="validate the configuration and explain problems")
    p.set_defaults(handler=_check_config)

    p = commands.add_parser("serve", help="run the daemon")
    p.add_argument("--lmtp", metavar="HOST:PORT", help="LMTP listener (overrides server.lmtp)")
    p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
    p.set_defaults(handler=_serve)

    verp = commands.add_parser("verp", help="make or check VERP addresses").add_subparsers(metavar="ACTION")
    p = verp.add_parser("encode", help="print the VERP address for a user")
    p.add_argument("--tenant", required=True, help="site or wiki id")
    p.add_argument("--user", required=True, type=int, help="the application's numeric user id")
    p.add_argument("--time", type=int, help="send time as UNIX seconds (default: now)")
    p.set_defaults(handler=_verp_encode)
    p = verp.add_parser("verify", help="check an address; prints JSON, exits 0 if valid, 1 if not")
    p.add_argument("address")
    p.add_argument("--now", type=int, help="verify as of this UNIX time (default: now)")
    p.set_defaults(handler=_verp_verify)

    p = commands.add_parser("parse", help="parse bounce messages and print what they say (no configuration needed)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per message (the scorer's format)")
    p.add_argument(
        "--max-recipients",
        type=_positive_int,
        metavar="N",
        help="report at most N recipients per message (default: parse.max_recipients of a configuration "
        "named by --config or $VERPD_CONFIG, else 1000)",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="messages to parse (default: paths read from stdin, one per line)")
    p.set_defaults(handler=_parse)

    for name, helptext in (
        ("bounces", "recorded bounces, newest first"),
        ("complaints", "recorded complaints (ARF), newest first"),
        ("subjects", "per tenant+user state"),
    ):
        sub = commands.add_parser(name, help=helptext).add_subparsers(metavar="ACTION")
        p = sub.add_parser("list", help=f"list {helptext}")
        p.add_argument("--json", action="store_true", help="one JSON object per line")
        if name != "subjects":
            p.add_argument("--limit", type=int, default=None, help="at most N rows")
        p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
        p.set_defaults(handler=_list, table=name)
        if name == "bounces":
            p = sub.add_parser("show", help="one bounce, with its verdict's evidence (and the raw message while it is kept)")
            p.add_argument("id", type=int)
            p.add_argument("--json", action="store_true", help="one JSON object")
            p.add_argument("--raw", action="store_true", help="print only the raw message as received (policy.raw_retention)")
            p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
            p.set_defaults(handler=_bounce_show)
        if name == "subjects":
            p = sub.add_parser("show", help="a subject's state, the decisions about it and the bounces that counted, and why")
            p.add_argument("tenant")
            p.add_argument("user", type=int)
            p.add_argument("--json", action="store_true", help="one JSON object")
            p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
            p.set_defaults(handler=_subject_show)
            p = sub.add_parser("reset", help="the user re-confirmed: make the subject active, earlier bounces stop counting")
            p.add_argument("tenant")
            p.add_argument("user", type=int)
            p.add_argument("--by", default=os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli",
                           help="who resets (stored with the decision and sent with subject.reset)")
            p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
            p.set_defaults(handler=_subject_reset)

    sub = commands.add_parser("outbox", help="side effects waiting to be carried out (webhooks, commands, MediaWiki, forwards)").add_subparsers(metavar="ACTION")
    p = sub.add_parser("list", help="pending and dead-lettered items (--all: also those carried out)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--all", action="store_true", help="include the items already carried out")
    p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
    p.set_defaults(handler=_outbox_list)
    p = sub.add_parser("retry", help="give dead-lettered items a fresh set of attempts, now")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--dead", action="store_true", help="every dead-lettered item")
    p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
    p.set_defaults(handler=_outbox_retry)
    return parser


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _config_path(args: argparse.Namespace) -> str | None:
    """The configuration file named by --config or $VERPD_CONFIG, if any."""
    return args.config or os.environ.get("VERPD_CONFIG") or None


def _load(args: argparse.Namespace) -> Config:
    from verpd import config as config_module

    config = config_module.load(_config_path(args) or DEFAULT_CONFIG)
    return config.with_overrides(lmtp=getattr(args, "lmtp", None), database_url=getattr(args, "database", None))


def _verps(config: Config) -> Any:
    from verpd.verp import VerpSet

    return VerpSet(config.verp, {tenant: t.verp for tenant, t in config.tenants.items()})


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"{config.source}: OK")
    print(f"  lmtp {config.server.lmtp}, verp {config.verp.format.value} @{config.verp.domain}, "
          f"{len(config.verp.secrets)} secret(s), limit {config.policy.limit} per {config.policy.period} s, act={str(config.policy.act).lower()}")
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from verpd import daemon, log

    config = _load(args)
    log.configure(config.log)
    try:
        return asyncio.run(daemon.serve(config))
    except OSError as e:
        print(f"verpd: cannot start: {e.strerror or e} (is another process listening on {config.server.lmtp}?)", file=sys.stderr)
        return EXIT_FAILURE


def _verp_encode(args: argparse.Namespace) -> int:
    config = _load(args)
    try:
        print(_verps(config).encode(args.tenant, args.user, int(time.time()) if args.time is None else args.time))
    except ValueError as e:
        print(f"verpd: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _verp_verify(args: argparse.Namespace) -> int:
    config = _load(args)
    now = int(time.time()) if args.now is None else args.now
    result: dict[str, Any] = {"valid": False, "tenant": None, "user": None, "sent_at": None, "error": None}
    try:
        decoded = _verps(config).verify(args.address, now)
    except VerpError as e:
        result["error"] = str(e)
    else:
        result.update(valid=True, tenant=decoded.tenant, user=decoded.user, sent_at=decoded.sent_at.isoformat())
    print(json.dumps(result))
    return EXIT_OK if result["valid"] else EXIT_FAILURE


def _parse(args: argparse.Namespace) -> int:
    from verpd.classify import classify
    from verpd.parse import MAX_RECIPIENTS, parse

    max_recipients = args.max_recipients
    if max_recipients is None:
        max_recipients = _load(args).parse.max_recipients if _config_path(args) else MAX_RECIPIENTS
    paths = args.files or (line.rstrip("\n") for line in sys.stdin)
    for path in paths:
        if not path:
            continue
        result: dict[str, Any] = {"file": path}
        try:
            with open(path, "rb") as f:
                report = parse(f.read(), max_recipients=max_recipients)
        except OSError as e:
            result.update(detector=None, recipients=[], error=f"cannot read: {e.strerror or e}")
        else:
            result["detector"] = report.detector
            result["kind"] = report.kind.value
            result["recipients"] = []
            for facts in report.recipients:
                verdict = classify(facts, report.kind, report.detector)
                result["recipients"].append({
                    "address": facts.address,
                    "status": facts.status,
                    "replycode": facts.reply_code,
                    "reason": verdict.reason,
                    "hard": verdict.severity.value == "hard",
                    "action": facts.action,
                    "diagnostic": facts.diagnostic,
                    "remote_mta": facts.remote_mta,
                    "command": facts.command,
                    "original_recipient": facts.original_recipient,
                    "evidence": verdict.evidence.as_dict(),
                })
        if args.jsonl:
            print(json.dumps(result, ensure_ascii=False), flush=False)
        else:
            _print_parse(result)
    sys.stdout.flush()
    return EXIT_OK


def _print_parse(result: dict[str, Any]) -> None:
    print(f"{result['file']}: {result.get('kind') or 'error'} ({result.get('detector') or '-'})" + (f" {result['error']}" if result.get("error") else ""))
    for r in result.get("recipients", []):
        evidence = r["evidence"]
        why = f"[{evidence['rule']} {evidence['ref']}]".replace(" ]", "]")
        print(f"  {r['address']}  {r['status'] or '-'}  {r['reason']}{'  hard' if r['hard'] else ''}  {why}  {r['diagnostic'] or ''}"[:200])


def _with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` with a store on the configured database (schema brought up to date first)."""
    import asyncio

    from verpd.store import Store, create_engine, init_schema

    async def run() -> T:
        engine = create_engine(config.database.url, busy_timeout=config.database.busy_timeout)
        try:
            await init_schema(engine)
            return await work(Store(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _list(args: argparse.Namespace) -> int:
    config = _load(args)

    async def fetch(store: Store) -> list[dict[str, Any]]:
        if args.table == "bounces":
            return await store.list_bounces(args.limit)
        if args.table == "complaints":
            return await store.list_complaints(args.limit)
        return await store.list_subjects()

    rows = _with_store(config, fetch)
    if args.json:
        for row in rows:
            print(json.dumps({k: _jsonable(v) for k, v in row.items() if k != "dedup_key"}))
    else:
        _print_table(args.table, rows)
    return EXIT_OK


def _bounce_show(args: argparse.Namespace) -> int:
    config = _load(args)
    row = _with_store(config, lambda store: store.bounce(args.id))
    if row is None:
        print(f"verpd: no bounce with id {args.id} (see: verpd bounces list)", file=sys.stderr)
        return EXIT_FAILURE
    raw = row.pop("raw", None)
    if args.raw:
        if raw is None:
            print(f"verpd: the raw message of bounce {args.id} is no longer kept (policy.raw_retention)", file=sys.stderr)
            return EXIT_FAILURE
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return EXIT_OK
    row["raw_kept"] = raw is not None
    if args.json:
        print(json.dumps({k: _jsonable(v) for k, v in row.items() if k != "dedup_key"}, ensure_ascii=False))
    else:
        for key, value in row.items():
            if key != "dedup_key":
                print(f"{key:14} {_text(value) if key != 'evidence' or not value else json.dumps(value, ensure_ascii=False)}")
    return EXIT_OK


def _subject_show(args: argparse.Namespace) -> int:
    config = _load(args)
    found = _with_store(config, lambda store: store.explain(args.tenant, args.user))
    if found is None:
        print(f"verpd: no record of user {args.user} of tenant {args.tenant!r} (no bounce or complaint was ever recorded)", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(_jsonable_deep(found), ensure_ascii=False))
        return EXIT_OK
    subject = found["subject"]
    rules = config.tenant(args.tenant).policy
    print(f"{args.tenant} user {args.user}: {subject['state']}"
          + (f" since {_text(subject['state_changed_at'])} ({subject['state_reason']})" if subject.get("state_changed_at") else ""))
    print(f"  policy: limit {rules.limit} within {rules.period} s, act={str(rules.act).lower()}, soft_weight {rules.soft_weight:g}"
          + (f"; bounces before {_text(subject['reset_at'])} no longer count (reset)" if subject.get("reset_at") else ""))
    if subject.get("flagged_at"):
        print(f"  would have been suppressed at {_text(subject['flagged_at'])} (policy.act = false)")
    print(f"  decisions ({len(found['decisions'])}):" if found["decisions"] else "  decisions: none")
    for d in found["decisions"]:
        print(f"    {_text(d['decided_at'])}  {d['action']}  rule {d['rule']}: {d['why']}")
        if d["addresses"]:
            print(f"      failed addresses: {', '.join(d['addresses'])}")
        for b in d["counted"]:
            print(f"      counted: {b['received_at'][:19].replace('T', ' ')}  {b['address']}  {b['status'] or '-'}  {b['reason']} {b['severity']}"
                  f"  [{b['evidence'] or 'no evidence'}]  {b['verp']}")
    print(f"  recent bounces ({len(found['bounces'])}):" if found["bounces"] else "  bounces: none")
    for b in found["bounces"]:
        seen = f" x{b['seen_count']}" if (b.get("seen_count") or 1) > 1 else ""
        print(f"    #{b['id']} {_text(b['received_at'])}  {b['address']}  {b['status'] or '-'}  {b['reason']} {b['severity']}  [{_text(b.get('evidence'))}]{seen}")
    for c in found["complaints"]:
        print(f"    complaint {_text(c['received_at'])}  {c['address']}  {c['feedback_type']}  dkim {c.get('dkim') or '-'}")
    return EXIT_OK


def _subject_reset(args: argparse.Namespace) -> int:
    from verpd.pipeline import Pipeline

    config = _load(args)

    async def reset(store: Store) -> Any:
        return await Pipeline(config, store).reset(args.tenant, args.user, datetime.now(UTC), by=args.by)

    if _with_store(config, reset) is None:
        print(f"verpd: no record of user {args.user} of tenant {args.tenant!r}; nothing to reset", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{args.tenant} user {args.user}: active; earlier bounces no longer count (subject.reset queued for the configured actions)")
    return EXIT_OK


def _outbox_list(args: argparse.Namespace) -> int:
    config = _load(args)
    rows = _with_store(config, lambda store: store.list_outbox(pending_only=not args.all))
    for row in rows:
        row["state"] = "done" if row.get("done_at") else "dead" if row.get("dead_at") else "pending"
        row.pop("message", None)
    if args.json:
        for row in rows:
            print(json.dumps({k: _jsonable(v) for k, v in row.items() if k not in ("dedup_key", "payload")} | {"payload": json.loads(row["payload"])},
                             ensure_ascii=False))
    else:
        _print_table("outbox", rows)
    return EXIT_OK


def _outbox_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.dead:
        print("verpd: name the items to retry (verpd outbox list shows their ids) or give --dead for all dead-lettered ones", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args)
    count = _with_store(config, lambda store: store.retry_outbox(datetime.now(UTC), None if args.dead else list(args.ids)))
    print(f"{count} item(s) due again; a running daemon attempts them within a minute")
    return EXIT_OK if count or args.dead else EXIT_FAILURE


def _jsonable_deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable_deep(v) for k, v in value.items() if k != "dedup_key"}
    if isinstance(value, list):
        return [_jsonable_deep(v) for v in value]
    return _jsonable(value)


_COLUMNS = {
    "bounces": ("id", "received_at", "tenant", "user_id", "address", "status", "reason", "severity", "detector", "evidence"),
    "complaints": ("id", "received_at", "tenant", "user_id", "address", "feedback_type"),
    "subjects": ("tenant", "user_id", "state", "first_bounce_at", "last_bounce_at", "state_changed_at", "state_reason"),
    "outbox": ("id", "kind", "tenant", "state", "attempts", "created_at", "next_attempt_at", "last_error"),
}


def _print_table(table: str, rows: list[dict[str, Any]]) -> None:
    columns = _COLUMNS[table]
    cells = [[_text(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if not rows:
        print(f"(no {table})")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and "rule" in value:  # a verdict's evidence: the kind of rule and which one
        return f"{value['rule']} {value.get('ref') or ''}".strip()
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)

"""Commands about messages and addresses: ``verp``, ``parse``, ``ingest`` and ``log-key``."""

from __future__ import annotations

import argparse
import email.utils
import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verpd.cli.common import (
    EX_DATAERR, EX_FAILURE, EX_NOINPUT, EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_USAGE, Progress, config_path, load, positive_int, say, verps,
)
from verpd.errors import SchemaError, StoreError, VerpError

if TYPE_CHECKING:
    import mailbox

    from verpd.config import Config
    from verpd.model import VerpAddress
    from verpd.pipeline import Outcome


def register(commands: Any, after: argparse.ArgumentParser) -> None:
    verp = commands.add_parser("verp", parents=[after], help="make or check VERP addresses").add_subparsers(metavar="ACTION")
    p = verp.add_parser("encode", parents=[after], help="print the VERP address for a user")
    p.add_argument("--tenant", required=True, help="site or wiki id")
    p.add_argument("--user", required=True, type=int, help="the application's numeric user id")
    p.add_argument("--time", type=int, help="send time as UNIX seconds (default: now)")
    p.set_defaults(handler=verp_encode)
    p = verp.add_parser("verify", parents=[after], help="check an address; prints JSON, exits 0 if valid, 1 if not")
    p.add_argument("address")
    p.add_argument("--now", type=int, help="verify as of this UNIX time (default: now)")
    p.set_defaults(handler=verp_verify)

    p = commands.add_parser("parse", parents=[after], help="parse bounce messages and print what they say (no configuration needed)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per message (the scorer's format)")
    p.add_argument("--max-recipients", type=positive_int, metavar="N",
                   help="report at most N recipients per message (default: parse.max_recipients of a configuration "
                   "named by --config or $VERPD_CONFIG, else 1000)")
    p.add_argument("files", nargs="*", metavar="FILE", help="messages to parse (default: paths read from stdin, one per line)")
    p.set_defaults(handler=parse)

    p = commands.add_parser(
        "ingest", parents=[after],
        help="record one message from stdin (or a whole mailbox) through the same pipeline as LMTP",
        description="Record one message read from stdin, e.g. from a Postfix pipe(8) transport "
        "(argv=/usr/bin/verpd ingest ${recipient}) or an alias (|verpd ingest). Exit 0 once recorded, "
        "67 when no recipient is a VERP address of ours (the MTA bounces it), 75 on our faults (the MTA retries). "
        "--mbox/--maildir import an old bounce mailbox, each message checked as of when it arrived.",
    )
    p.add_argument("recipients", nargs="*", metavar="RECIPIENT",
                   help="the VERP recipient(s) (default: the message's Delivered-To, then X-Original-To)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--mbox", type=Path, metavar="FILE", help="import every message of an mbox file")
    source.add_argument("--maildir", type=Path, metavar="DIR", help="import every message of a Maildir")
    p.set_defaults(handler=ingest)

    p = commands.add_parser("log-key", parents=[after], help="print the form an address takes in the logs (log.addresses), to grep for")
    p.add_argument("address")
    p.set_defaults(handler=log_key)


def verp_encode(args: argparse.Namespace) -> int:
    config = load(args)
    try:
        print(verps(config).encode(args.tenant, args.user, int(time.time()) if args.time is None else args.time))
    except ValueError as e:
        say(str(e))
        return EX_USAGE
    return EX_OK


def verp_verify(args: argparse.Namespace) -> int:
    config = load(args)
    now = int(time.time()) if args.now is None else args.now
    result: dict[str, Any] = {"valid": False, "tenant": None, "user": None, "sent_at": None, "error": None}
    try:
        decoded = verps(config).verify(args.address, now)
    except VerpError as e:
        result["error"] = str(e)
    else:
        result.update(valid=True, tenant=decoded.tenant, user=decoded.user, sent_at=decoded.sent_at.isoformat())
    print(json.dumps(result))
    return EX_OK if result["valid"] else EX_FAILURE


# --- parse ---------------------------------------------------------------------------------


def parse(args: argparse.Namespace) -> int:
    from verpd.classify import classify
    from verpd.parse import MAX_RECIPIENTS, parse as parse_message

    max_recipients = args.max_recipients
    if max_recipients is None:
        max_recipients = load(args).parse.max_recipients if config_path(args) else MAX_RECIPIENTS
    if not args.files and sys.stdin.isatty():
        print("verpd parse: reading file paths from stdin, one per line (Ctrl-D ends; or name the files: verpd parse FILE ...)",
              file=sys.stderr)
    paths = args.files or (line.rstrip("\n") for line in sys.stdin)
    unreadable = 0
    for path in paths:
        if not path:
            continue
        try:
            with open(path, "rb") as f:
                report = parse_message(f.read(), max_recipients=max_recipients)
        except OSError as e:
            say(f"cannot read {path}: {(e.strerror or str(e)).lower()}")
            unreadable += 1
            continue
        result: dict[str, Any] = {"file": path, "detector": report.detector, "kind": report.kind.value, "recipients": []}
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
    return EX_FAILURE if unreadable else EX_OK


def _print_parse(result: dict[str, Any]) -> None:
    print(f"{result['file']}: {result['kind']} ({result.get('detector') or '-'})")
    for r in result["recipients"]:
        evidence = r["evidence"]
        why = f"[{evidence['rule']} {evidence['ref']}]".replace(" ]", "]")
        print(f"  {r['address']}  {r['status'] or '-'}  {r['reason']}{'  hard' if r['hard'] else ''}  {why}  {r['diagnostic'] or ''}"[:200])


# --- ingest --------------------------------------------------------------------------------

_HEADER_RECIPIENTS = ("Delivered-To", "X-Original-To")


def ingest(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: ``parse`` starts without the event loop's imports

    config = load(args)
    if args.mbox is not None or args.maildir is not None:
        if args.recipients:
            say("name recipients only for one message on stdin; a mailbox's messages name their own (Delivered-To, X-Original-To)")
            return EX_USAGE
        return _import(config, args.mbox, args.maildir)
    if sys.stdin.isatty():
        say("ingest reads one message on stdin: verpd ingest RECIPIENT < message.eml (or --mbox FILE / --maildir DIR)")
        return EX_USAGE
    raw = sys.stdin.buffer.read(config.server.max_message_size + 1)
    if len(raw) > config.server.max_message_size:
        say(f"the message is larger than server.max_message_size ({config.server.max_message_size} bytes)")
        return EX_DATAERR
    if not raw.strip():
        say("no message on stdin")
        return EX_DATAERR
    now = datetime.now(UTC)
    recipients, refused = _verified(config, args.recipients or _header_recipients(raw), now)
    if not recipients:
        say(f"no VERP address of ours among the recipients: {refused or 'none given, and no Delivered-To or X-Original-To'}")
        return EX_NOUSER
    try:
        (outcomes,) = asyncio.run(_deliver(config, [(raw, recipients, now)], dkim=True))
    except StoreError as e:
        say(f"database error: {e} (database.url); the MTA will retry")
        return EX_TEMPFAIL
    except SchemaError as e:  # not 78: the MTA would bounce the message; it keeps it until the schema is upgraded
        say(f"{e}; the MTA will retry")
        return EX_TEMPFAIL
    print(", ".join(sorted({o.value for o in outcomes})))
    return EX_OK


def _import(config: Config, mbox: Path | None, maildir: Path | None) -> int:
    import asyncio
    import mailbox

    source = mbox if mbox is not None else maildir
    assert source is not None
    if not source.exists():
        say(f"{source}: no such {'file' if mbox is not None else 'directory'}")
        return EX_NOINPUT
    box: mailbox.Mailbox[Any] = mailbox.mbox(str(source), create=False) if mbox is not None else mailbox.Maildir(str(source), factory=None, create=False)
    work: list[tuple[bytes, list[VerpAddress], datetime]] = []
    skipped: dict[str, int] = {}
    progress = Progress(f"reading {source}", len(box))
    for raw, arrived in _messages(box):
        progress.step()
        recipients, refused = _verified(config, _header_recipients(raw), arrived)
        if recipients:
            work.append((raw, recipients, arrived))
        else:
            why = refused.split(":", 1)[0] if refused else "no VERP recipient header"
            skipped[why] = skipped.get(why, 0) + 1
    progress.finish()
    try:
        results = asyncio.run(_deliver(config, work, dkim=False, progress=Progress("recording", len(work))))
    except StoreError as e:
        say(f"database error: {e} (database.url); nothing after the last recorded message was stored, run the import again")
        return EX_TEMPFAIL
    counts: dict[str, int] = {}
    for outcomes in results:
        for outcome in outcomes:
            counts[outcome.value] = counts.get(outcome.value, 0) + 1
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing recorded"
    skips = "; skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) if skipped else ""
    print(f"{source}: {len(work) + sum(skipped.values())} messages: {summary}{skips}")
    return EX_OK


def _messages(box: mailbox.Mailbox[Any]) -> Iterator[tuple[bytes, datetime]]:
    """Each message's bytes and when it arrived: the mbox From_ line, the Maildir file's time, else its Date."""
    import mailbox

    for key in box.iterkeys():
        raw = box.get_bytes(key)
        arrived = None
        message = box.get_message(key)
        if isinstance(message, mailbox.mboxMessage):
            arrived = _from_line_date(message.get_from())
        elif isinstance(message, mailbox.MaildirMessage):
            arrived = datetime.fromtimestamp(message.get_date(), UTC)
        if arrived is None:
            arrived = _date_header(raw) or datetime.now(UTC)
        yield raw, arrived


def _from_line_date(line: str) -> datetime | None:
    """The asctime date at the end of an mbox From_ line ("MAILER-DAEMON Sat Nov 21 12:00:00 2026")."""
    m = re.search(r"(\w{3} \w{3} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\s*$", line or "")
    if not m:
        return None
    try:
        return datetime.strptime(re.sub(" +", " ", m.group(1)), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _date_header(raw: bytes) -> datetime | None:
    m = re.search(rb"^Date:[ \t]*(.+)$", raw.split(b"\n\n", 1)[0], re.MULTILINE | re.IGNORECASE)
    if not m:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(m.group(1).decode("ascii", "replace").strip())
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _header_recipients(raw: bytes) -> list[str]:
    """The addresses of the message's own Delivered-To and X-Original-To headers (added by the MTA on delivery)."""
    head = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    found = []
    for name in _HEADER_RECIPIENTS:
        for m in re.finditer(rb"^" + name.encode() + rb":[ \t]*<?([^\s<>]+@[^\s<>]+)>?", head, re.MULTILINE | re.IGNORECASE):
            found.append(m.group(1).decode("ascii", "replace"))
    return list(dict.fromkeys(found))


def _verified(config: Config, addresses: list[str], now: datetime) -> tuple[list[VerpAddress], str]:
    """The addresses that are VERP addresses of ours (as of ``now``), and why the first refused one is not."""
    checker = verps(config)
    accepted, refused = [], ""
    for address in addresses:
        try:
            accepted.append(checker.verify(address, int(now.timestamp())))
        except VerpError as e:
            refused = refused or f"{e.kind.value}: {address}"
    return accepted, refused


async def _deliver(
    config: Config, work: list[tuple[bytes, list[VerpAddress], datetime]], *, dkim: bool, progress: Progress | None = None
) -> list[list[Outcome]]:
    from verpd import dkim as dkim_module
    from verpd.pipeline import Pipeline
    from verpd.store import Store, engine_for, ensure_schema

    async def check(raw: bytes) -> str:
        checked = await dkim_module.check(raw, resolver=dkim_module.system_resolver, timeout=config.dkim.timeout, authserv_id=config.dkim.authserv_id)
        return checked.result.value

    engine = engine_for(config.database)
    store = Store(engine)
    try:
        await ensure_schema(engine, auto_upgrade=config.database.auto_upgrade)
        pipeline = Pipeline(config, store, dkim=check if dkim else None)
        results = []
        for raw, recipients, received_at in work:
            results.append(await pipeline.deliver(raw, recipients, received_at))
            if progress is not None:
                progress.step()
        if progress is not None:
            progress.finish()
        return results
    finally:
        await store.close()
        await engine.dispose()


def log_key(args: argparse.Namespace) -> int:
    from verpd.log import address_filter, pseudonym_key

    config = load(args)
    shown = address_filter(config.log.addresses, pseudonym_key(config.verp.secrets[0].value))(args.address)
    print(shown)
    return EX_OK

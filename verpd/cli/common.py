"""What every command shares: exit statuses, loading the configuration, a store, printing rows."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from verpd.errors import StartupError

if TYPE_CHECKING:
    from verpd.config import Config
    from verpd.store import Store
    from verpd.verp import VerpSet

T = TypeVar("T")

# Exit statuses: 0 and 1 as every tool, the rest from sysexits.h so that MTAs and systemd act on them.
EX_OK = 0
EX_FAILURE = 1  # the command ran and the answer is "no" (an invalid address, no such record, an unreadable input)
EX_USAGE = 64  # the command line is wrong
EX_DATAERR = 65  # the input is not what the command needs (ingest: not a message)
EX_NOINPUT = 66  # an input file does not exist or cannot be read
EX_NOUSER = 67  # ingest: the recipient is not a VERP address of ours (the MTA bounces it: "user unknown")
EX_UNAVAILABLE = 69  # a service we need is unavailable (a port in use, the database down)
EX_SOFTWARE = 70  # a bug in verpd
EX_CANTCREAT = 73  # a file or directory cannot be created
EX_TEMPFAIL = 75  # our fault, try again later (ingest: the MTA defers and retries)
EX_NOPERM = 77  # permission denied
EX_CONFIG = 78  # the configuration is unusable (systemd: RestartPreventExitStatus=78)

DEFAULT_CONFIG = "/etc/verpd/verpd.toml"


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def config_path(args: argparse.Namespace) -> str | None:
    """The configuration file named by --config or $VERPD_CONFIG, if any."""
    return getattr(args, "config", None) or os.environ.get("VERPD_CONFIG") or None


def load(args: argparse.Namespace) -> Config:
    """The configuration, with the command line's overrides; logging goes to stderr as ``log.*`` says
    (stdout is the command's own output: a pipeline that logs never mixes into it)."""
    from verpd import config as config_module
    from verpd import log

    config = config_module.load(config_path(args) or DEFAULT_CONFIG)
    config = config.with_overrides(lmtp=getattr(args, "lmtp", None), database_url=getattr(args, "database", None))
    log.configure(config.log, key=log.pseudonym_key(config.verp.secrets[0].value))
    return config


def verps(config: Config) -> VerpSet:
    from verpd.verp import VerpSet

    return VerpSet(config.verp, {tenant: t.verp for tenant, t in config.tenants.items()})


def with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` with a store on the configured database, its schema made ready as serve does
    (created when empty; SchemaError when outdated and ``database.auto_upgrade`` is off)."""
    import asyncio  # here, not at the top: parse and --help start without the event loop's imports

    from verpd.store import Store, engine_for, ensure_schema

    async def run() -> T:
        engine = engine_for(config.database)
        store = Store(engine)
        try:
            await ensure_schema(engine, auto_upgrade=config.database.auto_upgrade)
            return await work(store)
        finally:
            await store.close()
            await engine.dispose()

    return asyncio.run(run())


def say(message: str) -> None:
    """One line for the operator on stderr, prefixed with the program's name."""
    print(f"verpd: {message}", file=sys.stderr)


def on_terminal() -> bool:
    return sys.stderr.isatty()


class Progress:
    """``done/total`` on one terminal line, only when stderr is a terminal (never in logs or pipes)."""

    def __init__(self, what: str, total: int | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.shown = on_terminal()

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.shown and (self.done % 50 == 0 or self.done == self.total):
            of = f"/{self.total}" if self.total else ""
            print(f"\r{self.what}: {self.done}{of}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.shown and self.done:
            print(file=sys.stderr)


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "dedup_key"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and "rule" in value:  # a verdict's evidence: the kind of rule and which one
        return f"{value['rule']} {value.get('ref') or ''}".strip()
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_table(columns: tuple[str, ...], rows: list[dict[str, Any]], empty: str) -> None:
    cells = [[text(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if not rows:
        print(f"({empty})")


def startup_error_of(error: OSError, what: str, key: str) -> StartupError:
    """An OSError about ``what`` (a path or an address) as a one-line StartupError naming the setting."""
    reason = (error.strerror or str(error)).lower()
    status = {13: EX_NOPERM, 1: EX_NOPERM, 98: EX_UNAVAILABLE, 99: EX_UNAVAILABLE}.get(error.errno or 0, EX_CANTCREAT)
    return StartupError(f"{what}: {reason} ({key})", status)

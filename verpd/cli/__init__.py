"""The ``verpd`` command line: one program, global options before or after the command.

    verpd [--config FILE] check-config [--no-bind]
    verpd [--config FILE] serve [--lmtp HOST:PORT] [--database URL]
    verpd [--config FILE] verp encode --tenant W --user N [--time UNIX]
    verpd [--config FILE] verp verify ADDRESS [--now UNIX]
    verpd [--config FILE] parse [--jsonl] [--max-recipients N] [FILE ...]
    verpd [--config FILE] ingest [RECIPIENT ...] [--mbox FILE | --maildir DIR]
    verpd [--config FILE] bounces list [--json] [--limit N] | show ID [--json] [--raw]
    verpd [--config FILE] complaints list [--json] [--limit N]
    verpd [--config FILE] subjects list [--json] | show TENANT USER [--json] | reset TENANT USER [--by WHO]
    verpd [--config FILE] outbox list [--json] [--all] | retry (ID ... | --dead)
    verpd [--config FILE] stats [--since 1d] [--by reason|day|domain|tenant] [--json]
    verpd [--config FILE] prune [--dry-run]
    verpd [--config FILE] db upgrade | current
    verpd [--config FILE] log-key ADDRESS

The configuration file defaults to ``$VERPD_CONFIG``, then ``/etc/verpd/verpd.toml``;
``parse`` reads one only when it is named. Exit statuses (``common.EX_*``): 0 success,
1 a "no" (an invalid address, no such record, an unreadable input), and sysexits.h
for the rest: 64 usage, 65 data, 66 no input, 67 not our VERP address (ingest),
69 unavailable, 70 a bug, 73 cannot create, 75 try again later (ingest), 77 no
permission, 78 configuration. An operator's mistake is one line on stderr naming
the thing and the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from verpd import __version__
from verpd.cli import common, mail, records, service
from verpd.cli.common import DEFAULT_CONFIG, EX_CONFIG, EX_FAILURE, EX_SOFTWARE, EX_USAGE, EX_NOPERM, say
from verpd.errors import ConfigError, StartupError, StoreError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, exiting with EX_USAGE (64) on a bad command line instead of 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        say(f"{message} (see: {self.prog} --help)")
        raise SystemExit(EX_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error
        return int(e.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EX_USAGE
    try:
        return int(args.handler(args))
    except ConfigError as e:
        say(str(e))
        return EX_CONFIG
    except StartupError as e:
        say(str(e))
        return e.status
    except StoreError as e:
        say(f"database error: {e} (database.url)")
        return common.EX_UNAVAILABLE
    except PermissionError as e:
        say(f"{e.filename or 'a file'}: permission denied; run as a user who may read it")
        return EX_NOPERM
    except KeyboardInterrupt:
        return EX_FAILURE
    except BrokenPipeError:
        # The reader went away (``verpd parse ... | head``): stop quietly, as Unix tools do,
        # and keep the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EX_FAILURE
    except Exception as e:  # a bug: say so in one line; the traceback only when asked for
        if os.environ.get("VERPD_DEBUG"):
            traceback.print_exc()
        say(f"internal error: {type(e).__name__}: {e} (a bug in verpd: rerun with VERPD_DEBUG=1 for the traceback and report it)")
        return EX_SOFTWARE


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="verpd", description="Bounce-handling daemon for signed VERP return paths.")
    parser.add_argument("--version", action="version", version=f"verpd {__version__}")
    parser.add_argument("--config", metavar="FILE", help=f"configuration file (default: $VERPD_CONFIG or {DEFAULT_CONFIG})")
    # The same option after the command ("verpd serve --config FILE"); SUPPRESS keeps a value given before it.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="configuration file (also accepted before the command)")
    commands = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)
    for module in (service, mail, records):
        module.register(commands, after)
    return parser

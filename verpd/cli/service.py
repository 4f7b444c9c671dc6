"""``serve`` and ``check-config``: running the daemon, and proving beforehand that it can run."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from verpd.cli.common import EX_OK, EX_UNAVAILABLE, load, say


def register(commands: Any, after: argparse.ArgumentParser) -> None:
    p = commands.add_parser("check-config", parents=[after], help="validate the configuration and prove the database and listeners are usable")
    p.add_argument("--no-bind", action="store_true",
                   help="skip the listener check (when the daemon or systemd's socket already holds the port)")
    p.set_defaults(handler=check_config)

    p = commands.add_parser("serve", parents=[after], help="run the daemon")
    p.add_argument("--lmtp", metavar="HOST:PORT", help="LMTP listener (overrides server.lmtp)")
    p.add_argument("--database", metavar="URL", help="database URL (overrides database.url)")
    p.set_defaults(handler=serve)


def check_config(args: argparse.Namespace) -> int:
    """The file is valid, the database opens with its schema, and every listener address can be bound."""
    import asyncio
    from verpd import store

    config = load(args)
    asyncio.run(store.probe(config.database.url, config.database.busy_timeout, auto_upgrade=config.database.auto_upgrade))
    if not args.no_bind:
        listeners = [("server.lmtp", config.server.lmtp), ("server.smtp", config.server.smtp), ("http.listen", config.http.listen)]
        for key, endpoint in listeners:
            if endpoint is not None:
                bindable(endpoint.host, endpoint.port, key)
    print(f"{config.source}: OK")
    print(f"  lmtp {config.server.lmtp}, verp {config.verp.format.value} @{config.verp.domain}, "
          f"{len(config.verp.secrets)} secret(s), limit {config.policy.limit} per {config.policy.period} s, act={str(config.policy.act).lower()}")
    from sqlalchemy.engine import make_url

    print(f"  database {make_url(config.database.url).get_backend_name()} usable" + ("" if args.no_bind else ", listeners bindable"))
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return EX_OK


def bindable(host: str, port: int, key: str) -> None:
    """Bind and release ``host:port`` as the daemon would (the daemon's own StartupError if it cannot)."""
    from verpd.config import HostPort
    from verpd.daemon import listen_error

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise listen_error(key, HostPort(host, port), e) from None


def serve(args: argparse.Namespace) -> int:
    import asyncio

    from verpd import daemon

    config = load(args)  # also sets up logging to stderr, as log.* says
    try:
        return asyncio.run(daemon.serve(config))
    except OSError as e:  # anything the daemon did not already name (it raises StartupError for what it knows)
        where = e.filename or ", ".join(f"{k} {v}" for k, v in (("server.lmtp", config.server.lmtp), ("server.smtp", config.server.smtp),
                                                                 ("http.listen", config.http.listen)) if v is not None)
        say(f"cannot start: {(e.strerror or str(e)).lower()} ({where})")
        return EX_UNAVAILABLE

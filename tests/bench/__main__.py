"""``make bench``: run the benchmarks and print their figures.

    python -m tests.bench [corpus] [parse] [lmtp] [ingest] [ingest-stored] [crash] [hostile] [fuzz] [--case WORD] [--sessions N] [--messages N]
                          [--kills N] [--corpus DIR] [--repeat N] [--recipients N] [--stored N] [--inputs N] [--targets T,...] [--atheris]

``ingest-stored`` (ingest with ``--stored`` 10^6 bounces already stored against an empty database,
``verpd stats``, the threshold query and their query plans) takes about a minute, plus about a minute
the first time to pre-fill its 0.9 GB SQLite file (cached under the temporary directory for 3 days;
each run works on a copy): ``make bench BENCH_ARGS=ingest-stored`` runs it alone.

Benchmarks measure; they never assert a timing (targets live here, not in unit tests).
``fuzz`` exits non-zero when a fuzz target failed (as ``crash`` does when the database is wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from tests.bench import bench_corpus, bench_crash, bench_fuzz, bench_hostile, bench_ingest, bench_lmtp, bench_parse, bench_stored
from tests.conftest import shared_dir

BENCHMARKS = ("corpus", "parse", "lmtp", "ingest", "ingest-stored", "crash", "hostile", "fuzz")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--sessions", type=int, help="lmtp, crash: concurrent LMTP sessions (default: lmtp 8, crash 10)")
    parser.add_argument("--messages", type=int, default=2000, help="lmtp, ingest, crash: bounces to deliver in all (ingest-stored: the size of its runs)")
    parser.add_argument("--kills", type=int, default=5, help="crash: times verpd is killed with SIGKILL and restarted")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("VERPD_BENCH_PG_URL"),
                        help="lmtp, crash: also run against this (for crash: empty) PostgreSQL database (default: $VERPD_BENCH_PG_URL, else a throwaway "
                        "cluster when PostgreSQL is installed)")
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("VERPD_BENCH_CORPUS", shared_dir() / "corpus/sisimai/emails")),
                        help="parse: directory of messages (default: the shared Sisimai corpus)")
    parser.add_argument("--repeat", type=int, default=20, help="parse: how many times each message is parsed per run")
    parser.add_argument("--rounds", type=int, default=3, help="parse: runs per parser (the median is reported)")
    parser.add_argument("--recipients", type=int, default=100_000, help="parse: recipient blocks of the large DSN timed on its own")
    parser.add_argument("--case", action="append", metavar="WORD", help="hostile: only the cases whose name contains WORD (repeatable)")
    parser.add_argument("--stored", type=int, default=1_000_000, help="ingest-stored: bounces in the pre-filled database")
    parser.add_argument("--inputs", type=int, default=100_000, help="fuzz: inputs in all, shared among the targets (default: 10^5)")
    parser.add_argument("--targets", default=",".join(bench_fuzz.SHARES), help=f"fuzz: the targets to run (default: {','.join(bench_fuzz.SHARES)})")
    parser.add_argument("--atheris", action="store_true", help="fuzz: let atheris (libFuzzer) choose the bytes hypothesis turns into inputs")
    args = parser.parse_args()
    which = args.which or list(BENCHMARKS)
    unknown = set(which) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if "corpus" in which:
        bench_corpus.run(shared_dir())
    if "parse" in which:
        bench_parse.run_large_dsn(args.recipients)
        bench_parse.run_hostile_classify()
        if args.corpus.is_dir():
            bench_parse.run(args.corpus, args.repeat, args.rounds)
        else:
            print(f"parse: no corpus at {args.corpus} (set VERPD_BENCH_CORPUS or --corpus DIR)")
    if "lmtp" in which:
        sessions = args.sessions or 8
        asyncio.run(bench_lmtp.run(sessions=sessions, messages=args.messages))
        bench_lmtp.run_postgres(sessions, args.messages, args.postgres)
    if "ingest" in which:
        asyncio.run(bench_ingest.run(args.messages))
    if "ingest-stored" in which:
        asyncio.run(bench_stored.run(args.messages, args.stored))
    if "crash" in which and not bench_crash.run(args.sessions or 10, args.messages, args.kills, args.postgres):
        raise SystemExit("crash: the database does not match the ledger (PROBLEM lines above)")
    if "hostile" in which:
        asyncio.run(bench_hostile.run(args.case))
    if "fuzz" in which:
        targets = [t for t in args.targets.split(",") if t]
        if set(targets) - set(bench_fuzz.SHARES):
            parser.error(f"unknown fuzz target(s): {', '.join(sorted(set(targets) - set(bench_fuzz.SHARES)))}")
        if not bench_fuzz.run(args.inputs, targets, args.atheris):
            raise SystemExit("fuzz: a target failed (FAILED lines above)")


main()

"""``make bench``: run the benchmarks and print their figures.

    python -m tests.bench [lmtp] [--sessions N] [--messages N]

Benchmarks measure; they never assert a timing (targets live here, not in unit tests).
"""

from __future__ import annotations

import argparse
import asyncio

from tests.bench import bench_lmtp


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help="benchmarks to run: lmtp (default: all)")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent LMTP sessions")
    parser.add_argument("--messages", type=int, default=2000, help="bounces to deliver in all")
    args = parser.parse_args()
    which = args.which or ["lmtp"]
    unknown = set(which) - {"lmtp"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if "lmtp" in which:
        asyncio.run(bench_lmtp.run(sessions=args.sessions, messages=args.messages))


main()

"""A bare aiosmtpd LMTP server whose handler answers 250 to every message: what the framework alone costs.

Run as its own process (``python -m tests.bench.bare_lmtp PORT``), like ``verpd serve``,
so that neither server shares a core or an event loop with the benchmark's client.
Prints "ready" once it listens.
"""

from __future__ import annotations

import asyncio
import sys

from aiosmtpd.lmtp import LMTP


class Accept:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 2.0.0 OK"


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: LMTP(Accept(), hostname="bare.test"), "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

"""Alembic's entry point for verpd's migrations (configuration built in code: ``verpd.migrations.config``).

verpd itself hands over a sync connection already in a transaction (``AsyncConnection.run_sync``
in ``verpd.store``): the migrations run in that transaction and commit with it. Given an async
engine instead (``config.attributes["engine"]``) or only a URL (``sqlalchemy.url``: a developer
running Alembic's commands), they run through ``run_sync`` on a connection of that engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from verpd.migrations import run

config = context.config


async def _run_on(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: run(config, sync, context))


async def _run_on_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        await _run_on(engine)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("verpd's migrations need a live database (the baseline looks at what an earlier verpd created); --sql is not supported")
connection = config.attributes.get("connection")  # a sync Connection (from AsyncConnection.run_sync)
engine = config.attributes.get("engine")  # or an AsyncEngine, outside any running event loop
if connection is not None:
    run(config, connection, context)
elif engine is not None:
    asyncio.run(_run_on(engine))
else:
    asyncio.run(_run_on_url(config.get_main_option("sqlalchemy.url") or ""))

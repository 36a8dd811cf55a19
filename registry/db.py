"""Connection pools built from settings; JSON columns come back as Python objects."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg

from runtime.settings import Settings

# The one pair of connection types, imported by every module that runs SQL.
# Conn: a connection, whether opened alone or taken from a pool (what a transaction needs).
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
# Db: a connection or the pool itself (each statement then takes a connection of its own).
Db: TypeAlias = "Conn | asyncpg.Pool[Any]"


def dsn_from_settings(settings: Settings) -> str:
    """`postgres.url` when set (DATABASE_URL), else the embedded dev server."""
    pg = settings.postgres
    return pg.url or f"postgresql://postgres@127.0.0.1:{pg.embedded_port}/{pg.database}"


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    settings: Settings, dsn: str | None = None, **overrides: Any
) -> asyncpg.Pool[Any]:
    pg = settings.postgres
    options: dict[str, Any] = {
        "min_size": pg.pool_min,
        "max_size": pg.pool_max,
        "init": _init_connection,
        # A query blocked longer than this is a fault, not work: fail and let Temporal retry.
        "command_timeout": 30,
    }
    options.update(overrides)
    pool = await asyncpg.create_pool(dsn or dsn_from_settings(settings), **options)
    assert pool is not None
    return pool


async def connect(settings: Settings, dsn: str | None = None) -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn or dsn_from_settings(settings))
    await _init_connection(conn)
    return conn

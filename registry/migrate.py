"""Forward-only migrations: the .sql files in migrations/, applied in name order, each in
its own transaction together with its row in `schema_migrations`.

Two processes migrating at once are safe: both take the same session advisory lock, the
second waits and then finds the files already applied. An applied file that was edited
afterwards is refused (its checksum changed): add a new file instead.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from runtime.settings import PROJECT_ROOT, load_settings

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
# Arbitrary but fixed: every migrating process of this project contends for the same lock.
_LOCK_ID = 0x0DB_0001

log = structlog.get_logger("registry.migrate")


class MigrationError(RuntimeError):
    pass


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[Path]:
    files = sorted(p for p in folder.glob("*.sql"))
    for path in files:
        if not _NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_words.sql")
    return files


async def migrate(conn: asyncpg.Connection[Any], folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Applies the files not yet applied; returns their names."""
    files = migration_files(folder)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   filename text PRIMARY KEY,
                   sha256 text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            r["filename"]: r["sha256"]
            for r in await conn.fetch("SELECT filename, sha256 FROM schema_migrations")
        }
        done: list[str] = []
        for path in files:
            sql = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(sql.encode()).hexdigest()
            if path.name in applied:
                if applied[path.name] != digest:
                    raise MigrationError(
                        f"{path.name} was changed after it was applied; migrations are "
                        f"forward-only: revert the edit and add a new numbered file"
                    )
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (filename, sha256) VALUES ($1, $2)",
                    path.name,
                    digest,
                )
            log.info("registry.migration.applied", file=path.name)
            done.append(path.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def _main(dsn: str | None) -> None:
    from registry.db import dsn_from_settings

    conn = await asyncpg.connect(dsn or dsn_from_settings(load_settings()))
    try:
        applied = await migrate(conn)
        log.info("registry.migrations.done", applied=applied)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="apply the registry's SQL migrations")
    parser.add_argument("--dsn", help="PostgreSQL URL (default: from settings)")
    asyncio.run(_main(parser.parse_args().dsn))

"""The embedded server survives a crash and a neighbour's pytest; migrations are safe to run
from two processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from pathlib import Path

import asyncpg
import pytest

from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError
from registry.migrate import MIGRATIONS_DIR, MigrationError, migrate


def test_embedded_restarts_after_a_crash_and_reports_a_taken_port(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "data", free_port(), "crash")
    pg.start()
    try:
        pg.kill()
        assert (tmp_path / "data" / "postmaster.pid").exists()  # left behind, as in a crash
        pg.start()  # the stale pid file does not block
        other = EmbeddedPostgres(tmp_path / "other", pg.port)
        with pytest.raises(EmbeddedPostgresError, match=f"port {pg.port} .* in use"):
            other.start()
    finally:
        pg.stop()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = EmbeddedPostgres(tmp_path / "data", busy.getsockname()[1])
        with pytest.raises(EmbeddedPostgresError, match="already in use"):
            taken.start()


async def test_a_running_server_keeps_its_data_when_another_pytest_starts(tmp_path: Path) -> None:
    # Another project's tests, started on the same machine while this suite runs: its
    # pytest sets up its own temporary folders, and must not take ours away.
    neighbour = tmp_path / "another-project"
    neighbour.mkdir()
    (neighbour / "pytest.ini").write_text("[pytest]\n")
    (neighbour / "test_theirs.py").write_text("def test_theirs(tmp_path):\n    assert tmp_path\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    with EmbeddedPostgres(tmp_path / "data", free_port(), "neighbour") as pg:
        theirs = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(neighbour)),
            cwd=neighbour,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await theirs.communicate()
        assert theirs.returncode == 0, output.decode()
        conn = await asyncpg.connect(pg.dsn)
        try:
            await conn.execute("CHECKPOINT")  # writes to the data directory, as any day does
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()


async def test_two_processes_migrating_at_once(scratch_db: str) -> None:
    conns = [await asyncpg.connect(scratch_db) for _ in range(2)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        expected = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
        assert sorted(applied[0] + applied[1]) == expected  # each file applied by exactly one
        assert await migrate(conns[0]) == []
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(expected)
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_applied_migration_is_refused(scratch_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    conn = await asyncpg.connect(scratch_db)
    try:
        await migrate(conn, folder)
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match=f"{first.name} was changed after it was applied"):
            await migrate(conn, folder)
    finally:
        await conn.close()

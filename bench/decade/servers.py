"""The servers a shard runs on: its own time-skipping server (with the custom search
attributes), its own database on a shared PostgreSQL (migrations applied), its own SMTP
sink, and the settings that point the system's parts at them."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.decade.smtp import SwitchableSink
from devstack.ports import free_port
from models import search
from registry import db, migrate
from runtime.logging import configure_logging
from runtime.settings import PROJECT_ROOT, Settings, load_settings

TEST_SERVER = PROJECT_ROOT / ".venv/bin/temporal-test-server"


async def create_database(dsn: str, name: str) -> str:
    """A fresh database `name` on the server of `dsn`, migrated; returns its DSN."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = dsn.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return url


async def drop_database(dsn: str, name: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class ShardServers:
    env: WorkflowEnvironment
    pool: asyncpg.Pool[Any]
    settings: Settings
    sink: SwitchableSink


@asynccontextmanager
async def shard_servers(dsn: str, folder: Path, index: int) -> AsyncIterator[ShardServers]:
    """`dsn`: the shard's own (migrated, empty) database."""
    folder.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(TEST_SERVER),
    )
    sink = SwitchableSink(folder / "mail", free_port()).start()
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type)
                    for key in search.ALL
                },
            )
        )
        settings = load_settings(
            state_dir=str(folder / "state"),
            dev_mode=True,
            auth={"dev_secret": secrets.token_urlsafe(32)},
            postgres={"url": dsn, "pool_min": 1, "pool_max": 12},
            smtp={"host": "127.0.0.1", "port": sink.port},
            temporal={"task_queue": f"decade-{index}"},
            # No workflow cache, so no sticky task queue: the time-skipping server has no
            # fallback from a stopped worker's sticky queue (ResetStickyTaskQueue is not
            # implemented there; measured: a case's tasks and queries wait on the old queue
            # for good), so a worker restart would strand every cached case. Every task
            # replays its run instead (measured: about as fast, runs are short).
            worker={"max_cached_workflows": 0},
        )
        pool = await db.create_pool(settings)
        try:
            with env.auto_time_skipping_disabled():
                yield ShardServers(env, pool, settings, sink)
        finally:
            await pool.close()
    finally:
        sink.stop()
        await env.shutdown()


def quiet_logging(folder: Path) -> None:
    """Warnings and errors to the shard's log file, not the terminal; the activity failures
    an SMTP outage causes by the thousand are left out (they are expected)."""

    class _Expected(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            text = record.getMessage()
            return not (
                "Completing activity as failed" in text
                or "notification.deferred" in text
                or "activity_watch" in record.name
            )

    configure_logging("WARNING", json=True)  # structlog through the standard logging
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(folder / "shard.log")
    handler.setLevel(logging.WARNING)
    handler.addFilter(_Expected())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)

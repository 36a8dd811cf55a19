"""The registry calls the API and CLI make, in one place: pool with short connect deadlines,
allocation of dossier numbers, and the reads. SQL stays in `registry/`; the case as the
registry's record holds it is `registry.case_records` (ops reads it too)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

import asyncpg

from models.application import TrainingApplication
from models.registry import DossierSummary
from registry import applications, queries
from registry.db import Conn
from registry.db import create_pool as _create_pool
from runtime.settings import Settings

# What "PostgreSQL cannot be reached" looks like from asyncpg: refused, reset or dropped
# connections (OSError, InterfaceError and its ConnectionDoesNotExistError), a pool with no
# free connection in time (TimeoutError), class 08 (connection exception), 57P01-57P03
# (admin or crash shutdown, cannot connect now: starting or stopping), class 53 (too many
# connections 53300, out of memory or disk) and 55000 (the database does not accept
# connections: ALTER DATABASE ... ALLOW_CONNECTIONS false).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InsufficientResourcesError,
    asyncpg.ObjectNotInPrerequisiteStateError,
    # A pooled connection whose server died under it can report "cannot switch to state":
    # a lost connection, not a bug of ours.
    asyncpg.InternalClientError,
)

CONNECT_TIMEOUT_SECONDS = 3


async def create_pool(settings: Settings) -> asyncpg.Pool[Any]:
    """No connection is opened up front (min_size=0): the API starts, and answers 503,
    while PostgreSQL is down; each connection attempt gives up after a few seconds."""
    return await _create_pool(settings, min_size=0, timeout=CONNECT_TIMEOUT_SECONDS)


async def allocate(
    conn: Conn, key: str, application: TrainingApplication, now: datetime
) -> tuple[str, bool, datetime, TrainingApplication]:
    """(dossier, created, submitted_at, the application as its case carries it): a replayed
    key keeps its first submission time; the provider's name is the register's."""
    dossier, created = await applications.allocate(conn, key, application, now)
    name = await applications.provider_name(conn, dossier)
    carried = application.model_copy(update={"provider_name": name})
    if created:
        return dossier, True, now, carried
    found = await owner(conn, dossier)
    return dossier, False, found.submitted_at if found else now, carried


async def owner(conn: Conn, dossier: str) -> DossierSummary | None:
    return await queries.dossier_summary(conn, dossier)


async def list_dossiers(conn: Conn, provider: str) -> list[DossierSummary]:
    return await queries.dossiers_of(conn, provider)


async def registered_on(conn: Conn, dossier: str, day: date) -> bool:
    return await queries.is_registered(conn, dossier, day)


async def export_csv(conn: Conn, day: date) -> str:
    return await queries.registered_on_csv(conn, day)

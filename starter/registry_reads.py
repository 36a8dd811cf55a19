"""The registry calls the API and CLI make, in one place: pool with short connect deadlines,
allocation of dossier numbers, and the reads. SQL stays in `registry/`; the case as the
registry's record holds it is `registry.case_records` (ops reads it too)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar, cast

import asyncpg

from models.application import TrainingApplication
from models.registry import DossierSummary
from registry import applications, queries
from registry.db import Conn
from registry.db import create_pool as _create_pool
from runtime.settings import Settings

# What "PostgreSQL cannot be reached" looks like from asyncpg: refused, reset or dropped
# connections (OSError, ConnectionDoesNotExistError), no answer or no free connection in time
# (TimeoutError), class 08 (connection exception), 57P01-57P03 (admin or crash shutdown,
# cannot connect now: starting or stopping), class 53 (too many connections 53300, out of
# memory or disk) and 55000 (the database does not accept connections: ALTER DATABASE ...
# ALLOW_CONNECTIONS false). Candidates only: `is_unavailable` tells which of them is one.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InsufficientResourcesError,
    asyncpg.ObjectNotInPrerequisiteStateError,
    asyncpg.InterfaceError,
    # A pooled connection whose server died under it can report "cannot switch to state":
    # a lost connection, not a bug of ours.
    asyncpg.InternalClientError,
)
# asyncpg's words for a connection or pool that is gone (its InterfaceError carries no code):
# any other InterfaceError is a misuse by the code.
_LOST_CONNECTION = ("connection is closed", "connection was closed", "pool is clos")


def is_unavailable(exc: BaseException) -> bool:
    """PostgreSQL is down or does not answer (503, an outage), as opposed to a statement that
    failed on a server that answered (500, a fault to fix, never counted as an outage)."""
    if isinstance(exc, asyncpg.InterfaceError):
        return any(words in str(exc) for words in _LOST_CONNECTION)
    if isinstance(exc, asyncpg.ObjectNotInPrerequisiteStateError):
        return exc.sqlstate == "55000"  # not 55P03 lock not available, 55006 object in use
    return isinstance(exc, UNAVAILABLE)


# The portal's bounds. A request's registry work (a free connection, opened if need be, and
# every statement of it) has PORTAL_DEADLINE_SECONDS in all: with PostgreSQL hung (SIGSTOP,
# a dead host that drops packets) the caller has its 503 within 5 s. A batch that may run
# longer (an export) passes `deadline=None` and has each statement bounded by
# BATCH_STATEMENT_SECONDS (the pool's command timeout) instead.
PORTAL_DEADLINE_SECONDS = 4.0
CONNECT_TIMEOUT_SECONDS = 3
BATCH_STATEMENT_SECONDS = 30

T = TypeVar("T")


async def create_pool(settings: Settings) -> asyncpg.Pool[Any]:
    """No connection is opened up front (min_size=0): the API starts, and answers 503,
    while PostgreSQL is down; each connection attempt gives up after a few seconds."""
    return await _create_pool(
        settings,
        min_size=0,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=BATCH_STATEMENT_SECONDS,
    )


async def within(
    pool: asyncpg.Pool[Any],
    work: Callable[[asyncpg.Connection[Any]], Awaitable[T]],
    deadline: float | None = PORTAL_DEADLINE_SECONDS,
) -> T:
    """`work` on a connection of the pool, all of it (acquire included) within `deadline`
    seconds (TimeoutError after). A connection whose statement was cut short is closed, not
    given back: giving it back waits for the server to confirm the cancel, which a hung
    server never does."""
    async with (
        asyncio.timeout(deadline),
        pool.acquire(timeout=CONNECT_TIMEOUT_SECONDS) as conn,
    ):
        try:
            # A pool's connection proxy behaves as the connection the registry expects.
            return await work(cast("asyncpg.Connection[Any]", conn))
        except (TimeoutError, asyncio.CancelledError):
            conn.terminate()
            raise


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

"""The nightly purge's activities (workflows/retention.py): read the table, write the
archives still missing, take one bounded batch of one kind, close the run.

Each is idempotent on the registry: a batch is named by the workflow (run/kind/number) and a
retry finds its row (registry/retention.py); an archive is written once. A table that cannot
be used fails the run at once (non-retryable) with the key named.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pydantic
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.archives import archive_dossier
from models.retention import (
    ArchiveMissingInput,
    FinishInput,
    PurgeBatchInput,
    PurgeBatchResult,
    RetentionTable,
    StartInput,
)
from registry import retention as repo
from runtime.retention_table import TableError, load_personal, load_table
from runtime.settings import Settings

# Errors a retry cannot cure (the same data and code give the same error): the run fails at
# once, saying why, instead of retrying forever. Outages (connections, timeouts) are retried.
_INCURABLE: tuple[type[BaseException], ...] = (
    pydantic.ValidationError,
    TypeError,
    KeyError,
    ValueError,
    AttributeError,
    AssertionError,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.exceptions.SyntaxOrAccessError,
    asyncpg.RaiseError,  # a trigger's refusal (the audit trail's, the purge record's)
)


@contextmanager
def fails_loudly(what: str) -> Iterator[None]:
    try:
        yield
    except _INCURABLE as exc:
        raise ApplicationError(
            f"retention, {what}: {type(exc).__name__}: {exc}. An error in our data or code, "
            f"not an outage: fix it, then run the purge again (python -m ops retention --run); "
            f"batches already done are not done twice.",
            type="RetentionDefect",
            non_retryable=True,
        ) from exc


class RetentionActivities:
    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="retention.start")
    async def start(self, inp: StartInput) -> RetentionTable:
        """The table as the run applies it (read now, carried by the run) and the run's row."""
        try:
            table = load_table(self._settings.resolve(self._settings.retention.table))
        except TableError as exc:
            raise ApplicationError(
                str(exc), type="InvalidRetentionTable", non_retryable=True
            ) from exc
        await repo.start_run(self._pool, inp.run_id, inp.as_of, table)
        return table

    @activity.defn(name="retention.archive_missing")
    async def archive_missing(self, inp: ArchiveMissingInput) -> int:
        """Archives up to `limit` ended dossiers that have none yet (cases that ended before
        archives existed, or whose own archive step has not run): nothing of a dossier is
        taken before its archive exists."""
        done = 0
        for dossier in await repo.ended_without_archive(self._pool, inp.limit):
            with fails_loudly(f"archive of {dossier}"):
                await archive_dossier(self._pool, self._settings, dossier)
            done += 1
            activity.heartbeat(done)
        return done

    @activity.defn(name="retention.purge_batch")
    async def purge_batch(self, inp: PurgeBatchInput) -> PurgeBatchResult:
        with fails_loudly(f"batch {inp.batch_key}"):
            async with self._pool.acquire() as conn:
                result = await repo.batch(
                    conn,
                    run_id=inp.run_id,
                    batch_key=inp.batch_key,
                    kind=inp.kind,
                    rule=inp.rule,
                    table_version=inp.table_version,
                    as_of=inp.as_of,
                    limit=inp.limit,
                    personal=load_personal(
                        self._settings.resolve(self._settings.retention.personal_fields)
                    ),
                )
        activity.logger.info(
            "retention.batch.replayed" if result.replayed else "retention.batch.done",
            extra={
                "kind": inp.kind.value,
                "action": result.action.value,
                "count": result.count,
                "batch": inp.batch_key,
            },
        )
        return result

    @activity.defn(name="retention.finish")
    async def finish(self, inp: FinishInput) -> None:
        await repo.finish_run(self._pool, inp.run_id, inp.taken, inp.archived)

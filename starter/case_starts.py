"""Starting a dossier's case in Temporal, and the drainer that makes every recorded start.

A submission commits its dossier together with a row "start this case"
(registry/case_starts.py). The API then starts the case at once; when Temporal cannot be
reached it answers 202 and leaves the row. Every API process (its lifespan) and every worker
(worker.py) runs a `Drainer`: it claims due rows (FOR UPDATE SKIP LOCKED, then a lease),
starts each case and deletes its row. The workflow id is the dossier number, so a start made
twice (the API and a drainer, two drainers after a lease ran out, a drainer after an API that
died between its start and its delete) starts one case: the second finds it running
(USE_EXISTING) or ended (WorkflowAlreadyStarted), and both count as done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.application import TrainingApplication
from models.case import CaseInput, CaseState
from registry import case_starts
from runtime.logging import get_logger
from runtime.settings import Settings
from workflows.application import ApplicationWorkflow

RPC_TIMEOUT = timedelta(seconds=5)
# How often a drainer looks for due starts: a case starts within about this long of
# Temporal coming back (plus the connect timeout of a process that lost it).
POLL_SECONDS = 2.0
BATCH = 50
# A claimed start is another drainer's to make once this has passed (the claimant died).
LEASE_SECONDS = 60.0
# A start Temporal refused for another reason than an outage (a bug, a missing search
# attribute): tried again after this, doubling with each attempt up to an hour.
REFUSED_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
_OUTAGE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)

log = get_logger("starter.case_starts")


def summary(dossier: str, title: str) -> str:
    """What ops see first in the Web UI's list of cases."""
    return f"{dossier} — {title}"[:200]


def start_details(dossier: str, application: TrainingApplication) -> str:
    """The case page's fixed details in the Web UI (what was applied for)."""
    return (
        f"**{dossier}** — {application.title}  \n"
        f"Provider {application.provider} ({application.provider_name}), "
        f"competent body {application.competent_body}  \n"
        f"Start {application.start_date.isoformat()}, "
        f"{application.volume} {application.volume_unit.value}"
    )


def initial_search_attributes(application: TrainingApplication) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.STATE, CaseState.UNDER_REVIEW.value),
            SearchAttributePair(search.COMPETENT_BODY, application.competent_body),
            SearchAttributePair(search.PROVIDER, application.provider),
            SearchAttributePair(search.WAITING_FOR, "reviewer"),
        ]
    )


async def start_case(
    client: Client,
    settings: Settings,
    dossier: str,
    application: TrainingApplication,
    submitted_at: datetime,
) -> None:
    """Starts the case of `dossier`. One that runs already is left as it is (USE_EXISTING);
    one that ran and ended is not started again (WorkflowAlreadyStarted): both are done."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            ApplicationWorkflow.run,
            CaseInput(dossier=dossier, application=application, submitted_at=submitted_at),
            id=dossier,
            task_queue=settings.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=summary(dossier, application.title),
            static_details=start_details(dossier, application),
            # Set at once, so a case is findable even before its first step runs.
            search_attributes=initial_search_attributes(application),
            rpc_timeout=RPC_TIMEOUT,
        )


def is_outage(exc: BaseException) -> bool:
    """Temporal did not take the call because it cannot be reached or did not answer."""
    if isinstance(exc, RPCTimeoutOrCancelledError | TimeoutError | OSError):
        return True
    return isinstance(exc, RPCError) and exc.status in _OUTAGE


def _brief(exc: BaseException) -> str:
    text = getattr(exc, "message", "") or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class Drainer:
    """Makes the recorded starts. `pool` and `client` give the process's own connections
    (the API's are lazy: Temporal may be down when it starts)."""

    def __init__(
        self,
        settings: Settings,
        pool: Callable[[], Awaitable[asyncpg.Pool[Any]]],
        client: Callable[[], Awaitable[Client]],
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._client = client

    async def drain_once(self) -> int:
        """Claims up to BATCH due starts and makes them; returns how many it started.
        While Temporal is down every claimed row is released at once, for the next round."""
        pool = await self._pool()
        claimed = await case_starts.claim(pool, BATCH, LEASE_SECONDS)
        if not claimed:
            return 0
        try:
            client = await self._client()
        except Exception as exc:  # no connection at all: Temporal is down for every one
            await self._waiting(pool, claimed, exc)
            return 0
        started = 0
        for i, pending in enumerate(claimed):
            try:
                await start_case(
                    client,
                    self._settings,
                    pending.dossier,
                    pending.application(),
                    pending.submitted_at,
                )
            except Exception as exc:
                if is_outage(exc):
                    await self._waiting(pool, claimed[i:], exc)
                    return started
                delay = min(REFUSED_RETRY_SECONDS * 2 ** (pending.attempts - 1), MAX_RETRY_SECONDS)
                await case_starts.release(pool, pending.dossier, _brief(exc), after_seconds=delay)
                log.error(
                    "case.start.refused",
                    dossier=pending.dossier,
                    error=_brief(exc),
                    attempts=pending.attempts,
                    retry_in_seconds=delay,
                )
                continue
            await case_starts.done(pool, pending.dossier)
            started += 1
            waited = datetime.now(UTC) - pending.submitted_at
            log.info(
                "case.start.made",
                dossier=pending.dossier,
                attempts=pending.attempts,
                waited_seconds=round(waited.total_seconds(), 1),
            )
        return started

    async def _waiting(
        self, pool: asyncpg.Pool[Any], left: list[case_starts.Pending], exc: BaseException
    ) -> None:
        for pending in left:
            await case_starts.release(pool, pending.dossier, _brief(exc))
        log.warning("case.start.waiting_for_temporal", starts=len(left), error=_brief(exc))

    async def run_forever(self) -> None:
        """Drains until cancelled; a registry that cannot be reached is tried again on the
        next round (the rows wait, nothing is lost)."""
        while True:
            try:
                started = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("case.start.drain_failed", error=_brief(exc))
                started = 0
            if started < BATCH:  # a full batch: more may be due at once
                await asyncio.sleep(POLL_SECONDS)


def start_draining(
    settings: Settings,
    pool: Callable[[], Awaitable[asyncpg.Pool[Any]]],
    client: Callable[[], Awaitable[Client]],
) -> asyncio.Task[None]:
    """The drainer of this process, as a task the process cancels when it stops."""
    return asyncio.create_task(Drainer(settings, pool, client).run_forever(), name="case-starts")

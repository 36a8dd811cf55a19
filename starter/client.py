"""The one wrapper over Temporal and the registry used by the HTTP API, the CLI and the demo.

Every call has a short deadline: when Temporal or PostgreSQL cannot be reached the caller gets
`Unavailable` within seconds (the API answers 503 with Retry-After) instead of hanging.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from models.application import TrainingApplication
from models.case import AppealInput, CaseState, CaseStatus
from models.case_row import DossierPage
from models.dutch import END_REASON, dutch_date, dutch_long_date, dutch_word
from models.errors import GENERAL_NL, Refusal
from models.registry import DeadlineRecord, DossierSummary, NotificationRecord
from models.report import YearReport
from registry import (
    applications,
    case_records,
    case_rows,
    case_starts,
    documents,
    notifications,
    queries,
    reports,
    screening,
)
from rules.case_view import describe_state, describe_state_nl
from runtime.logging import get_logger
from runtime.settings import Settings
from runtime.temporal import connect
from starter import cursors, registry_reads
from starter.case_starts import initial_search_attributes, start_case, start_details, summary
from starter.decisions import BY_MODEL
from workflows.application import ApplicationWorkflow

# Where they always were, for the callers that import them from here.
__all__ = ["initial_search_attributes", "start_details", "summary"]

RPC_TIMEOUT = timedelta(seconds=5)
# An update waits for the registry step (and its e-mail outbox write) inside the workflow.
UPDATE_TIMEOUT = timedelta(seconds=20)
CONNECT_TIMEOUT_SECONDS = 3.0
# How long the `SELECT 1` that tells "the registry is down" from "Temporal is slow" may take.
PROBE_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5
# The names a 503 gives the service that is down.
TEMPORAL = "Temporal"
REGISTRY = "the registry (PostgreSQL)"
IDENTITY_PROVIDER = "the identity provider"

T = TypeVar("T")
I = TypeVar("I", bound=BaseModel)  # noqa: E741


class Unavailable(Exception):
    """A backing service (Temporal or PostgreSQL) cannot be reached right now. `detail` is
    what a caller is told (our words only); `cause` is the driver's or server's own text,
    for the log alone."""

    def __init__(
        self, service: str, detail: str, *, timed_out: bool = False, cause: str = ""
    ) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail
        # No answer in time (rather than refused): the case may be waiting for the registry.
        self.timed_out = timed_out
        self.cause = cause


def registry_down(exc: BaseException, detail: str = "cannot be reached") -> Unavailable:
    """The one translation of a PostgreSQL connection failure (registry_reads.UNAVAILABLE)."""
    return Unavailable(REGISTRY, detail, cause=_brief(exc))


class Refused(Exception):
    """The case (or the registry) refuses the request; `refusal` says how (HTTP status),
    `message` why in English (the API's problem detail), `nl` the same in Dutch (the pages):
    the rule's own sentence, or a general one of its kind when none came with it."""

    def __init__(
        self, refusal: Refusal, message: str, field: str | None = None, *, nl: str | None = None
    ) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.field = field
        self.nl = nl or GENERAL_NL[refusal]


@dataclass(frozen=True)
class Submission:
    dossier: str
    created: bool  # False: the idempotency key was seen before, same dossier returned
    # False: Temporal could not be reached; the start is recorded and made by a drainer
    # (starter/case_starts.py) as soon as Temporal is back.
    started: bool = True


log = get_logger("starter.client")


class CaseService:
    """Submits cases, sends the portal's decisions as updates, reads cases and the registry."""

    def __init__(
        self,
        settings: Settings,
        client: Client | None = None,
        pool: asyncpg.Pool[Any] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._pool = pool
        # When a submission arrives. The machine's clock; a simulation on Temporal's
        # time-skipping test server gives the server's (bench/decade), so a dossier's year
        # and submission day are those of the simulated day.
        self._clock = clock or _machine_now
        self._owns_pool = pool is None
        self._lock = asyncio.Lock()

    # ---- connections (lazy, bounded) ----

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect(self.settings), CONNECT_TIMEOUT_SECONDS
                    )
                except (TimeoutError, RuntimeError, OSError, RPCError) as exc:
                    raise Unavailable(TEMPORAL, "cannot be reached", cause=_brief(exc)) from exc
            return self._client

    async def pool(self) -> asyncpg.Pool[Any]:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await registry_reads.create_pool(self.settings)
            return self._pool

    async def close(self) -> None:
        if self._owns_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _db(
        self,
        fn: Callable[[asyncpg.Connection[Any]], Awaitable[T]],
        deadline: float | None = registry_reads.PORTAL_DEADLINE_SECONDS,
    ) -> T:
        """`fn` on a registry connection within the portal's deadline (`deadline=None`: a
        batch, each statement bounded instead); an outage is `Unavailable`, a fault of the
        statement goes up as it is (a 500)."""
        try:
            return await registry_reads.within(await self.pool(), fn, deadline)
        except registry_reads.UNAVAILABLE as exc:
            if not registry_reads.is_unavailable(exc):
                raise
            raise registry_down(exc) from exc

    async def _slow_case(self, dossier: str, detail: str) -> Unavailable:
        """What to blame when a case did not answer in time. Its registry step is retried
        while PostgreSQL is down, so a quick probe tells "the registry is down" from
        "Temporal (or its worker) is down or slow"."""
        try:
            await registry_reads.within(
                await self.pool(), lambda conn: conn.fetchval("SELECT 1"), PROBE_TIMEOUT_SECONDS
            )
        except registry_reads.UNAVAILABLE as exc:
            if not registry_reads.is_unavailable(exc):
                raise
            return registry_down(exc, f"cannot be reached; dossier {dossier} is waiting for it")
        return Unavailable(TEMPORAL, detail)

    # ---- writes ----

    async def submit(self, application: TrainingApplication, idempotency_key: str) -> Submission:
        """Allocates the dossier number (once per idempotency key) and, in the same
        transaction, records that its case is to be started; then starts it.

        While Temporal cannot be reached the submission still stands (`started` False): the
        recorded start is made by a drainer as soon as Temporal is back. A retry with the
        same key finds the same dossier, and starts its case if that is still to be done."""
        now = self._clock()

        async def allocate(
            conn: asyncpg.Connection[Any],
        ) -> tuple[str, bool, datetime, TrainingApplication, bool]:
            dossier, created, at, carried = await registry_reads.allocate(
                conn, idempotency_key, application, now
            )
            return dossier, created, at, carried, await case_starts.is_pending(conn, dossier)

        dossier, created, submitted_at, application, pending = await self._db(allocate)
        if not pending:  # its case was started before (a retry): nothing to do
            return Submission(dossier=dossier, created=created)
        try:
            client = await self.client()
            await _temporal(start_case(client, self.settings, dossier, application, submitted_at))
        except Unavailable as exc:
            log.warning(
                "case.start.deferred", dossier=dossier, service=exc.service, error=exc.cause
            )
            return Submission(dossier=dossier, created=created, started=False)
        await self._started(dossier)
        return Submission(dossier=dossier, created=created)

    async def _started(self, dossier: str) -> None:
        """Its case runs: the recorded start is done. Left to a drainer when the registry
        went away meanwhile (it finds the case running and only deletes the row)."""
        try:
            await self._db(lambda conn: case_starts.done(conn, dossier))
        except Unavailable as exc:
            log.warning("case.start.not_marked_done", dossier=dossier, error=exc.cause)

    async def _start_if_pending(self, dossier: str) -> bool:
        """A request reached a dossier whose case is still to be started while Temporal
        answers: started now, as a drainer would. False: no start was pending."""
        pending = await self._db(lambda conn: case_starts.get(conn, dossier))
        if pending is None:
            return False
        client = await self.client()
        await _temporal(
            start_case(client, self.settings, dossier, pending.application(), pending.submitted_at)
        )
        await self._started(dossier)
        return True

    async def _not_started(self, dossier: str, down: Unavailable) -> Unavailable:
        """Temporal is down: for a dossier whose case is still to be started, say so."""
        try:
            pending = await self._db(lambda conn: case_starts.is_pending(conn, dossier))
        except Unavailable:
            return down
        if not pending:
            return down
        return Unavailable(
            TEMPORAL,
            f"cannot be reached, and dossier {dossier} was received but its case has not "
            "started yet; it starts by itself as soon as Temporal is back, then send this "
            "again",
            timed_out=down.timed_out,
            cause=down.cause,
        )

    async def update(
        self, dossier: str, inp: BaseModel, update_id: str | None = None
    ) -> CaseStatus:
        """Sends one human decision. The same `update_id` (the portal's Idempotency-Key)
        has one effect however often it is retried."""
        update = BY_MODEL[type(inp)].update  # type: ignore[index]
        document_id = getattr(inp, "document_id", None)
        if document_id is not None:
            # Checked before the case is asked, and again in the step's own transaction.
            actor = inp.actor  # type: ignore[attr-defined]
            await self._db(lambda conn: documents.check_attachable(conn, document_id, actor))
        update_id = update_id or str(uuid.uuid4())
        try:
            return await self._send(dossier, update, inp, update_id)
        except _NoCase as exc:
            # A case still to be started (its start recorded) is started now, and asked once.
            if not await self._start_if_pending(dossier):
                raise await self._ended(dossier, inp) from exc
        try:
            return await self._send(dossier, update, inp, update_id)
        except _NoCase as exc:
            raise await self._ended(dossier, inp) from exc

    async def _send(self, dossier: str, update: Any, inp: BaseModel, update_id: str) -> CaseStatus:
        try:
            client = await self.client()
        except Unavailable as exc:
            raise await self._not_started(dossier, exc) from exc
        handle = client.get_workflow_handle_for(ApplicationWorkflow.run, dossier)
        try:
            # The SDK keeps polling an update the worker has not accepted yet (worker down,
            # workflow task failing); the overall bound turns that into a retryable answer.
            result = await asyncio.wait_for(
                handle.execute_update(
                    update,
                    inp,
                    result_type=CaseStatus,
                    id=update_id,
                    rpc_timeout=UPDATE_TIMEOUT,
                ),
                UPDATE_TIMEOUT.total_seconds(),
            )
        except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
            raise await self._slow_case(
                dossier,
                f"dossier {dossier} did not process the request in time (server down, or no "
                "worker running the case)",
            ) from exc
        except WorkflowUpdateFailedError as exc:
            raise _refusal(exc.cause) from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _NoCase(dossier) from exc
            down = _rpc_unavailable(exc)
            if down is None:
                raise
            if down.timed_out:
                raise await self._slow_case(dossier, down.detail) from exc
            raise await self._not_started(dossier, down) from exc
        return CaseStatus.model_validate(result)

    async def _ended(self, dossier: str, inp: BaseModel) -> Refused:
        """Why a closed case refuses a request, in the case's own terms."""
        try:
            final = await self.read(dossier)
        except (Refused, Unavailable):
            return Refused(
                Refusal.INVALID_STATE,
                f"dossier {dossier} has ended (or is unknown): nothing can change it now",
                nl=f"Dossier {dossier} is afgesloten (of bestaat niet): er kan niets meer aan "
                "veranderen.",
            )
        if final.state != CaseState.ENDED:
            # Not an ended case: its workflow is missing while the registry says it is live.
            return Refused(
                Refusal.INVALID_STATE,
                f"dossier {dossier} is {describe_state(final)} in the registry but has no "
                "running case in Temporal; nothing can be decided on it until ops restore "
                "its case (python -m ops reconcile reports it)",
                nl=f"Dossier {dossier} is volgens de databank {describe_state_nl(final)}, "
                "maar de procesmotor behandelt het niet. Er kan niets over beslist worden tot "
                "de technische dienst de behandeling herstelt; probeer het later opnieuw.",
            )
        lapsed = final.lapsed_window
        if isinstance(inp, AppealInput) and lapsed is not None:
            return Refused(
                Refusal.WINDOW_CLOSED,
                f"the appeal window of {dossier} closed at the end of "
                f"{dutch_date(lapsed.last_day)}; the refusal is final",
                nl=f"De beroepstermijn van dossier {dossier} liep tot en met "
                f"{dutch_long_date(lapsed.last_day)}. De weigering is definitief.",
            )
        reason = final.end_reason.value.replace("_", " ") if final.end_reason else "ended"
        reden = dutch_word(END_REASON, final.end_reason.value if final.end_reason else "")
        return Refused(
            Refusal.INVALID_STATE,
            f"dossier {dossier} has ended ({reason}); nothing can change it now",
            nl=f"Dossier {dossier} is afgesloten"
            + (f" ({reden})" if reden else "")
            + ": er kan niets meer aan veranderen.",
        )

    # ---- reads ----

    async def read(self, dossier: str, provider: str | None = None) -> CaseStatus:
        """The case as the portal reads it: the registry's current-state row (written with
        every step, so it shows what a decision that answered 200 did), with its unsent
        e-mails, screenings and steps as they stand now. Never asks Temporal: it answers
        while Temporal or the worker is down. With `provider`, only a dossier of that
        organisation (another's answers exactly as a missing one). A case from before these
        rows that has taken no step since reads as the registry's record of it."""
        found = await self._db(lambda conn: case_rows.view(conn, dossier, provider))
        if found is not None:
            return found
        if provider is not None:  # another's answers as a missing one, after the same queries
            found_owner = await self._db(lambda conn: registry_reads.owner(conn, dossier))
            if found_owner is None or found_owner.provider != provider:
                raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
        record = await self._db(lambda conn: case_records.case_view(conn, dossier))
        if record is None:
            raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
        return record

    async def live_status(self, dossier: str) -> CaseStatus:
        """The case as its workflow holds it right now (a query: needs Temporal and a worker;
        for ops and reconciliation); the registry's record when Temporal no longer knows it
        (ended and past retention, or never started)."""
        client = await self.client()
        handle = client.get_workflow_handle_for(ApplicationWorkflow.run, dossier)
        try:
            result = await _temporal(
                handle.query(ApplicationWorkflow.status, rpc_timeout=RPC_TIMEOUT)
            )
            return CaseStatus.model_validate(result)
        except Unavailable as exc:
            if exc.timed_out:
                raise await self._slow_case(dossier, exc.detail) from exc
            raise
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        except WorkflowQueryFailedError:
            pass
        record = await self._db(lambda conn: case_records.case_status(conn, dossier))
        if record is None:
            raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
        return record

    async def owner(self, dossier: str) -> DossierSummary:
        """Who the dossier belongs to (provider, competent body): for the API's role checks."""
        found = await self._db(lambda conn: registry_reads.owner(conn, dossier))
        if found is None:
            raise Refused(Refusal.NOT_FOUND, no_dossier(dossier))
        return found

    async def application(self, dossier: str) -> TrainingApplication | None:
        """The application as submitted (for the pages' dossier; call after the read that
        decided the reader may see it)."""
        return await self._db(lambda conn: applications.submitted(conn, dossier))

    async def screening_criteria(self, dossier: str, provider: str) -> dict[int, dict[str, float]]:
        """Each screening year's score per criterion of an organisation's dossier."""
        return await self._db(lambda conn: screening.criteria_of(conn, dossier, provider))

    async def emails(self, dossier: str) -> list[NotificationRecord]:
        """The e-mails the case queued or sent, oldest first (for the pages' dossier)."""
        return await self._db(lambda conn: notifications.for_dossier(conn, dossier))

    async def deadlines(self, dossier: str) -> list[DeadlineRecord]:
        """Every deadline the case has had, the last of each kind (a used appeal window
        too), soonest first: for the pages that say how each was counted."""
        return await self._db(lambda conn: queries.deadlines_of(conn, dossier))

    async def list_dossiers(
        self,
        provider: str,
        *,
        state: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> DossierPage:
        """A page of the organisation's dossiers, newest first, from the registry's rows;
        the cursor (signed) continues the same organisation's list with the same filter."""
        after: tuple[str, str] | None = None
        if cursor is not None:
            org, filtered, key = cursors.decode(self.settings, "dossiers", cursor)
            if (org, filtered) != (provider, state or None):
                raise cursors.bad_cursor("it continues another list (organisation or state)")
            submitted_at, dossier = cursors.sort_key(key, case_rows.LIST_ORDER)
            after = (submitted_at, dossier)
        count, items, more = await self._db(
            lambda conn: case_rows.of_provider(conn, provider, state, after, limit)
        )
        last = items[-1] if items else None
        next_cursor = (
            cursors.encode(
                self.settings,
                "dossiers",
                provider,
                state,
                (last.submitted_at.isoformat(), last.dossier),
            )
            if more and last is not None
            else None
        )
        return DossierPage(count=count, items=items, next_cursor=next_cursor)

    async def registered_on(self, dossier: str, day: date) -> bool:
        """From the public register alone: a dossier never registered (under review,
        refused, another's, or no dossier at all) answers False, all alike."""
        return await self._db(lambda conn: registry_reads.registered_on(conn, dossier, day))

    async def export_csv(self, day: date) -> str:
        # The whole register of a day: a batch, not held to the portal's deadline.
        return await self._db(lambda conn: registry_reads.export_csv(conn, day), deadline=None)

    async def year_reports(self, years: list[int] | None = None) -> list[YearReport]:
        """The department's figures of `years` (None: every year of the register) as of
        now, from one snapshot of the registry; InvalidInput for a year it has no report of.
        Ten years of the register are a batch, not held to the portal's deadline."""
        now, norm = self._clock(), self.settings.review.service_norm_days
        return await self._db(
            lambda conn: reports.year_reports(conn, years, now, norm), deadline=None
        )


class _NoCase(Exception):
    """Temporal has no workflow of this dossier (ended and past retention, or never
    started)."""


def _machine_now() -> datetime:
    return datetime.now(UTC)


def no_dossier(dossier: str) -> str:
    """The one answer for a dossier that does not exist, or not for the one asking."""
    return f"there is no dossier {dossier}"


async def _temporal(call: Awaitable[T]) -> T:
    """Runs one Temporal call, turning 'cannot reach the server' into `Unavailable`."""
    try:
        return await call
    except RPCTimeoutOrCancelledError as exc:
        raise Unavailable(
            TEMPORAL,
            "no answer in time (server down, or no worker running the case)",
            timed_out=True,
        ) from exc
    except RPCError as exc:
        down = _rpc_unavailable(exc)
        if down is None:
            raise
        raise down from exc


def _rpc_unavailable(exc: RPCError) -> Unavailable | None:
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.CANCELLED):
        return Unavailable(TEMPORAL, "cannot be reached", cause=exc.message)
    if exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
        return Unavailable(TEMPORAL, "no answer in time", timed_out=True, cause=exc.message)
    return None


def _refusal(cause: BaseException | None) -> Refused:
    """The case's refusal (workflows.case_recording.checked): its type, English message and,
    in its details, the field and the rule's Dutch sentence. A worker from before the Dutch
    sentence sent none: then `Refused` says a general Dutch sentence of that kind."""
    if isinstance(cause, ApplicationError):
        try:
            refusal = Refusal(cause.type or "")
        except ValueError:
            refusal = Refusal.INVALID_INPUT
        detail = cause.details[0] if cause.details else None
        field = nl = None
        if isinstance(detail, dict):
            field = detail.get("field")
            nl = detail.get("nl")
        return Refused(
            refusal,
            cause.message,
            field if isinstance(field, str) else None,
            nl=nl if isinstance(nl, str) and nl else None,
        )
    return Refused(Refusal.INVALID_STATE, str(cause) if cause else "the case refused this")


def _brief(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]

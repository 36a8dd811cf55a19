"""Reconciliation: every live case's workflow against its current-state row in the registry.

The portal and the worklists read `case_rows`, written in the transaction of each step from
`rules.case_view.case_row(status)`. This checks that each row still says what its case's
workflow says: the row's fields are compared with `case_row(live status)`, the live status
being the workflow's `status` query: every column the worklists and the lists filter, sort
on or show (`COMPARED`), and the stored `status` field by field (`STATUS_COMPARED`: what
`GET /dossiers/{d}` serves of it), each difference named (`state`, `status.appeals`). Not
`last_step` and `last_step_at` (as of which step the row is).

Asking every case by query is the slow part, so a first pass reads visibility: the running
`ApplicationWorkflow` executions with their search attributes (computed from the same
status by the same functions as the row) against the rows, and only the cases where they
disagree become candidates: a running case with no row, a row visibility contradicts, a row
whose own status makes other columns than it holds (or is not a case at all: a column or
the status damaged, whichever; `inconsistent`), a row that says the case is live while
Temporal does not list it running (ended, terminated, unknown, or visibility lagging), and
every dossier of the registry without a row (a case from before the rows, live or ended).
A damaged field of the status that no column derives from (a decision's reason, the
registration dates) agrees with both visibility and the row: only `full=True` finds it.
Each candidate is then asked by query (bounded concurrency). Visibility lags and a step in
progress writes its row a moment before the workflow applies it, so a difference counts
only when the query confirms it and it holds on a second look; while the row is ahead of
the workflow or a registry step is pending, the case is looked at again for a few seconds
(`SETTLE`), and if that never settles it is reported as not checked, never as a
difference. `full=True` asks every live case.

`repair=True` writes the missing rows (`case_rows.write_if_missing`: only where still
absent, so a step's own row wins) from the workflow's status, or from the registry's record
when Temporal no longer has the case (past retention), and rewrites each differing row from
the live status (`case_rows.replace`: only while the stored row is still the one
compared). A row whose workflow ended without ending the case (terminated, failed) or does
not exist is reported, never rewritten: ops decide (runbook 3d).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.case import CaseState, CaseStatus
from models.case_row import CaseRow
from registry import case_records, case_rows, case_starts, reconcile_runs
from rules import case_view
from rules.deadlines import end_of_day

T = TypeVar("T")

COMPARED = case_rows.STATE_FIELDS
# The stored status is compared field by field, except what the dossier's read takes from
# the registry's own tables as they stand (unsent e-mails, screening results, recent steps:
# registry/case_rows.py `view`) and the run counter, which continue-as-new moves on without
# a step: these differ between steps by design.
STATUS_APART = frozenset({"pending_notices", "screenings", "history", "runs"})
STATUS_COMPARED = tuple(name for name in CaseStatus.model_fields if name not in STATUS_APART)
# The instants a step stamps with the workflow's clock: a workflow task retried after its
# worker died stamps the step again, while the registry keeps the first stamp (a step is
# written once: registry/steps.py), and the row agrees with the registry. Compared without.
_STAMPS: dict[str, Any] = {
    "decisions": {"decided_at"},
    "appeals": {"filed_at": True, "decision": {"decided_at"}},
}
# Rows read at a time by the first pass (each with its status).
PAGE = 1000
# A value longer than this is cut in the report (an appeal, a list of decisions).
SHOWN_MAX = 200
RUNNING_CASES = "WorkflowType = 'ApplicationWorkflow' AND ExecutionStatus = 'Running'"
RECORD_STEP = "registry.record_step"
RPC_TIMEOUT = timedelta(seconds=5)
DEFAULT_CONCURRENCY = 16
# Pauses (seconds) before each look at the cases that still disagree: a difference seen on
# two looks with nothing in flight is confirmed; one that stays "in flight" (the row ahead
# of the workflow, a registry step pending) through all of them is not checked.
SETTLE: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
# This many queries in a row without an answer in time: no worker runs the cases.
NO_WORKER_AFTER = 12
# Visibility keeps datetimes to the second on some stores.
_CLOSE = timedelta(seconds=1)


class Unavailable(Exception):
    """Temporal or the registry cannot be reached, or no worker answers the queries."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} is unavailable: {detail}")
        self.service = service


# ---------------------------------------------------------------- what is compared (pure)


@dataclass(frozen=True)
class Difference:
    dossier: str
    field: str  # a CaseRow field, or "row" (none), "workflow" (none), "execution" (closed)
    row: str
    workflow: str


def shown(value: object) -> str:
    """A value as the report prints it."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel | list | dict):
        text = json.dumps(to_jsonable_python(value), ensure_ascii=False, separators=(",", ":"))
        return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"
    return str(value)


def expected_row(live: CaseStatus, *, step: str, at: datetime) -> CaseRow:
    """The row the case's live status makes (what its step would have written)."""
    return case_view.case_row(live, step=step, at=at)


def differences(row: CaseRow, live: CaseStatus) -> list[Difference]:
    """Each compared field where `row` is not what the live status makes of it: the columns,
    then the stored status's fields (named `status.<field>`)."""
    expected = expected_row(live, step=row.last_step, at=row.last_step_at)
    found = [
        Difference(row.dossier, name, shown(getattr(row, name)), shown(getattr(expected, name)))
        for name in COMPARED
        if getattr(row, name) != getattr(expected, name)
    ]
    stored, wanted = row.status, expected.status
    return found + [
        Difference(
            row.dossier,
            f"status.{name}",
            shown(getattr(stored, name)),
            shown(getattr(wanted, name)),
        )
        for name in STATUS_COMPARED
        if getattr(stored, name) != getattr(wanted, name)
        and _unstamped(name, getattr(stored, name)) != _unstamped(name, getattr(wanted, name))
    ]


def _unstamped(name: str, value: Any) -> Any:
    """A status field as compared: without the instants its steps stamp (`_STAMPS`)."""
    stamps = _STAMPS.get(name)
    if stamps is None:
        return value
    return [item.model_dump(exclude=stamps) for item in value]


def inconsistent(record: asyncpg.Record) -> bool:
    """The row is not what its own status makes (a column or the status damaged), or its
    status is not a case: the first pass's check, without asking the workflow."""
    try:
        row = case_rows.row_from(record)
    except case_rows.UnreadableStatus:
        return True
    return bool(differences(row, row.status))


def unreadable(
    dossier: str,
    exc: case_rows.UnreadableStatus,
    live: CaseStatus | None,
    execution: WorkflowExecutionStatus | None,
) -> list[Difference]:
    """A row whose status is not a case: the portal cannot serve the dossier from it. Not
    rewritten without a workflow that runs or completed to rewrite it from."""
    found = [
        Difference(
            dossier, "status", f"unreadable ({exc.why})", live.state.value if live else "-"
        )
    ]
    if live is None or execution is None:
        found.append(Difference(dossier, "workflow", "-", "not found"))
    elif _closed_early(execution):
        found.append(Difference(dossier, "execution", "running", execution.name.lower()))
    return found


def _closed_early(execution: WorkflowExecutionStatus) -> bool:
    """Terminated, failed, timed out or canceled: ended without ending the case."""
    return execution not in (
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.CONTINUED_AS_NEW,
    )


def _close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _CLOSE


def attribute_mismatches(row: Mapping[str, Any], attrs: TypedSearchAttributes) -> list[str]:
    """The row's fields (a `case_rows` record without its status) that a running case's
    search attributes contradict: the cheap first pass. Attributes a run from before the
    worklists' patch never published count as contradictions (the query then decides)."""
    appeal = bool(row["open_appeal"])
    removal = row["removal_on"]
    bec_due: date | None = row["bec_due_on"]
    checks = {
        "state": attrs.get(search.STATE) == row["state"],
        "competent_body": attrs.get(search.COMPETENT_BODY) == row["competent_body"],
        "provider": attrs.get(search.PROVIDER) == row["provider"],
        "waiting_for": attrs.get(search.WAITING_FOR) == row["waiting_for"],
        "overdue": bool(attrs.get(search.OVERDUE)) == row["overdue"],
        "next_deadline_kind": attrs.get(search.NEXT_DEADLINE_KIND) == row["next_deadline_kind"],
        "next_deadline_at": _close(attrs.get(search.NEXT_DEADLINE), row["next_deadline_at"]),
        "removal_on": _close(
            attrs.get(search.REMOVAL_ON), end_of_day(removal) if removal else None
        ),
        "end_reason": attrs.get(search.END_REASON) == row["end_reason"],
        "waiting_since": _close(attrs.get(search.WAITING_SINCE), row["waiting_since"]),
        "missing_hearings": attrs.get(search.MISSING_HEARINGS)
        == (row["missing_hearings"] if appeal else None),
        "bec_due_on": attrs.get(search.BEC_DUE_ON)
        == (bec_due.isoformat() if appeal and bec_due else None),
        "appeal_without_document": attrs.get(search.APPEAL_WITHOUT_DOCUMENT)
        == (row["appeal_without_document"] if appeal else None),
    }
    return [name for name, ok in checks.items() if not ok]


class Kind(StrEnum):
    AGREES = "agrees"
    DIFFERS = "differs"  # confirmed differences (fields, or the execution)
    MISSING = "missing"  # no row: a running case, or one that ended before the rows
    UNCHECKED = "unchecked"  # no answer, or a step in progress that never settled


def judge(
    dossier: str,
    row: CaseRow | None,
    live: CaseStatus | None,
    execution: WorkflowExecutionStatus | None,
) -> tuple[Kind, list[Difference]]:
    """What one look at a case says. `live` None: Temporal does not know the workflow. A
    dossier without a row is missing one, live or not: the portal reads every dossier from
    its row (a case that ended before the rows too)."""
    if row is None:
        return Kind.MISSING, []
    if live is None or execution is None:
        if row.state == CaseState.ENDED.value:
            return Kind.AGREES, []  # ended, and past Temporal's retention
        return Kind.DIFFERS, [Difference(dossier, "workflow", row.state, "not found")]
    found = differences(row, live)
    if _closed_early(execution) and row.state != CaseState.ENDED.value:
        found.append(Difference(dossier, "execution", "running", execution.name.lower()))
    return (Kind.DIFFERS if found else Kind.AGREES), found


def row_ahead(row: CaseRow | None, live: CaseStatus | None) -> bool:
    """The row is of a step the workflow has not applied yet (its activity committed the
    row; the workflow takes the result a moment later)."""
    if row is None or live is None or not live.history:
        return False
    return row.last_step_at > max(h.at for h in live.history)


def repaired_row(seen: tuple[str, datetime] | None, live: CaseStatus) -> CaseRow:
    """The row to write from the live status: as of the stored row's own step (`seen`: its
    last_step, last_step_at), or of the last step the workflow logged after it (a step
    that wrote no row)."""
    later = live.history
    if seen is not None:
        # The workflow logs a step when its registry step returned, a moment after the `at`
        # its row carries: the steps after the row's are those logged after its own entry.
        own = [i for i, h in enumerate(live.history) if h.step == seen[0]]
        later = live.history[own[-1] + 1 :] if own else [h for h in later if h.at > seen[1]]
    if later:
        return expected_row(live, step=later[-1].step, at=later[-1].at)
    if seen is not None:
        return expected_row(live, step=seen[0], at=seen[1])
    return expected_row(live, step="submitted", at=live.submitted_at)


# ---------------------------------------------------------------- the run


@dataclass
class CaseCheck:
    dossier: str
    kind: Kind
    differences: list[Difference] = field(default_factory=list)
    why: str = ""  # unchecked: why; after a repair: what it did
    live: CaseStatus | None = None
    row: CaseRow | None = None
    in_flight: bool = False  # the row ahead of the workflow, or a registry step pending
    # The stored row's last_step and last_step_at (also when its status is unreadable).
    seen: tuple[str, datetime] | None = None
    repaired: bool = False

    @property
    def repairable(self) -> bool:
        if self.kind == Kind.MISSING:
            return True  # from the workflow, or from the registry's record when it has none
        return self.kind == Kind.DIFFERS and all(
            d.field not in ("workflow", "execution") for d in self.differences
        )


@dataclass
class Report:
    started_at: datetime
    live_cases: int = 0
    queried: int = 0
    seconds: float = 0.0
    repair: bool = False
    # Every case that did not agree, by dossier.
    checks: dict[str, CaseCheck] = field(default_factory=dict)

    def _of(self, kind: Kind, *, left: bool) -> list[CaseCheck]:
        return [c for c in self.checks.values() if c.kind == kind and not (left and c.repaired)]

    @property
    def differing(self) -> list[CaseCheck]:
        return self._of(Kind.DIFFERS, left=False)

    @property
    def missing(self) -> list[CaseCheck]:
        return self._of(Kind.MISSING, left=False)

    @property
    def unchecked(self) -> list[CaseCheck]:
        return self._of(Kind.UNCHECKED, left=False)

    @property
    def left(self) -> list[CaseCheck]:
        """Differing or missing, and not repaired."""
        return self._of(Kind.DIFFERS, left=True) + self._of(Kind.MISSING, left=True)

    @property
    def exit_code(self) -> int:
        """1: a difference or a missing row is left; 3: none, but some cases could not be
        checked (run again); 0: every live case agrees with its row."""
        if self.left:
            return 1
        return 3 if self.unchecked else 0

    def run(self) -> reconcile_runs.Run:
        left = self.left
        details = [
            {"dossier": d.dossier, "field": d.field, "row": d.row, "workflow": d.workflow}
            for c in sorted(left, key=lambda c: c.dossier)
            for d in (
                c.differences
                or [
                    Difference(
                        c.dossier, "row", "missing", c.live.state.value if c.live else "not found"
                    )
                ]
            )
        ]
        return reconcile_runs.Run(
            started_at=self.started_at,
            live_cases=self.live_cases,
            queried=self.queried,
            differences_found=len(self.differing),
            missing_found=len(self.missing),
            differences=sum(1 for c in left if c.kind == Kind.DIFFERS),
            missing=sum(1 for c in left if c.kind == Kind.MISSING),
            repaired=sum(1 for c in self.checks.values() if c.repaired),
            unchecked=len(self.unchecked),
            details=details,
        )

    def lines(self) -> list[str]:
        """One line per difference (dossier, field, row value, workflow value), then the
        summary."""
        out: list[str] = []
        for c in sorted(self.checks.values(), key=lambda c: c.dossier):
            done = f"\t({c.why})" if c.why and c.kind != Kind.UNCHECKED else ""
            if c.kind == Kind.DIFFERS:
                out += [
                    f"{d.dossier}\t{d.field}\trow: {d.row}\tworkflow: {d.workflow}{done}"
                    for d in c.differences
                ]
            elif c.kind == Kind.MISSING:
                state = c.live.state.value if c.live else "not found"
                out.append(f"{c.dossier}\trow\trow: missing\tworkflow: {state}{done}")
            elif c.kind == Kind.UNCHECKED:
                out.append(f"{c.dossier}\t-\tnot checked: {c.why}")
        fields = sum(len(c.differences) for c in self.differing)
        out.append(
            f"{self.live_cases} live cases, {self.queried} asked by query, in "
            f"{self.seconds:.1f} s: {len(self.differing)} with a row that differs "
            f"({fields} field{'' if fields == 1 else 's'}), {len(self.missing)} without a row, "
            f"{len(self.unchecked)} not checked"
        )
        if self.repair:
            repaired = sum(1 for c in self.checks.values() if c.repaired)
            out.append(f"repaired {repaired}; left {len(self.left)}")
        if self.unchecked:
            out.append("not checked: a step was in progress or no answer came; run again")
        return out


@dataclass
class _Look:
    kind: Kind
    differences: list[Difference]
    live: CaseStatus | None
    row: CaseRow | None
    in_flight: bool
    why: str = ""
    seen: tuple[str, datetime] | None = None


class Reconciler:
    def __init__(
        self,
        client: Client,
        pool: asyncpg.Pool[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        settle: Sequence[float] = SETTLE,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency: at least 1")
        self._client = client
        self._pool = pool
        self._gate = asyncio.Semaphore(concurrency)
        self._settle = tuple(settle) or (0.0,)
        self._silent = 0  # queries in a row without an answer in time

    async def run(self, *, repair: bool = False, full: bool = False) -> Report:
        report = Report(started_at=datetime.now(UTC), repair=repair)
        t0 = asyncio.get_running_loop().time()
        live_cases, candidates = await self._survey(full)
        report.live_cases = len(live_cases)
        report.queried = len(candidates)
        checks = await self._confirm(sorted(candidates))
        report.checks = {c.dossier: c for c in checks if c.kind != Kind.AGREES}
        await self._flag_executions(report.checks.values())
        if repair:
            await self._repair([c for c in report.checks.values() if c.repairable])
        report.seconds = asyncio.get_running_loop().time() - t0
        return report

    # -------------------------------------------------------------- the first pass

    async def _survey(self, full: bool) -> tuple[set[str], set[str]]:
        """Every live case (running in Temporal, or live by its row) and the candidates."""
        listed: dict[str, TypedSearchAttributes] = {}
        try:
            async for wf in self._client.list_workflows(RUNNING_CASES):
                listed[wf.id] = wf.typed_search_attributes
        except RPCError as exc:
            raise Unavailable("Temporal", exc.message) from exc
        live_rows, inconsistent_rows = await self._live_rows()
        others = [d for d in listed if d not in live_rows]
        rows = dict(live_rows)
        for r in await _registry(case_rows.briefs_of(self._pool, others)):
            rows[r["dossier"]] = r
        live = set(listed) | set(live_rows)
        # Dossiers without any row: live cases from before the rows (visibility lists those
        # running) and the ones that ended before them.
        without = set(await _registry(case_rows.without_row(self._pool)))
        if full:
            return live, live | without
        candidates = {d for d in live_rows if d not in listed} | without | inconsistent_rows
        for dossier, attrs in listed.items():
            row = rows.get(dossier)
            if row is None or attribute_mismatches(row, attrs):
                candidates.add(dossier)
        return live, candidates

    async def _live_rows(self) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Every live row without its status (for the search attributes), and the dossiers
        whose row its own status contradicts; a page at a time."""
        briefs: dict[str, dict[str, Any]] = {}
        contradicted: set[str] = set()
        after = ""
        while True:
            page = await _registry(case_rows.live_rows(self._pool, after=after, limit=PAGE))
            for record in page:
                dossier = record["dossier"]
                briefs[dossier] = {k: v for k, v in record.items() if k != "status"}
                if inconsistent(record):
                    contradicted.add(dossier)
            if len(page) < PAGE:
                return briefs, contradicted
            after = page[-1]["dossier"]

    # -------------------------------------------------------------- confirming by query

    async def _confirm(self, dossiers: Sequence[str]) -> list[CaseCheck]:
        """Looks at every candidate; those that disagree are looked at again after each
        pause of `SETTLE`, until confirmed (twice the same, nothing in flight) or agreeing;
        one whose query got no answer is asked once more."""
        checks: dict[str, CaseCheck] = {}
        seen: dict[str, list[Difference]] = {}
        pending = list(dossiers)
        for pause in self._settle:
            if not pending:
                break
            if pause:
                await asyncio.sleep(pause)
            looks = await self._bounded(self._look, pending)
            again: list[str] = []
            for dossier, look in zip(pending, looks, strict=True):
                check = CaseCheck(
                    dossier,
                    look.kind,
                    look.differences,
                    look.why,
                    look.live,
                    look.row,
                    look.in_flight,
                    look.seen,
                )
                checks[dossier] = check
                if look.kind == Kind.AGREES:
                    continue
                before = seen.get(dossier)
                seen[dossier] = look.differences
                if look.kind == Kind.UNCHECKED:  # no answer: asked once more, not each pause
                    if before is None:
                        again.append(dossier)
                elif before != look.differences or look.in_flight:
                    again.append(dossier)  # not confirmed yet
            pending = again
        for dossier in pending:  # never settled: in flight or no answer, every time
            check = checks[dossier]
            if check.kind != Kind.UNCHECKED and check.in_flight:
                check.kind, check.why = Kind.UNCHECKED, "a step in progress on every look"
        return list(checks.values())

    async def _bounded(self, fn: Callable[[str], Awaitable[T]], items: Iterable[str]) -> list[T]:
        async def one(item: str) -> T:
            async with self._gate:
                return await fn(item)

        return list(await asyncio.gather(*(one(i) for i in items)))

    async def _look(self, dossier: str) -> _Look:
        handle = self._client.get_workflow_handle(dossier)
        execution: WorkflowExecutionStatus | None = None
        pending_step = False
        live: CaseStatus | None = None
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
            execution = description.status
            pending_step = any(
                a.activity_type.name == RECORD_STEP
                for a in description.raw_description.pending_activities
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                return self._no_answer(dossier, exc)
        if execution is None and await _registry(case_starts.is_pending(self._pool, dossier)):
            # Received while Temporal was down: a drainer starts its case (docs/case-starts.md).
            return _Look(Kind.UNCHECKED, [], None, None, False, "its case is still to be started")
        if execution is not None:
            try:
                live = await handle.query("status", result_type=CaseStatus, rpc_timeout=RPC_TIMEOUT)
            except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                return _Look(Kind.UNCHECKED, [], None, None, False, f"the query failed: {exc}")
            except RPCError as exc:
                return self._no_answer(dossier, exc)
            self._silent = 0
        try:
            row = await _registry(case_rows.get(self._pool, dossier))
        except case_rows.UnreadableStatus as exc:
            found = unreadable(dossier, exc, live, execution)
            at = (exc.last_step, exc.last_step_at)
            return _Look(Kind.DIFFERS, found, live, None, pending_step, seen=at)
        kind, found = judge(dossier, row, live, execution)
        seen = (row.last_step, row.last_step_at) if row is not None else None
        return _Look(kind, found, live, row, pending_step or row_ahead(row, live), seen=seen)

    def _no_answer(self, dossier: str, exc: RPCError) -> _Look:
        if exc.status in (RPCStatusCode.UNAVAILABLE,):
            raise Unavailable("Temporal", exc.message) from exc
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            self._silent += 1
            if self._silent >= NO_WORKER_AFTER:
                raise Unavailable(
                    "the worker",
                    f"{self._silent} queries in a row got no answer in time "
                    "(no worker running the cases?)",
                ) from exc
            return _Look(Kind.UNCHECKED, [], None, None, False, "no answer in time")
        return _Look(Kind.UNCHECKED, [], None, None, False, f"Temporal: {exc.message}")

    # -------------------------------------------------------------- flags

    async def _flag_executions(self, checks: Iterable[CaseCheck]) -> None:
        """A workflow that ended abnormally while its row says live (terminated, failed,
        timed out, canceled) is a fact the registry cannot see by itself: recorded on the
        row, the case leaves the lists of those who would act on it and shows in the
        department's failed-or-stuck list until ops decide (runbook 3d). Not a repair: it
        stays reported."""
        for check in checks:
            for found in check.differences:
                if found.field == "execution":
                    await _registry(
                        case_rows.flag_execution(
                            self._pool, check.dossier, str(found.workflow), datetime.now(UTC)
                        )
                    )

    # -------------------------------------------------------------- repair

    async def _repair(self, checks: list[CaseCheck]) -> None:
        async def one(check: CaseCheck) -> None:
            try:
                async with self._pool.acquire() as conn:
                    live = check.live
                    if live is None:  # Temporal no longer has it: the registry's record
                        live = await case_records.case_status(conn, check.dossier)
                    if live is None:
                        check.why = "not written: the registry has no application for it"
                        return
                    row = repaired_row(check.seen, live)
                    if check.kind == Kind.MISSING:
                        done = await case_rows.write_if_missing(conn, row)
                        check.why = "written" if done else "not written: a step wrote it meanwhile"
                    else:
                        assert check.seen is not None
                        done = await case_rows.replace(conn, row, seen=check.seen[1])
                        check.why = (
                            "rewritten" if done else "not rewritten: a step changed it meanwhile"
                        )
            except asyncpg.ForeignKeyViolationError:
                check.why = "not written: the registry has no application for it"
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise Unavailable("the registry", str(exc)) from exc
            check.repaired = done

        by_dossier = {c.dossier: c for c in checks}
        await self._bounded(lambda d: one(by_dossier[d]), by_dossier)
        # A repair is checked like any case: it must agree now.
        for check, look in zip(
            checks, await self._bounded(self._look, [c.dossier for c in checks]), strict=True
        ):
            if check.repaired and look.kind != Kind.AGREES:
                check.repaired = False
                check.why += "; still differs after the repair"


async def _registry(call: Awaitable[T]) -> T:
    try:
        return await call
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise Unavailable("the registry", str(exc) or type(exc).__name__) from exc


async def reconcile(
    client: Client,
    pool: asyncpg.Pool[Any],
    *,
    repair: bool = False,
    full: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    settle: Sequence[float] = SETTLE,
    record: bool = True,
) -> Report:
    """One reconciliation run; stored for the gauges unless `record` is False."""
    report = await Reconciler(client, pool, concurrency=concurrency, settle=settle).run(
        repair=repair, full=full
    )
    if record:
        await _registry(reconcile_runs.record(pool, report.run()))
    return report

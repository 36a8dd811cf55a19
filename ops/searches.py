"""The saved searches ops run in the Temporal Web UI and with `temporal workflow list --query`.

Written once here; the table of docs/ops.md, `python -m ops`, the domain metrics and the tests all
use these builders, so a search that is documented is a search that is tested.

Every search that looks at live cases filters on `ExecutionStatus = 'Running'`: a case that
continued as new leaves a closed run behind with the same search attributes, which would
otherwise be counted twice. Dates are compared as instants: a deadline's `due_at` (what
`OdbNextDeadline` and `OdbRemovalOn` hold) is the end of its last day in Brussels, so "the
last day falls in week W" is "due_at in (start of W, start of W+1]", written as
[start + 1 s, start of W+1 + 1 s): the dev server's SQLite visibility compares datetimes as
text, so an instant equal to a bound must never decide the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from models.case import CaseState, DeadlineKind
from models.enterprise import normalise_enterprise_number
from models.identity import RoleKind, normalise_body
from rules.deadlines import BRUSSELS
from rules.guards import REFUSAL_FINAL_AFTER_DAYS

CASES = "WorkflowType = 'ApplicationWorkflow'"
RUNNING = "ExecutionStatus = 'Running'"
# A closed run that continued as new is not a case of its own.
NOT_CARRIED_OVER = "ExecutionStatus != 'ContinuedAsNew'"
FAILED_STATUSES = ("Failed", "TimedOut", "Terminated", "Canceled")
# A deadline's timer fires at due_at; a running case still showing a deadline this long
# after it passed is not being processed (no worker, a failing workflow task, ...).
STUCK_AFTER = timedelta(hours=1)


def _instant(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("now: give a timezone-aware instant (e.g. datetime.now(UTC))")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BRUSSELS)


_TICK = timedelta(seconds=1)


def _due_within(attribute: str, start: datetime, end: datetime) -> tuple[str, str]:
    """`attribute` (a due_at) in (start, end], for bounds that are ends of days."""
    return (
        f"{attribute} >= '{_instant(start + _TICK)}'",
        f"{attribute} < '{_instant(end + _TICK)}'",
    )


def all_of(*parts: str) -> str:
    return " AND ".join(parts)


def cases_in_state(state: CaseState) -> str:
    """Cases in `state`: running ones, or for `ended` the closed runs that ended the case."""
    status = "Completed" if state == CaseState.ENDED else "Running"
    return all_of(CASES, f"ExecutionStatus = '{status}'", f"OdbState = '{state.value}'")


def cases_waiting_for(who: str) -> str:
    """Running cases where `who` (reviewer, provider, bec, department, nobody) acts next."""
    return all_of(CASES, RUNNING, f"OdbWaitingFor = '{who}'")


def waiting_for_reviewer(body: str) -> str:
    """Cases under review, waiting for a reviewer of `body` ('VOC' or 'PC 200')."""
    try:
        body = normalise_body(body)
    except ValueError as exc:
        raise ValueError(f"body: {exc}") from exc
    return all_of(
        CASES,
        RUNNING,
        f"OdbState = '{CaseState.UNDER_REVIEW.value}'",
        f"OdbCompetentBody = '{body}'",
    )


def appeals_overdue() -> str:
    """Appeals whose 60-day BEC decision deadline passed without a decision."""
    return all_of(CASES, RUNNING, "OdbOverdue = true")


def waiting_for_bec() -> str:
    """Open appeals (against a refusal or a negative screening) waiting for the BEC: a
    hearing or the decision."""
    return cases_waiting_for("bec")


def appeals_without_document() -> str:
    """Open appeals registered without a motivation document."""
    return all_of(CASES, RUNNING, "OdbAppealWithoutDocument = true")


def appeal_windows_of_provider(provider: str) -> str:
    """The provider's cases where it can act: an appeal window (after a refusal or a
    negative screening) is open."""
    try:
        provider = normalise_enterprise_number(provider)
    except ValueError as exc:
        raise ValueError(f"provider: {exc}") from exc
    return all_of(
        CASES,
        RUNNING,
        f"OdbProvider = '{provider}'",
        "OdbWaitingFor = 'provider'",
        f"OdbNextDeadlineKind = '{DeadlineKind.APPEAL_WINDOW.value}'",
    )


def week_of(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 to next Monday 00:00 (Brussels) of the week `now` falls in."""
    _instant(now)
    today = now.astimezone(BRUSSELS).date()
    monday = today - timedelta(days=today.weekday())
    return _start_of(monday), _start_of(monday + timedelta(days=7))


def appeal_windows_closing_this_week(now: datetime) -> str:
    """Open appeal windows (after a refusal or a negative screening) whose last day falls
    in the week of `now` (Monday to Sunday, Brussels)."""
    start, end = week_of(now)
    return all_of(
        CASES,
        RUNNING,
        f"OdbNextDeadlineKind = '{DeadlineKind.APPEAL_WINDOW.value}'",
        *_due_within("OdbNextDeadline", start, end),
    )


def removals_due_this_year(now: datetime) -> str:
    """Registered trainings that leave the registry on 31 December of the year of `now`."""
    _instant(now)
    year = now.astimezone(BRUSSELS).year
    return all_of(
        CASES,
        RUNNING,
        f"OdbState = '{CaseState.REMOVAL_SCHEDULED.value}'",
        *_due_within("OdbRemovalOn", _start_of(date(year, 1, 1)), _start_of(date(year + 1, 1, 1))),
    )


def cases_of_provider(provider: str) -> str:
    """Every case of one provider (enterprise number), running or ended."""
    try:
        provider = normalise_enterprise_number(provider)
    except ValueError as exc:
        raise ValueError(f"provider: {exc}") from exc
    return all_of(CASES, NOT_CARRIED_OVER, f"OdbProvider = '{provider}'")


def failed_or_stuck(now: datetime) -> str:
    """Cases that need ops: the execution failed, timed out or was terminated or cancelled;
    or it runs but a deadline passed more than an hour before `now` without the case moving
    on; or Temporal reports its workflow task failing again and again.

    A refused case waits on purpose after its appeal window closed: the refusal becomes
    final `REFUSAL_FINAL_AFTER_DAYS` later (room to register an appeal e-mailed in time), so
    it is stuck only an hour past that."""
    _instant(now)
    statuses = ", ".join(f"'{s}'" for s in FAILED_STATUSES)
    stuck_before = _instant(now - STUCK_AFTER)
    refused_stuck_before = _instant(now - STUCK_AFTER - timedelta(days=REFUSAL_FINAL_AFTER_DAYS))
    refused = CaseState.REFUSED.value
    return all_of(
        CASES,
        f"(ExecutionStatus IN ({statuses}) OR ({RUNNING} AND "
        f"((OdbNextDeadline < '{stuck_before}' AND OdbState != '{refused}') "
        f"OR OdbNextDeadline < '{refused_stuck_before}' "
        "OR TemporalReportedProblems IS NOT NULL)))",
    )


@dataclass(frozen=True)
class SavedSearch:
    name: str  # as typed on the command line
    question: str  # the question ops ask
    needs: tuple[str, ...]  # parameters: any of "now", "body", "provider"
    build: Callable[..., str]

    def query(
        self, *, now: datetime | None = None, body: str | None = None, provider: str | None = None
    ) -> str:
        given = {"now": now, "body": body, "provider": provider}
        missing = [k for k in self.needs if given[k] is None]
        if missing:
            raise ValueError(f"{self.name}: needs {', '.join(missing)}")
        try:
            return self.build(**{k: given[k] for k in self.needs})
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from exc


SAVED_SEARCHES: tuple[SavedSearch, ...] = (
    SavedSearch(
        "waiting-for-reviewer",
        "Which cases wait for a reviewer of this body?",
        ("body",),
        waiting_for_reviewer,
    ),
    SavedSearch(
        "appeals-overdue",
        "Which appeals are past their 60-day BEC deadline?",
        (),
        appeals_overdue,
    ),
    SavedSearch(
        "appeal-windows-this-week",
        "Whose appeal window closes this week?",
        ("now",),
        appeal_windows_closing_this_week,
    ),
    SavedSearch(
        "removals-this-year",
        "Which trainings leave the registry on 31 December this year?",
        ("now",),
        removals_due_this_year,
    ),
    SavedSearch(
        "cases-of-provider",
        "Every case of one provider",
        ("provider",),
        cases_of_provider,
    ),
    SavedSearch(
        "failed-or-stuck",
        "Which cases failed, or are stuck past a deadline?",
        ("now",),
        failed_or_stuck,
    ),
    SavedSearch(
        "waiting-for-bec",
        "Which appeals wait for the BEC (a hearing or its decision)?",
        (),
        waiting_for_bec,
    ),
    SavedSearch(
        "appeals-without-document",
        "Which open appeals have no motivation document?",
        (),
        appeals_without_document,
    ),
    SavedSearch(
        "appeal-windows-of-provider",
        "Where can this provider appeal (an appeal window open)?",
        ("provider",),
        appeal_windows_of_provider,
    ),
)
BY_NAME = {s.name: s for s in SAVED_SEARCHES}


class Order(StrEnum):
    """How a worklist sorts (visibility on SQL has no ORDER BY: the list is sorted here)."""

    OLDEST = "oldest"  # longest waiting first (OdbWaitingSince)
    BEC_DEADLINE = "bec_deadline"  # overdue first, then fewest days left (OdbBecDueOn)
    REMOVAL = "removal"  # earliest removal first (OdbRemovalOn)
    NEXT_DEADLINE = "next_deadline"  # nearest deadline first (OdbNextDeadline)
    STUCK = "stuck"  # longest failed or stuck first


@dataclass(frozen=True)
class Worklist:
    """What waits for one role: a saved search (by name), whose parameter comes from the
    caller (a reviewer's body, a provider's organisation), and how it sorts."""

    search: str
    role: RoleKind
    order: Order

    @property
    def saved(self) -> SavedSearch:
        return BY_NAME[self.search]


# The worklists of GET /worklist and `python -m starter worklist`, per role, in the order
# they are shown. Each is a saved search above: `python -m ops find <search>` lists the same.
WORKLISTS: tuple[Worklist, ...] = (
    Worklist("waiting-for-reviewer", RoleKind.REVIEWER, Order.OLDEST),
    Worklist("waiting-for-bec", RoleKind.BEC, Order.BEC_DEADLINE),
    Worklist("appeals-overdue", RoleKind.DEPARTMENT, Order.BEC_DEADLINE),
    Worklist("removals-this-year", RoleKind.DEPARTMENT, Order.REMOVAL),
    Worklist("failed-or-stuck", RoleKind.DEPARTMENT, Order.STUCK),
    Worklist("appeals-without-document", RoleKind.DEPARTMENT, Order.OLDEST),
    Worklist("appeal-windows-of-provider", RoleKind.PROVIDER, Order.NEXT_DEADLINE),
)
WORKLIST_BY_NAME = {w.search: w for w in WORKLISTS}

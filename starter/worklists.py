"""What waits for whom: `GET /worklist` and `python -m starter worklist`.

Each list is one of `ops/searches.py`'s `WORKLISTS` (its name, role and order; ops run the
same question as a saved search in the Web UI), its parameter taken from the caller's token
(a reviewer's body, a provider's organisation). It is read from the registry's current-state
rows (`registry/worklists.py`): one indexed query per page, sorted in SQL, most urgent or
oldest first, so a decision that answered 200 is off the list on the next read and the
lists answer while Temporal is down.

Paging is by a cursor, not an offset: the cursor holds the list, its parameter and the sort
key of the last item shown, with an HMAC over them. A cursor that was edited, or that was
issued for a list the caller does not have (another body, another organisation), is refused
with 422 naming `cursor`. The cursor is no security boundary (what a caller sees is decided
by the token on every request); the check only makes a broken cursor an error, not a page.
"""

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from models.dutch import dutch_date
from models.identity import Actor, RoleKind
from ops.searches import STUCK_AFTER, WORKLIST_BY_NAME, WORKLISTS, Order, Worklist
from registry import worklists as registry_worklists
from rules.deadlines import BRUSSELS
from runtime.settings import Settings
from starter import cursors
from starter.api.access import forbidden
from starter.api.problems import PROBLEM_RESPONSES
from starter.client import CaseService

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
VISIBILITY_PAGE = 1000

ListName = Literal[
    "waiting-for-reviewer",
    "waiting-for-bec",
    "appeals-overdue",
    "removals-this-year",
    "failed-or-stuck",
    "appeals-without-document",
    "appeal-windows-of-provider",
]
assert set(ListName.__args__) == set(WORKLIST_BY_NAME)  # type: ignore[attr-defined]


class WorklistItem(BaseModel):
    dossier: str
    title: str
    provider: str = Field(description="the provider's enterprise number")
    provider_name: str
    state: str = Field(description="the case's state, or how its execution ended (failed)")
    waiting_since: datetime | None = Field(description="since when it waits for this list")
    days_waiting: int | None
    deadline: str | None = Field(description="the next deadline, in words")
    deadline_on: date | None = Field(description="that deadline's last day")
    overdue: bool = Field(
        description="past its deadline (for a reviewer: waiting longer than the review "
        "service norm; a flag only)"
    )
    missing_hearings: list[str] = Field(
        default_factory=list, description="an open appeal's hearings still missing"
    )
    missing_document: bool = Field(
        default=False, description="an open appeal registered without its motivation document"
    )


class WorklistPage(BaseModel):
    list: str = Field(description="the saved search (python -m ops find <list>)")
    role: str
    parameter: str | None = Field(description="the body (reviewer) or organisation (provider)")
    question: str
    count: int = Field(description="how many items the list holds in all")
    items: builtins.list[WorklistItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class WorklistAnswer(BaseModel):
    lists: list[WorklistPage]


@dataclass(frozen=True)
class Scope:
    worklist: Worklist
    parameter: str | None  # the body of a reviewer, the organisation of a provider

    @property
    def label(self) -> str:
        return self.worklist.search + (f" ({self.parameter})" if self.parameter else "")


def scopes_for(actor: Actor) -> list[Scope]:
    """The lists the caller's roles give, in the order of WORKLISTS."""
    scopes: list[Scope] = []
    for wl in WORKLISTS:
        if wl.role == RoleKind.REVIEWER:
            bodies = sorted({r.body for r in actor.roles if r.kind == wl.role and r.body})
            scopes += [Scope(wl, body) for body in bodies]
        elif wl.role == RoleKind.PROVIDER:
            if actor.has(RoleKind.PROVIDER) and actor.organisation:
                scopes.append(Scope(wl, actor.organisation))
        elif actor.has(wl.role):
            scopes.append(Scope(wl, None))
    return scopes


# ---- the cursor ----


def encode_cursor(settings: Settings, scope: Scope, key: Sequence[str]) -> str:
    return cursors.encode(settings, "worklist", scope.worklist.search, scope.parameter, key)


def decode_cursor(settings: Settings, cursor: str) -> tuple[str, str | None, tuple[str, ...]]:
    """(list, parameter, sort key of the last item shown); 422 naming `cursor` otherwise."""
    return cursors.decode(settings, "worklist", cursor)


# ---- reading the registry ----


def _brussels_day(value: datetime) -> date:
    return value.astimezone(BRUSSELS).date()


def _days(n: int) -> str:
    return f"{n} day" if abs(n) == 1 else f"{n} days"


def _params(scope: Scope, now: datetime) -> tuple[Any, ...]:
    """The list's query parameters: the caller's body or organisation, or the moment."""
    name = scope.worklist.search
    if name in ("waiting-for-reviewer", "appeal-windows-of-provider"):
        return (scope.parameter,)
    if name == "removals-this-year":
        year = _brussels_day(now).year
        return (date(year, 1, 1), date(year, 12, 31))
    if name == "failed-or-stuck":
        return (now - STUCK_AFTER,)
    return ()


def _item(row: Any, order: Order, now: datetime, norm_days: int) -> WorklistItem:
    """One line of a list, in the words of its order (what is due, whether it is late)."""
    today = _brussels_day(now)
    since: datetime | None = row["waiting_since"]
    item: dict[str, Any] = {
        "dossier": row["dossier"],
        "title": row["title"],
        "provider": row["provider"],
        "provider_name": row["provider_name"],
        "state": row["state"],
        "waiting_since": since,
        "days_waiting": (today - _brussels_day(since)).days if since else None,
        "deadline": None,
        "deadline_on": None,
        "overdue": False,
        "missing_hearings": [],
        "missing_document": False,
    }
    if order == Order.OLDEST and row["state"] == "under_review" and since is not None:
        norm_day = _brussels_day(since) + timedelta(days=norm_days)
        over = today > norm_day
        item["deadline_on"] = norm_day
        item["overdue"] = over
        item["deadline"] = (
            f"review service norm ({norm_days} days) "
            f"{'passed on' if over else 'reached on'} {dutch_date(norm_day)}"
        )
    elif order in (Order.BEC_DEADLINE, Order.OLDEST):
        missing = row["missing_hearings"] or ""
        item["missing_hearings"] = [m for m in missing.split(",") if m and m != "none"]
        item["missing_document"] = bool(row["appeal_without_document"])
        overdue = bool(row["overdue"])
        item["overdue"] = overdue
        due: date | None = row["bec_due_on"]
        if due is not None:
            left = (due - today).days
            item["deadline_on"] = due
            item["deadline"] = (
                f"BEC decision was due by {dutch_date(due)} ({_days(-left)} overdue)"
                if overdue
                else f"BEC decision due by {dutch_date(due)} ({_days(left)} left)"
            )
    elif order == Order.REMOVAL and row["removal_on"] is not None:
        last: date = row["removal_on"]
        item["deadline_on"] = last
        item["deadline"] = f"removal from the registry after {dutch_date(last)}"
        item["overdue"] = today > last
    elif order == Order.NEXT_DEADLINE and row["next_deadline_at"] is not None:
        item["deadline_on"] = row["next_deadline_on"]
        item["deadline"] = f"appeal possible until {dutch_date(row['next_deadline_on'])}"
        item["overdue"] = row["next_deadline_at"] <= now
    elif order == Order.STUCK and row["execution"] is not None:
        at: datetime = row["execution_at"]
        item["state"] = row["execution"]
        item["overdue"] = True
        item["deadline"] = f"the case's execution {row['execution'].replace('_', ' ')}"
        item["waiting_since"] = at
        item["days_waiting"] = (today - _brussels_day(at)).days
    elif order == Order.STUCK:
        # A live case an hour and more past the moment its own timer should have moved it
        # on (no worker, a failing workflow task).
        passed: datetime = row["wakes_at"]
        item["overdue"] = True
        item["deadline_on"] = row["next_deadline_on"]
        item["deadline"] = (
            f"a deadline passed on {dutch_date(row['next_deadline_on'])} without the case moving on"
        )
        item["waiting_since"] = passed
        item["days_waiting"] = (today - _brussels_day(passed)).days
    return WorklistItem(**item)


async def _page(
    service: CaseService,
    scope: Scope,
    *,
    after: tuple[str, ...] | None,
    limit: int,
    now: datetime,
) -> WorklistPage:
    settings = service.settings
    name = scope.worklist.search
    found = await service._db(
        lambda conn: registry_worklists.page(conn, name, _params(scope, now), after, limit)
    )
    norm = settings.review.service_norm_days
    last = found.rows[-1] if found.rows else None
    return WorklistPage(
        list=name,
        role=scope.worklist.role.value,
        parameter=scope.parameter,
        question=scope.worklist.saved.question,
        count=found.count,
        items=[_item(r, scope.worklist.order, now, norm) for r in found.rows],
        next_cursor=encode_cursor(settings, scope, registry_worklists.sort_key(name, last))
        if found.more and last is not None
        else None,
    )


async def worklist(
    service: CaseService,
    actor: Actor,
    *,
    list_name: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
) -> WorklistAnswer:
    """The caller's lists (or one of them), first page each; with a cursor, its next page."""
    now = now or datetime.now(UTC)
    scopes = scopes_for(actor)
    if not scopes:
        raise forbidden(
            "no worklist for your roles: worklists are for reviewers, the BEC, the department "
            "and provider users"
        )
    after: tuple[str, ...] | None = None
    if cursor is not None:
        name, parameter, after = decode_cursor(service.settings, cursor)
        if list_name is not None and list_name != name:
            raise cursors.bad_cursor(f"it continues the list {name!r}, not {list_name!r}")
        scopes = [s for s in scopes if (s.worklist.search, s.parameter) == (name, parameter)]
        if not scopes:
            raise cursors.bad_cursor("it was issued for a list your roles do not give you")
        kinds = [kind for _, kind in registry_worklists.LISTS[name].order]
        after = cursors.sort_key(after, kinds)
    elif list_name is not None:
        scopes = [s for s in scopes if s.worklist.search == list_name]
        if not scopes:
            raise forbidden(
                f"the list {list_name!r} is for the role {WORKLIST_BY_NAME[list_name].role.value}"
                ", which you do not have",
                field="list",
            )
    pages = [await _page(service, s, after=after, limit=limit, now=now) for s in scopes]
    return WorklistAnswer(lists=pages)


# ---- the route ----


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


def router(actor_dependency: Any) -> APIRouter:
    """GET /worklist; `actor_dependency` is the API's verified-token dependency."""
    routes = APIRouter(responses=PROBLEM_RESPONSES)

    @routes.get(
        "/worklist",
        response_model=WorklistAnswer,
        tags=["worklists"],
        summary="What waits for the caller's roles, most urgent or oldest first, with counts",
    )
    async def read_worklist(
        actor: Annotated[Actor, Depends(actor_dependency)],
        service: Annotated[CaseService, Depends(_service)],
        list_name: Annotated[
            ListName | None,
            Query(alias="list", description="only this list (default: every list of your roles)"),
        ] = None,
        cursor: Annotated[
            str | None,
            Query(
                max_length=cursors.CURSOR_MAX,
                pattern=cursors.CURSOR_PATTERN,
                description="next_cursor of a page, as given (opaque, signed): the next page "
                "of that list; any other value is refused (422 naming `cursor`)",
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description="items per list and page")
        ] = DEFAULT_LIMIT,
    ) -> WorklistAnswer:
        return await worklist(service, actor, list_name=list_name, cursor=cursor, limit=limit)

    return routes

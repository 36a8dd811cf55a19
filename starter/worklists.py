"""What waits for whom: `GET /worklist` and `python -m starter worklist`.

Each list is a saved search of `ops/searches.py` (`WORKLISTS`: one visibility query per
list, never a scan of all cases), its parameter taken from the caller's token (a reviewer's
body, a provider's organisation). Temporal's SQL visibility (the dev server's SQLite) has no
ORDER BY, so a list's matches are read (the SDK pages through them) and sorted here, most
urgent or oldest first; titles come from the registry, one query per page.

Paging is by a cursor, not an offset: the cursor holds the list, its parameter and the sort
key of the last item shown, with an HMAC over them. A cursor that was edited, or that was
issued for a list the caller does not have (another body, another organisation), is refused
with 422 naming `cursor`. The cursor is no security boundary (what a caller sees is decided
by the token on every request); the check only makes a broken cursor an error, not a page.
"""

import base64
import binascii
import builtins
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.dutch import dutch_date
from models.identity import Actor, RoleKind
from ops.searches import WORKLIST_BY_NAME, WORKLISTS, Order, Worklist
from registry import worklists as registry_worklists
from rules.deadlines import BRUSSELS
from runtime.settings import Settings
from starter.api.access import forbidden
from starter.api.problems import PROBLEM_RESPONSES, Problem
from starter.auth import cursor_key
from starter.client import TEMPORAL, CaseService, Unavailable

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
VISIBILITY_PAGE = 1000
CURSOR_MAX = 1000
_SIG_BYTES = 16

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


def _key(settings: Settings) -> bytes:
    return cursor_key(settings, "worklist")


# The cursor's shape: base64url payload, a dot, base64url signature (encode_cursor).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(settings: Settings, scope: Scope, key: Sequence[str]) -> str:
    payload = json.dumps(
        {"l": scope.worklist.search, "p": scope.parameter, "k": list(key)},
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    sig = hmac.new(_key(settings), payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(payload)}.{_b64(sig)}"


def _bad_cursor(detail: str) -> Problem:
    return Problem(422, "invalid-input", "Invalid input", f"cursor: {detail}", field="cursor")


def decode_cursor(settings: Settings, cursor: str) -> tuple[str, str | None, tuple[str, ...]]:
    """(list, parameter, sort key of the last item shown); 422 naming `cursor` otherwise."""
    try:
        body, sig = cursor.split(".")
        payload, given = _unb64(body), _unb64(sig)
    except (ValueError, binascii.Error) as exc:
        raise _bad_cursor("not a cursor this API gave out (malformed)") from exc
    expected = hmac.new(_key(settings), payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if not hmac.compare_digest(given, expected):
        raise _bad_cursor("not a cursor this API gave out (altered or from elsewhere)")
    try:
        data: Any = json.loads(payload)
        found = data["l"], data["p"], tuple(data["k"])
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad_cursor("not a cursor this API gave out (unreadable)") from exc
    if not (
        isinstance(found[0], str)
        and (found[1] is None or isinstance(found[1], str))
        and all(isinstance(part, str) for part in found[2])
    ):
        raise _bad_cursor("not a cursor this API gave out (unreadable)")
    return found


# ---- reading visibility ----


async def _matches(client: Client, query: str) -> list[WorkflowExecution]:
    try:
        found: dict[str, WorkflowExecution] = {}
        async for wf in client.list_workflows(query, page_size=VISIBILITY_PAGE):
            found.setdefault(wf.id, wf)  # a workflow id once (its latest run first)
        return list(found.values())
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:
            raise Unavailable(
                TEMPORAL, "this server answers no visibility queries (list workflows)"
            ) from exc
        raise Unavailable(TEMPORAL, "cannot answer the list", cause=exc.message) from exc


@dataclass(frozen=True)
class _Row:
    dossier: str
    sort_key: tuple[str, ...]
    item: dict[str, Any]


def _instant_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _brussels_day(value: datetime) -> date:
    return value.astimezone(BRUSSELS).date()


def _last_day(due_at: datetime) -> date:
    """A deadline's last day from its due_at (the end of that day in Brussels)."""
    return _brussels_day(due_at - timedelta(microseconds=1))


def _days(n: int) -> str:
    return f"{n} day" if abs(n) == 1 else f"{n} days"


def _row(wf: WorkflowExecution, order: Order, now: datetime, norm_days: int) -> _Row:
    sa = wf.typed_search_attributes
    today = _brussels_day(now)
    state = sa.get(search.STATE) or ""
    since = sa.get(search.WAITING_SINCE)
    if since is None and state == "under_review":
        since = wf.start_time  # a case recorded before OdbWaitingSince
    item: dict[str, Any] = {
        "dossier": wf.id,
        "provider": sa.get(search.PROVIDER) or "",
        "state": state,
        "waiting_since": since,
        "days_waiting": (today - _brussels_day(since)).days if since else None,
        "deadline": None,
        "deadline_on": None,
        "overdue": False,
        "missing_hearings": [],
    }
    since_text = _instant_text(since) if since else ""
    if order == Order.OLDEST and state == "under_review":
        assert since is not None
        norm_day = _brussels_day(since) + timedelta(days=norm_days)
        over = today > norm_day
        item["deadline_on"] = norm_day
        item["overdue"] = over
        item["deadline"] = (
            f"review service norm ({norm_days} days) "
            f"{'passed on' if over else 'reached on'} {dutch_date(norm_day)}"
        )
        return _Row(wf.id, (since_text, wf.id), item)
    if order in (Order.BEC_DEADLINE, Order.OLDEST):
        due_text = sa.get(search.BEC_DUE_ON)
        missing = sa.get(search.MISSING_HEARINGS) or ""
        item["missing_hearings"] = [m for m in missing.split(",") if m and m != "none"]
        overdue = bool(sa.get(search.OVERDUE))
        item["overdue"] = overdue
        due = date.fromisoformat(due_text) if due_text else None
        if due is not None:
            left = (due - today).days
            item["deadline_on"] = due
            item["deadline"] = (
                f"BEC decision was due by {dutch_date(due)} ({_days(-left)} overdue)"
                if overdue
                else f"BEC decision due by {dutch_date(due)} ({_days(left)} left)"
            )
        if order == Order.OLDEST:
            return _Row(wf.id, (since_text, wf.id), item)
        return _Row(wf.id, ("0" if overdue else "1", due_text or "", wf.id), item)
    if order == Order.REMOVAL:
        removal = sa.get(search.REMOVAL_ON)
        if removal is not None:
            last = _last_day(removal)
            item["deadline_on"] = last
            item["deadline"] = f"removal from the registry after {dutch_date(last)}"
            item["overdue"] = removal <= now
        return _Row(wf.id, (_instant_text(removal) if removal else "", wf.id), item)
    if order == Order.NEXT_DEADLINE:
        nxt = sa.get(search.NEXT_DEADLINE)
        if nxt is not None:
            last = _last_day(nxt)
            item["deadline_on"] = last
            item["deadline"] = f"appeal possible until {dutch_date(last)}"
            item["overdue"] = nxt <= now
        return _Row(wf.id, (_instant_text(nxt) if nxt else "", wf.id), item)
    # Order.STUCK: failed executions since they closed, running ones since their deadline.
    item["overdue"] = True
    if wf.status != WorkflowExecutionStatus.RUNNING and wf.status is not None:
        item["state"] = wf.status.name.lower()
        stuck_since = wf.close_time or wf.start_time
        item["deadline"] = f"the case's execution {wf.status.name.lower().replace('_', ' ')}"
    else:
        nxt = sa.get(search.NEXT_DEADLINE)
        stuck_since = nxt or wf.start_time
        item["deadline"] = (
            f"a deadline passed on {dutch_date(_last_day(nxt))} without the case moving on"
            if nxt
            else "Temporal reports its workflow task failing"
        )
        item["deadline_on"] = _last_day(nxt) if nxt else None
    item["waiting_since"] = stuck_since
    item["days_waiting"] = (today - _brussels_day(stuck_since)).days
    return _Row(wf.id, (_instant_text(stuck_since), wf.id), item)


async def _page(
    service: CaseService,
    scope: Scope,
    *,
    after: tuple[str, ...] | None,
    limit: int,
    now: datetime,
) -> WorklistPage:
    settings = service.settings
    query = scope.worklist.saved.query(now=now, body=scope.parameter, provider=scope.parameter)
    matches = await _matches(await service.client(), query)
    rows = sorted(
        (_row(wf, scope.worklist.order, now, settings.review.service_norm_days) for wf in matches),
        key=lambda r: r.sort_key,
    )
    rest = [r for r in rows if after is None or r.sort_key > after]
    shown = rest[:limit]
    names = await service._db(
        lambda conn: registry_worklists.titles(conn, [r.dossier for r in shown])
    )
    items = [
        WorklistItem(
            **r.item,
            title=names.get(r.dossier, ("", ""))[0],
            provider_name=names.get(r.dossier, ("", ""))[1],
        )
        for r in shown
    ]
    more = len(rest) > limit
    return WorklistPage(
        list=scope.worklist.search,
        role=scope.worklist.role.value,
        parameter=scope.parameter,
        question=scope.worklist.saved.question,
        count=len(rows),
        items=items,
        next_cursor=encode_cursor(settings, scope, shown[-1].sort_key) if more else None,
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
            raise _bad_cursor(f"it continues the list {name!r}, not {list_name!r}")
        scopes = [s for s in scopes if (s.worklist.search, s.parameter) == (name, parameter)]
        if not scopes:
            raise _bad_cursor("it was issued for a list your roles do not give you")
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
                max_length=CURSOR_MAX,
                pattern=CURSOR_PATTERN,
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

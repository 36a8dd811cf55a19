"""The worklists, read from the cases' current-state rows (`case_rows`, migration 0700).

Each list is one indexed range scan in its own order (the partial indexes of 0700 match the
WHERE and ORDER BY below), paged by keyset: a page starts after the sort key of the last
item shown, so a page costs the same at the first item as at the 5,000th. The count is a
second query on the same index. Each index holds the columns its list filters on (0940), so
the count and the choice of a page's dossiers read the index only, never a case's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from registry.case_starts import NOT_STARTING
from registry.db import Db


@dataclass(frozen=True)
class ListQuery:
    # The list's filter; $1.. are its parameters (a body, an organisation, a moment).
    where: str
    # The sort, as (expression, its PostgreSQL type): the keyset compares in this order.
    order: tuple[tuple[str, str], ...]


# Cases whose workflow ended abnormally (flagged by reconcile) wait for no one but ops.
_LIVE = "r.execution IS NULL AND "

LISTS: dict[str, ListQuery] = {
    "waiting-for-reviewer": ListQuery(
        _LIVE + "r.state = 'under_review' AND r.competent_body = $1",
        (("r.waiting_since", "timestamptz"), ("r.dossier", "text")),
    ),
    "waiting-for-bec": ListQuery(
        _LIVE + "r.waiting_for = 'bec'",
        (("(NOT r.overdue)", "boolean"), ("r.bec_due_on", "date"), ("r.dossier", "text")),
    ),
    "appeals-overdue": ListQuery(
        _LIVE + "r.overdue", (("r.bec_due_on", "date"), ("r.dossier", "text"))
    ),
    "removals-this-year": ListQuery(
        _LIVE + "r.state = 'removal_scheduled' AND r.removal_on BETWEEN $1 AND $2",
        (("r.removal_on", "date"), ("r.dossier", "text")),
    ),
    # Failed: reconcile found its workflow ended abnormally; stuck: a live case an hour and
    # more past the moment its own timer should have moved it on (no worker, a failing task).
    "failed-or-stuck": ListQuery(
        "(r.execution IS NOT NULL OR (r.state <> 'ended' AND r.wakes_at IS NOT NULL))"
        " AND (r.execution IS NOT NULL OR r.wakes_at < $1)",
        (("coalesce(r.execution_at, r.wakes_at)", "timestamptz"), ("r.dossier", "text")),
    ),
    "appeals-without-document": ListQuery(
        _LIVE + "r.appeal_without_document",
        (("r.waiting_since", "timestamptz"), ("r.dossier", "text")),
    ),
    "appeal-windows-of-provider": ListQuery(
        _LIVE + "r.provider = $1 AND r.waiting_for = 'provider' "
        "AND r.next_deadline_kind = 'appeal_window'",
        (("r.next_deadline_at", "timestamptz"), ("r.dossier", "text")),
    ),
}

_ITEM = """r.dossier, r.title, r.provider, a.provider_name, r.state, r.waiting_since,
           r.next_deadline_at, r.next_deadline_on, r.bec_due_on, r.overdue,
           r.missing_hearings, r.appeal_without_document, r.removal_on, r.execution,
           r.execution_at, r.wakes_at"""


@dataclass(frozen=True)
class ListPage:
    count: int
    rows: list[asyncpg.Record]
    more: bool


def _key_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).lower() if isinstance(value, bool) else str(value)


def sort_key(name: str, row: asyncpg.Record) -> tuple[str, ...]:
    """The row's place in its list, as text (what a cursor carries)."""
    values = {
        "r.waiting_since": row["waiting_since"],
        "(NOT r.overdue)": not row["overdue"],
        "r.bec_due_on": row["bec_due_on"],
        "r.dossier": row["dossier"],
        "r.removal_on": row["removal_on"],
        "r.next_deadline_at": row["next_deadline_at"],
        "coalesce(r.execution_at, r.wakes_at)": row["execution_at"] or row["wakes_at"],
    }
    return tuple(_key_value(values[expr]) for expr, _ in LISTS[name].order)


@dataclass(frozen=True)
class Statements:
    page: str  # the page's rows (one more than asked: whether there is a next page)
    page_args: list[Any]
    count: str  # how many the list holds in all
    count_args: list[Any]


def statements(
    name: str, params: Sequence[Any], after: Sequence[str] | None, limit: int
) -> Statements:
    """The two statements of one page of list `name` (what `page` runs)."""
    query = LISTS[name]
    args: list[Any] = list(params)
    # A dossier whose case is still to be started waits for no person yet.
    listed = f"({query.where}) AND {NOT_STARTING}"
    where = listed
    if after is not None:
        n = len(args)
        columns = ", ".join(expr for expr, _ in query.order)
        bounds = ", ".join(f"${n + i + 1}::text::{kind}" for i, (_, kind) in enumerate(query.order))
        where += f" AND ({columns}) > ({bounds})"
        args += list(after)
    order = ", ".join(expr for expr, _ in query.order)
    # The page's dossiers first, from the list's index alone (its filter and sort columns are
    # in it, migration 0940); only those rows are read whole.
    return Statements(
        page=f"""SELECT {_ITEM}
            FROM (SELECT r.dossier FROM case_rows r WHERE {where}
                  ORDER BY {order} LIMIT {int(limit) + 1}) AS listed
            JOIN case_rows r USING (dossier) JOIN applications a USING (dossier)
            ORDER BY {order}""",
        page_args=args,
        count=f"SELECT count(*) FROM case_rows r WHERE {listed}",
        count_args=list(params),
    )


async def page(
    db: Db, name: str, params: Sequence[Any], after: Sequence[str] | None, limit: int
) -> ListPage:
    """One page of list `name`: the items after `after` (a sort key), at most `limit`."""
    sql = statements(name, params, after, limit)
    rows = await db.fetch(sql.page, *sql.page_args)
    count = await db.fetchval(sql.count, *sql.count_args)
    return ListPage(count=int(count), rows=list(rows[:limit]), more=len(rows) > limit)

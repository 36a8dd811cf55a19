"""The cases' current-state rows (migration 0700): written with each step, read by the portal.

`write` runs inside the step's transaction (registry/steps.py) and the submission's
(registry/applications.py). A row only moves forward: a step recorded late (a retry that
lost a race, a backfill) never overwrites a row of a later step.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from models.case import CaseStatus
from models.case_row import CaseRow, DossierListItem, DossierView
from registry.case_starts import STARTING
from registry.db import Conn, Db
from rules import case_view

# As many as the case itself keeps (workflows: SCREENINGS_KEPT, HISTORY_KEPT).
SCREENINGS_SHOWN = 5
HISTORY_SHOWN = 30
# The case's state as the portal and the worklists read it: every column a list filters,
# sorts or shows (ops reconcile compares these, and the stored status, with the live
# status's).
STATE_FIELDS: tuple[str, ...] = (
    "provider",
    "competent_body",
    "title",
    "state",
    "end_reason",
    "waiting_for",
    "next_step",
    "waiting_since",
    "next_deadline_kind",
    "next_deadline_on",
    "next_deadline_at",
    "wakes_at",
    "open_appeal",
    "bec_due_on",
    "overdue",
    "missing_hearings",
    "appeal_without_document",
    "removal_on",
    "submitted_at",
)
_COLUMNS = ("dossier", *STATE_FIELDS, "last_step", "last_step_at")
_PLACEHOLDERS = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 2))
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_COLUMNS[1:], "status"))
# A step's row is a live case again: whatever reconcile flagged about its execution is over.
_WRITE = f"""
    INSERT INTO case_rows ({", ".join(_COLUMNS)}, status)
    VALUES ({_PLACEHOLDERS}::jsonb)
    ON CONFLICT (dossier) DO UPDATE SET {_UPDATES}, written_at = now(),
        execution = NULL, execution_at = NULL
    WHERE case_rows.last_step_at <= EXCLUDED.last_step_at"""


def _values(row: CaseRow) -> list[Any]:
    data = row.model_dump()
    # The status as a JSON object (the connection's codec encodes it); rows written before
    # this held its JSON text, which `_json` reads alike.
    return [data[c] for c in _COLUMNS] + [row.status.model_dump(mode="json")]


async def write(conn: Conn, row: CaseRow) -> None:
    await conn.execute(_WRITE, *_values(row))


async def write_many(conn: Conn, rows: list[CaseRow]) -> None:
    """Rows of cases seeded straight into the registry (demo, benchmarks), in one batch."""
    await conn.executemany(_WRITE, [_values(row) for row in rows])


async def write_if_missing(conn: Conn, row: CaseRow) -> bool:
    """A backfill's row: only for a case that has none yet (a step's row always wins)."""
    done = await conn.fetchval(
        f"""INSERT INTO case_rows ({", ".join(_COLUMNS)}, status)
            VALUES ({_PLACEHOLDERS}::jsonb)
            ON CONFLICT (dossier) DO NOTHING RETURNING true""",
        *_values(row),
    )
    return bool(done)


async def flag_execution(db: Db, dossier: str, execution: str, at: datetime) -> bool:
    """Marks a case whose workflow ended abnormally (terminated, failed, timed out,
    canceled) while its row says it is live: it leaves the worklists of the people who
    would act on it and shows in the department's failed-or-stuck list. For reconcile."""
    done = await db.fetchval(
        """UPDATE case_rows SET execution = $2, execution_at = $3
           WHERE dossier = $1 AND execution IS DISTINCT FROM $2 RETURNING true""",
        dossier,
        execution,
        at,
    )
    return bool(done)


# ---- reconciliation (ops/reconcile.py): the rows without their case, and a checked rewrite

_BRIEF = ", ".join(_COLUMNS)


async def live_rows(db: Db, *, after: str = "", limit: int = 1000) -> list[asyncpg.Record]:
    """A page of the rows of cases that have not ended, in dossier order after `after`,
    each with its `status` as JSON text (`row_from` reads it): what reconciliation's first
    pass compares with the search attributes and with the row's own status. Paged, so a
    large registry is never held in memory at once."""
    return list(
        await db.fetch(
            f"""SELECT {_BRIEF}, status::text AS status FROM case_rows
                WHERE state <> 'ended' AND dossier > $1 ORDER BY dossier LIMIT $2""",
            after,
            limit,
        )
    )


async def briefs_of(db: Db, dossiers: list[str]) -> list[dict[str, Any]]:
    """The rows of these dossiers (those that have one), without their `status`."""
    rows = await db.fetch(
        f"SELECT {_BRIEF} FROM case_rows WHERE dossier = ANY($1::text[])", dossiers
    )
    return [dict(r) for r in rows]


async def without_row(db: Db) -> list[str]:
    """The registry's dossiers that have no row: cases from before the rows (live ones until
    their next step, ended ones for good) that reconciliation has not given one yet."""
    rows = await db.fetch(
        """SELECT a.dossier FROM applications a
           WHERE NOT EXISTS (SELECT 1 FROM case_rows r WHERE r.dossier = a.dossier)
           ORDER BY a.dossier"""
    )
    return [r["dossier"] for r in rows]


_REPLACE = f"""
    UPDATE case_rows SET ({", ".join(_COLUMNS[1:])}, status, written_at, execution,
                          execution_at)
        = ({", ".join(f"${i}" for i in range(2, len(_COLUMNS) + 1))},
           ${len(_COLUMNS) + 1}::jsonb, now(), NULL, NULL)
    WHERE dossier = $1 AND last_step_at = ${len(_COLUMNS) + 2}
    RETURNING true"""


async def replace(conn: Conn, row: CaseRow, *, seen: datetime) -> bool:
    """Reconciliation's rewrite of a row found to differ from its case: only while the stored
    row is still the one compared (its `last_step_at` is `seen`), so a step recorded since
    wins. False when it changed meanwhile (or is gone)."""
    done = await conn.fetchval(_REPLACE, *_values(row), seen)
    return bool(done)


def _json(value: Any) -> Any:
    """A json column as data (a pool's connections decode it; a bare connection may not)."""
    return json.loads(value) if isinstance(value, str) else value


class UnreadableStatus(ValueError):
    """A row whose stored `status` is not a case (damaged, or written by hand): the portal
    cannot serve the dossier from it. Carries the row's step, so reconciliation can report
    it and rewrite exactly that row."""

    def __init__(self, dossier: str, last_step: str, last_step_at: datetime, why: str) -> None:
        super().__init__(f"the stored status of {dossier} is not a case: {why}")
        self.dossier = dossier
        self.last_step = last_step
        self.last_step_at = last_step_at
        self.why = why


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'status'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
    return "not a JSON object"


def _status(value: Any) -> CaseStatus:
    # JSON text (`status::text`), a decoded object, or (rows written before the status was
    # stored as an object) a JSON string holding the JSON text.
    if isinstance(value, str) and value.startswith("{"):
        return CaseStatus.model_validate_json(value)  # the common case, parsed at once
    while isinstance(value, str):
        value = json.loads(value)
    return CaseStatus.model_validate(value)


def row_from(record: asyncpg.Record) -> CaseRow:
    """The row as a CaseRow; UnreadableStatus when its status is not a case."""
    data = {c: record[c] for c in _COLUMNS}
    try:
        data["status"] = _status(record["status"])
    except (ValueError, TypeError) as exc:  # ValidationError and JSONDecodeError too
        raise UnreadableStatus(
            record["dossier"], record["last_step"], record["last_step_at"], _why(exc)
        ) from None
    return CaseRow.model_validate(data)


async def get(db: Db, dossier: str) -> CaseRow | None:
    """The dossier's row; UnreadableStatus when its stored status is not a case."""
    record = await db.fetchrow(
        f"SELECT {', '.join(_COLUMNS)}, status FROM case_rows WHERE dossier = $1", dossier
    )
    return None if record is None else row_from(record)


_VIEW = f"""
    SELECT r.last_step, r.last_step_at, r.status, {STARTING} AS starting,
        (SELECT coalesce(json_agg(n ORDER BY n.id), '[]'::json) FROM (
            SELECT id, message_id, kind, step,
                   CASE WHEN status = 'failed' THEN coalesce(last_error, '') ELSE '' END
                       AS rejected
            FROM notifications WHERE dossier = r.dossier AND status <> 'sent') n) AS unsent,
        (SELECT coalesce(json_agg(s ORDER BY s.year), '[]'::json) FROM (
            SELECT year, passed, outcome, score, rubric_version, remarks, notified_on, result_id
            FROM screening_results WHERE dossier = r.dossier
              -- the case knows an outcome from its notice on: a result still to be told
              -- (the run wrote it, its e-mail waits) is not the case's yet
              AND notified_on IS NOT NULL
            ORDER BY year DESC LIMIT {SCREENINGS_SHOWN}) s) AS screenings,
        (SELECT coalesce(json_agg(a ORDER BY a.id), '[]'::json) FROM (
            SELECT id, step, at, actor AS by, event FROM audit WHERE dossier = r.dossier
            ORDER BY id DESC LIMIT {HISTORY_SHOWN}) a) AS history
    FROM case_rows r WHERE r.dossier = $1 AND ($2::text IS NULL OR r.provider = $2)"""


async def view(db: Db, dossier: str, provider: str | None = None) -> DossierView | None:
    """The dossier as the portal reads it, in one query: the row's case, with its unsent
    e-mails, screening results and recent steps as the registry holds them now. With
    `provider`, only a dossier of that organisation: another's is not found, by the very
    same query (nothing in the answer or its timing tells the two apart)."""
    record = await db.fetchrow(_VIEW, dossier, provider)
    if record is None:
        return None
    try:
        status = dict(_json(record["status"]))
        status["pending_notices"] = [
            {k: n[k] for k in ("message_id", "kind", "step", "rejected")}
            for n in _json(record["unsent"])
        ]
        status["screenings"] = _json(record["screenings"]) or status.get("screenings", [])
        status["history"] = _json(record["history"]) or status.get("history", [])
        found = DossierView.model_validate(
            {**status, "as_of_step": record["last_step"], "as_of": record["last_step_at"]}
        )
    except (ValueError, TypeError) as exc:  # the registry's damage, not the caller's input
        raise UnreadableStatus(
            dossier, record["last_step"], record["last_step_at"], _why(exc)
        ) from None
    if record["starting"]:  # received, its case still to be started: as of the receipt
        found = case_view.being_started(found).model_copy(
            update={"as_of_step": case_view.RECEIVED_STEP, "as_of": found.submitted_at}
        )
    return found


_LIST_ITEM = """dossier, title, competent_body, state, end_reason, waiting_for, next_step,
                next_deadline_kind, next_deadline_on, submitted_at, last_step, last_step_at"""


# The PostgreSQL types of an organisation's list's sort key (submitted_at, dossier): what a
# page cursor carries and is checked against before it reaches SQL.
LIST_ORDER = ("timestamptz", "text")


async def of_provider(
    db: Db, provider: str, state: str | None, after: tuple[str, str] | None, limit: int
) -> tuple[int, list[DossierListItem], bool]:
    """(count, a page of the organisation's dossiers newest first, more after it): one
    indexed range scan (case_rows_provider, case_rows_provider_state)."""
    where, params = "provider = $1", [provider]
    if state is not None:
        where, params = "provider = $1 AND state = $2", [provider, state]
    page_where, args = where, list(params)
    if after is not None:
        n = len(args)
        keyset = f"(${n + 1}::text::{LIST_ORDER[0]}, ${n + 2}::text::{LIST_ORDER[1]})"
        page_where += f" AND (submitted_at, dossier) < {keyset}"
        args += list(after)
    rows = await db.fetch(
        f"""SELECT {_LIST_ITEM}, {STARTING} AS starting FROM case_rows r WHERE {page_where}
            ORDER BY submitted_at DESC, dossier DESC LIMIT {int(limit) + 1}""",
        *args,
    )
    count = await db.fetchval(f"SELECT count(*) FROM case_rows WHERE {where}", *params)
    items = [_list_item(r) for r in rows[:limit]]
    return int(count), items, len(rows) > limit


def _list_item(record: asyncpg.Record) -> DossierListItem:
    data = dict(record)
    if data.pop("starting"):  # received, its case still to be started
        data.update(
            waiting_for=case_view.STARTING_WAITING_FOR,
            next_step=case_view.starting_next_step(data["competent_body"]),
            last_step=case_view.RECEIVED_STEP,
            last_step_at=data["submitted_at"],
        )
    return DossierListItem.model_validate(data)

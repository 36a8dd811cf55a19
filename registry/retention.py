"""The purge's SQL (migration 0800): what each kind of record the retention table takes as
of an instant, taking it in bounded batches, and the purge's own record.

One query per kind says what is due (`due`): the dry run counts it, a batch takes the first
`limit` of it. A batch is one transaction: it takes its records, writes `retention_done`
for each (a kind's candidates leave those out, so a record is never taken twice) and one
`retention_batches` row (kind, action, rule, count, the period, the keys), under a
transaction-scoped advisory lock (two purges never interleave). A retried batch (same
`batch_key`) finds its row and returns it without changing anything again.

Nothing counted from a case's end is taken before the dossier's archive file exists
(activities/archives.py); a document, counted from its appeal's decision, may go while its
case still runs (the archive then lists it as purged, and when). Nothing of a dossier on
hold (`retention_holds`) is taken. The dry run counts an ended dossier whose
archive can be written now as archived: the purge run writes those first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from models.personal import PersonalFields
from models.retention import (
    Action,
    Due,
    Kind,
    PurgeBatchResult,
    RetentionTable,
    Rule,
)
from registry import personal as declared
from registry.db import Conn, Db

# Arbitrary but fixed: every purge batch of this project takes the same lock.
_LOCK_ID = 0x0DB_0023
# Notices the outbox still works on: a dossier with one is neither archived nor purged.
OPEN_NOTICES = "('pending', 'sending', 'uncertain')"

_ENDED = """
    SELECT au.dossier, min(au.at) AS moment
    FROM audit au JOIN applications a USING (dossier)
    WHERE au.state_after = 'ended' AND a.state = 'ended'
    GROUP BY au.dossier"""
_INTERVAL = "make_interval(years => $2, months => $3, days => $4, hours => $5, mins => $6)"
_NOT_DONE = "NOT EXISTS (SELECT 1 FROM retention_done rd WHERE rd.kind = $7 AND rd.key = {key})"
_NOT_HELD = "NOT EXISTS (SELECT 1 FROM retention_holds h WHERE h.dossier = {dossier})"
_NO_OPEN_NOTICES = (
    f"NOT EXISTS (SELECT 1 FROM notifications n WHERE n.dossier = {{dossier}} "
    f"AND n.status IN {OPEN_NOTICES})"
)
# $8: true for a batch (the archive must exist), false for the dry run (or can be written).
_ARCHIVED = (
    "(EXISTS (SELECT 1 FROM dossier_archives x WHERE x.dossier = {dossier}) "
    f"OR (NOT $8 AND {_NO_OPEN_NOTICES}))"
)


def _per_dossier(extra: str = "") -> str:
    return f"""
        WITH ended AS ({_ENDED})
        SELECT e.dossier AS key, e.moment FROM ended e
        WHERE e.moment + {_INTERVAL} <= $1
          AND {_ARCHIVED.format(dossier="e.dossier")}
          AND {_NOT_HELD.format(dossier="e.dossier")}
          AND {_NOT_DONE.format(key="e.dossier")}
          {extra}"""


# Documents: from the decision on every appeal that names them (or, for an appeal never
# decided, the end of its case); a document no appeal names, from its upload.
_DOCUMENTS = f"""
    SELECT d.id::text AS key, m.moment FROM documents d
    CROSS JOIN LATERAL (
        SELECT CASE WHEN count(ap.number) = 0 THEN d.uploaded_at
                    WHEN bool_or(coalesce(dec.decided_at, e.moment) IS NULL) THEN NULL
                    ELSE max(coalesce(dec.decided_at, e.moment)) END AS moment
        FROM appeals ap
        LEFT JOIN decisions dec ON dec.id = ap.decision_id
        LEFT JOIN LATERAL (
            SELECT min(au.at) AS moment FROM audit au
            WHERE au.dossier = ap.dossier AND au.state_after = 'ended') e ON true
        WHERE ap.document_id = d.id::text) m
    WHERE m.moment IS NOT NULL AND m.moment + {_INTERVAL} <= $1
      AND NOT EXISTS (SELECT 1 FROM document_dossiers dd JOIN retention_holds h USING (dossier)
                      WHERE dd.document_id = d.id)
      AND {_NOT_DONE.format(key="d.id::text")}"""

_DELIVERIES = f"""
    SELECT ed.subscription || '/' || ed.seq AS key, s.moment FROM event_deliveries ed
    CROSS JOIN LATERAL (
        SELECT greatest(ed.created_at, coalesce(ed.delivered_at, ed.next_attempt_at)) AS moment
    ) s
    WHERE ed.status IN ('delivered', 'failed') AND s.moment + {_INTERVAL} <= $1
      AND {_NOT_HELD.format(dossier="ed.dossier")}"""

_PROVIDER_KEY = (
    "p.enterprise_number || '@' || to_char(p.deactivated_at AT TIME ZONE 'UTC', "
    '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
)
_PROVIDERS = f"""
    SELECT {_PROVIDER_KEY} AS key, p.deactivated_at AS moment
    FROM providers p
    WHERE NOT p.active AND p.deactivated_at + {_INTERVAL} <= $1
      AND {_NOT_DONE.format(key=_PROVIDER_KEY)}"""

_CANDIDATES: dict[Kind, str] = {
    Kind.DOSSIER: _per_dossier(),
    Kind.AUDIT: _per_dossier(),
    Kind.SCREENING_RESULTS: _per_dossier(),
    Kind.EMAILS: _per_dossier(f"AND {_NO_OPEN_NOTICES.format(dossier='e.dossier')}"),
    Kind.EVENTS: _per_dossier(
        "AND NOT EXISTS (SELECT 1 FROM event_deliveries ed WHERE ed.dossier = e.dossier "
        "AND ed.status = 'pending')"
    ),
    Kind.DOCUMENTS: _DOCUMENTS,
    Kind.DELIVERIES: _DELIVERIES,
    Kind.PROVIDER_CONTACT: _PROVIDERS,
}


# How many parameters each kind's query takes: $1 the instant, $2-$6 the period, $7 the kind
# (its ledger), $8 strict (a batch: the dossier's archive must exist).
_PARAMS: dict[Kind, int] = {kind: 8 for kind in Kind} | {
    Kind.DOCUMENTS: 7,
    Kind.PROVIDER_CONTACT: 7,
    Kind.DELIVERIES: 6,
}


def _params(kind: Kind, rule: Rule, as_of: datetime, strict: bool) -> list[Any]:
    p = rule.period
    assert p is not None, f"{kind.value} is kept permanently: nothing is ever due"
    values = [as_of, p.years, p.months, p.days, p.hours, p.minutes, kind.value, strict]
    return values[: _PARAMS[kind]]


async def _candidates(
    db: Db, kind: Kind, rule: Rule, as_of: datetime, *, strict: bool, limit: int | None
) -> list[asyncpg.Record]:
    sql = f"SELECT key, moment FROM ({_CANDIDATES[kind]}) c ORDER BY moment, key"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return await db.fetch(sql, *_params(kind, rule, as_of, strict))


# Days and months are counted on the Brussels calendar (31 January + 1 month: 28 February).
_CALENDAR = "SET LOCAL TimeZone = 'Europe/Brussels'"


async def due(
    conn: Conn, table: RetentionTable, as_of: datetime, *, keys: bool = True
) -> list[Due]:
    """What a purge as of `as_of` takes, kind by kind (the dry run): the same queries as the
    batches, without a limit."""
    async with conn.transaction(readonly=True):
        await conn.execute(_CALENDAR)
        return await _due(conn, table, as_of, keys=keys)


async def _due(conn: Conn, table: RetentionTable, as_of: datetime, *, keys: bool) -> list[Due]:
    out: list[Due] = []
    for kind in Kind:
        rule = table.rule(kind)
        if rule.period is None:
            out.append(Due(kind=kind, rule=rule, count=0))
            continue
        rows = await _candidates(conn, kind, rule, as_of, strict=False, limit=None)
        moments = [r["moment"] for r in rows]
        out.append(
            Due(
                kind=kind,
                rule=rule,
                count=len(rows),
                moment_from=min(moments, default=None),
                moment_to=max(moments, default=None),
                keys=[r["key"] for r in rows] if keys else [],
            )
        )
    return out


# ---- one batch ----


async def start_run(db: Db, run_id: str, as_of: datetime, table: RetentionTable) -> None:
    await db.execute(
        """INSERT INTO retention_runs (run_id, as_of, table_version, retention_table)
           VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (run_id) DO NOTHING""",
        run_id,
        as_of,
        table.version,
        table.model_dump(mode="json"),
    )


async def finish_run(db: Db, run_id: str, taken: dict[str, int], archived: int) -> None:
    await db.execute(
        """UPDATE retention_runs SET finished_at = coalesce(finished_at, now()),
               taken = $2::jsonb, archived = $3
           WHERE run_id = $1""",
        run_id,
        taken,
        archived,
    )


async def batch(
    conn: Conn,
    *,
    run_id: str,
    batch_key: str,
    kind: Kind,
    rule: Rule,
    table_version: str,
    as_of: datetime,
    limit: int,
    personal: PersonalFields,
) -> PurgeBatchResult:
    """Takes up to `limit` records of `kind` due as of `as_of`, in one transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute(_CALENDAR)
        done = await conn.fetchrow(
            """SELECT kind, action, count, moment_from, moment_to, keys
               FROM retention_batches WHERE batch_key = $1""",
            batch_key,
        )
        if done is not None:
            return PurgeBatchResult(
                kind=Kind(done["kind"]),
                action=Action(done["action"]),
                count=done["count"],
                moment_from=done["moment_from"],
                moment_to=done["moment_to"],
                keys=_json(done["keys"]),
                replayed=True,
            )
        rows = await _candidates(conn, kind, rule, as_of, strict=True, limit=limit)
        result = PurgeBatchResult(kind=kind, action=rule.then, count=len(rows))
        if not rows:
            return result
        keys = [str(r["key"]) for r in rows]
        await conn.execute("SET LOCAL odb.retention = 'strip'")  # the audit trigger's leave
        if rule.then == Action.STRIP_PERSONAL and kind in _DECLARED:
            # A provider's key is number@deactivated; its rows are the number's.
            of = [k.split("@", 1)[0] for k in keys] if kind == Kind.PROVIDER_CONTACT else keys
            await declared.strip_tables(conn, personal, personal.tables_of(kind), of)
        else:
            await _TAKE[(kind, rule.then)](conn, keys)
        moments = [r["moment"] for r in rows]
        batch_id = await conn.fetchval(
            """INSERT INTO retention_batches (run_id, batch_key, kind, action, rule,
                   table_version, as_of, count, moment_from, moment_to, keys)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) RETURNING id""",
            run_id,
            batch_key,
            kind.value,
            rule.then.value,
            rule.text(),
            table_version,
            as_of,
            len(rows),
            min(moments),
            max(moments),
            keys,
        )
        if kind != Kind.DELIVERIES:  # deleted rows leave no candidate behind; no ledger
            await conn.executemany(
                "INSERT INTO retention_done (kind, key, batch_id) VALUES ($1, $2, $3)",
                [(kind.value, key, batch_id) for key in keys],
            )
        return result.model_copy(
            update={"moment_from": min(moments), "moment_to": max(moments), "keys": keys}
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ---- what each kind's action does ----


# The kinds whose strip is declared (personal_fields.yaml): exactly the declared fields of
# the declared tables change (registry/personal.py).
_DECLARED = (Kind.DOSSIER, Kind.AUDIT, Kind.EMAILS, Kind.PROVIDER_CONTACT)


async def _delete_emails(conn: Conn, dossiers: list[str]) -> None:
    await conn.execute(
        f"""DELETE FROM notifications
            WHERE dossier = ANY($1::text[]) AND status NOT IN {OPEN_NOTICES}""",
        dossiers,
    )


async def _delete_events(conn: Conn, dossiers: list[str]) -> None:
    await conn.execute(
        """DELETE FROM event_deliveries ed USING events e
           WHERE ed.seq = e.seq AND e.subject = ANY($1::text[])""",
        dossiers,
    )
    await conn.execute("DELETE FROM events WHERE subject = ANY($1::text[])", dossiers)


async def _delete_deliveries(conn: Conn, keys: list[str]) -> None:
    subs, seqs = zip(*(k.rsplit("/", 1) for k in keys), strict=True)
    await conn.execute(
        """DELETE FROM event_deliveries ed
           USING unnest($1::text[], $2::bigint[]) AS k(subscription, seq)
           WHERE ed.subscription = k.subscription AND ed.seq = k.seq""",
        list(subs),
        [int(s) for s in seqs],
    )


async def _delete_documents(conn: Conn, ids: list[str]) -> None:
    await conn.execute("DELETE FROM document_dossiers WHERE document_id = ANY($1::uuid[])", ids)
    await conn.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", ids)


async def _strip_documents(conn: Conn, ids: list[str]) -> None:
    await conn.execute(
        """UPDATE documents
           SET uploaded_by = CASE owner WHEN 'bec' THEN 'BEC' WHEN 'department' THEN 'department'
                                        ELSE 'provider' END,
               name = 'document'
           WHERE id = ANY($1::uuid[])""",
        ids,
    )


async def _delete_screening_results(conn: Conn, dossiers: list[str]) -> None:
    await conn.execute("DELETE FROM screening_results WHERE dossier = ANY($1::text[])", dossiers)


_TAKE: dict[tuple[Kind, Action], Any] = {
    (Kind.EMAILS, Action.DELETE): _delete_emails,
    (Kind.EVENTS, Action.DELETE): _delete_events,
    (Kind.DELIVERIES, Action.DELETE): _delete_deliveries,
    (Kind.DOCUMENTS, Action.DELETE): _delete_documents,
    (Kind.DOCUMENTS, Action.STRIP_PERSONAL): _strip_documents,
    (Kind.SCREENING_RESULTS, Action.DELETE): _delete_screening_results,
}


# ---- the purge's record, holds ----


@dataclass(frozen=True)
class BatchRow:
    run_id: str
    kind: str
    action: str
    rule: str
    count: int
    moment_from: datetime | None
    moment_to: datetime | None
    keys: list[str]
    at: datetime


async def batches(db: Db, run_id: str | None = None, limit: int = 50) -> list[BatchRow]:
    rows = await db.fetch(
        """SELECT run_id, kind, action, rule, count, moment_from, moment_to, keys, at
           FROM retention_batches WHERE $1::text IS NULL OR run_id = $1
           ORDER BY id DESC LIMIT $2""",
        run_id,
        limit,
    )
    return [BatchRow(**{**dict(r), "keys": _json(r["keys"])}) for r in rows]


async def last_runs(db: Db, limit: int = 5) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT run_id, as_of, table_version, started_at, finished_at, archived, taken
           FROM retention_runs ORDER BY started_at DESC LIMIT $1""",
        limit,
    )


async def hold(db: Db, dossier: str, reason: str, by: str) -> bool:
    """Puts a dossier on hold; False when it was already."""
    done = await db.fetchval(
        """INSERT INTO retention_holds (dossier, reason, held_by) VALUES ($1, $2, $3)
           ON CONFLICT (dossier) DO NOTHING RETURNING true""",
        dossier,
        reason,
        by,
    )
    return bool(done)


async def release(db: Db, dossier: str) -> bool:
    done = await db.fetchval(
        "DELETE FROM retention_holds WHERE dossier = $1 RETURNING true", dossier
    )
    return bool(done)


async def holds(db: Db) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT dossier, reason, held_by, held_at FROM retention_holds ORDER BY dossier"
    )


async def done_for(db: Db, kinds: Sequence[Kind], key: str) -> dict[str, datetime]:
    """When each kind was taken of one record (a dossier, a document id): for its archive
    and the provider's export, which say what was purged and when."""
    rows = await db.fetch(
        """SELECT d.kind, b.at FROM retention_done d JOIN retention_batches b ON b.id = d.batch_id
           WHERE d.key = $1 AND d.kind = ANY($2::text[])""",
        key,
        [k.value for k in kinds],
    )
    return {r["kind"]: r["at"] for r in rows}


# ---- the gauges (ops/metrics.py) ----


@dataclass(frozen=True)
class RetentionState:
    last_finished_at: datetime | None
    taken: dict[str, int]
    archives_missing: int
    holds: int


async def state(db: Db) -> RetentionState:
    last = await db.fetchrow(
        """SELECT finished_at, taken FROM retention_runs WHERE finished_at IS NOT NULL
           ORDER BY finished_at DESC LIMIT 1"""
    )
    missing = await db.fetchval(
        f"""SELECT count(*) FROM ({_ENDED}) e
            WHERE NOT EXISTS (SELECT 1 FROM dossier_archives x WHERE x.dossier = e.dossier)
              AND e.moment < now() - interval '1 hour'"""
    )
    held = await db.fetchval("SELECT count(*) FROM retention_holds")
    return RetentionState(
        last_finished_at=last["finished_at"] if last else None,
        taken={k: int(v) for k, v in (_json(last["taken"]) or {}).items()} if last else {},
        archives_missing=int(missing or 0),
        holds=int(held or 0),
    )


async def ended_without_archive(db: Db, limit: int) -> list[str]:
    """Ended dossiers whose archive can be written now (their e-mails are all out), oldest
    end first: the purge run writes these before it takes anything."""
    rows = await db.fetch(
        f"""SELECT e.dossier FROM ({_ENDED}) e
            WHERE NOT EXISTS (SELECT 1 FROM dossier_archives x WHERE x.dossier = e.dossier)
              AND {_NO_OPEN_NOTICES.format(dossier="e.dossier")}
            ORDER BY e.moment, e.dossier LIMIT $1""",
        limit,
    )
    return [r["dossier"] for r in rows]

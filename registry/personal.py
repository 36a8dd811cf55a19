"""The SQL of the declared strip (personal_fields.yaml, rules/personal.py): read a dossier's
rows of one table, and write back exactly the fields that differ from the row as it must be
kept.

A JSON column is changed path by path (`jsonb_set`, `#-`), never rewritten whole, so every
value the declaration does not name keeps its stored form (numbers, key order as jsonb keeps
it). The same write serves the purge (the row as kept = the stripped row) and the repair of
rows an earlier strip damaged (the row as kept = the archived original, stripped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from models.personal import SHAPES, PersonalFields
from registry.db import Conn, Db
from rules import personal as rules

GONE = object()


@dataclass(frozen=True)
class TableSpec:
    """How one table's rows of a set of dossiers are read ($1: the dossiers), which columns
    name a row, and which role acted in it."""

    select: str
    keys: tuple[str, ...]
    role: Callable[[asyncpg.Record], rules.Role]
    # The audit's event: fields declared for some events only.
    event: str | None = None
    # What names a row to people (the audit's step); default: its keys.
    label: tuple[str, ...] = ()


# Notices still being worked on are never touched (the outbox reads their address).
_SETTLED = "status NOT IN ('pending', 'sending', 'uncertain')"

SPECS: dict[str, TableSpec] = {
    "applications": TableSpec(
        "SELECT dossier, contact_email, payload FROM applications WHERE dossier = ANY($1)",
        ("dossier",),
        lambda r: rules.status_role,
    ),
    "decisions": TableSpec(
        """SELECT d.id, d.dossier, d.kind, a.competent_body, d.decided_by, d.reason, d.body
           FROM decisions d JOIN applications a USING (dossier) WHERE d.dossier = ANY($1)""",
        ("id",),
        lambda r: rules.decision_role(r["kind"], r["competent_body"]),
    ),
    "appeals": TableSpec(
        """SELECT dossier, number, route, filed_by, motivation, document_id
           FROM appeals WHERE dossier = ANY($1)""",
        ("dossier", "number"),
        lambda r: rules.appeal_role(r["route"]),
    ),
    "hearings": TableSpec(
        """SELECT dossier, appeal_number, side, recorded_by, note
           FROM hearings WHERE dossier = ANY($1)""",
        ("dossier", "appeal_number", "side"),
        lambda r: rules.bec_role,
    ),
    "case_rows": TableSpec(
        "SELECT dossier, status FROM case_rows WHERE dossier = ANY($1)",
        ("dossier",),
        lambda r: rules.status_role,
    ),
    "audit": TableSpec(
        """SELECT id, dossier, step, event, actor, actor_detail, details
           FROM audit WHERE dossier = ANY($1)""",
        ("id",),
        lambda r: rules.audit_role(r["actor"], r["actor_detail"]),
        event="event",
        label=("step",),
    ),
    # $1: enterprise numbers (a provider_contact batch's keys are number@deactivated).
    "providers": TableSpec(
        "SELECT enterprise_number, contact_email FROM providers WHERE enterprise_number = ANY($1)",
        ("enterprise_number",),
        lambda r: rules.status_role,
    ),
    "provider_changes": TableSpec(
        """SELECT id, enterprise_number, by_subject, reason, before, after
           FROM provider_changes WHERE enterprise_number = ANY($1)""",
        ("id",),
        lambda r: rules.department_role,
    ),
    "notifications": TableSpec(
        f"""SELECT id, dossier, step, kind, message_id, to_address, subject, body, last_error,
                   claimed_by, context
            FROM notifications WHERE dossier = ANY($1) AND {_SETTLED}""",
        ("id",),
        lambda r: rules.status_role,
    ),
}
assert set(SPECS) == set(SHAPES), "every table a declaration may name is read here"


def columns(table: str) -> list[str]:
    return list(SHAPES[table][1])


async def rows(conn: Conn, table: str, dossiers: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(SPECS[table].select, dossiers)


def stripped(
    personal: PersonalFields, table: str, row: asyncpg.Record | dict[str, Any]
) -> dict[str, Any]:
    """The row's strippable columns as they must be kept."""
    spec = SPECS[table]
    values = {
        c: _decoded(row[c]) if shape is not str else row[c] for c, shape in SHAPES[table][1].items()
    }
    return rules.strip(
        personal.fields(table),
        values,
        event=row[spec.event] if spec.event else None,
        role=spec.role(row),  # type: ignore[arg-type]
    )


def _decoded(value: Any) -> Any:
    """A JSON column as an object: rows written before the registry stored objects hold
    their JSON text (a jsonb string); stripped, they are written back as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def changes(
    current: Any, target: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Each (path, new value or GONE) that turns `current` into `target`, as deep as the two
    share their shape: the smallest writes."""
    if isinstance(current, dict) and isinstance(target, dict):
        for key in current:
            if key not in target:
                yield (*path, key), GONE
        for key, value in target.items():
            if key not in current:
                yield (*path, key), value
            else:
                yield from changes(current[key], value, (*path, key))
    elif (
        isinstance(current, list)
        and isinstance(target, list)
        and len(current) == len(target)
        and path
    ):
        for n, (a, b) in enumerate(zip(current, target, strict=True)):
            yield from changes(a, b, (*path, str(n)))
    elif type(current) is not type(target) or current != target:
        yield path, target


async def write(
    conn: Conn,
    table: str,
    row: asyncpg.Record | dict[str, Any],
    target: dict[str, Any],
    *,
    dry: bool = False,
) -> list[str]:
    """Writes `target` (column -> value) over the row, path by path; the paths changed
    (`column.key.0.key`), none when the row is as it must be kept. `dry`: nothing is
    written, the paths say what would be."""
    spec = SPECS[table]
    params: list[Any] = [row[k] for k in spec.keys]
    sets: list[str] = []
    written: list[str] = []
    for column in columns(table):
        if column not in target:
            continue
        found = list(changes({column: row[column]}, {column: target[column]}))
        if not found:
            continue
        if any(len(path) == 1 for path, _ in found):  # the column itself (text, or null)
            value = target[column]
            params.append(value)
            sets.append(f"{column} = ${len(params)}")
            written.append(column)
            continue
        expr = column
        for path, value in found:
            params.append(list(path[1:]))
            at = f"${len(params)}::text[]"
            if value is GONE:
                expr = f"({expr} #- {at})"
            elif value is None:
                expr = f"jsonb_set({expr}, {at}, 'null'::jsonb)"
            else:
                params.append(value)
                expr = f"jsonb_set({expr}, {at}, ${len(params)}::jsonb)"
            written.append(".".join(path))
        sets.append(f"{column} = {expr}")
    if not sets or dry:
        return written
    where = " AND ".join(f"{k} = ${n}" for n, k in enumerate(spec.keys, start=1))
    await conn.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", *params)
    return written


async def strip_tables(
    conn: Conn, personal: PersonalFields, tables: list[str], dossiers: list[str]
) -> int:
    """Strips the declared fields of these tables' rows of the dossiers; how many rows
    changed."""
    changed = 0
    for table in tables:
        for row in await rows(conn, table, dossiers):
            if await write(conn, table, row, stripped(personal, table, row)):
                changed += 1
    return changed


def row_key(table: str, row: asyncpg.Record | dict[str, Any]) -> str:
    spec = SPECS[table]
    return "/".join(str(row[k]) for k in spec.label or spec.keys)


# ---- the repair of rows an earlier strip damaged (ops/retention_repair.py) ----


@dataclass(frozen=True)
class Stripped:
    """A dossier an earlier purge stripped, and its archive (which holds the originals)."""

    dossier: str
    kinds: tuple[str, ...]
    archive_path: str
    archive_sha256: str


async def stripped_dossiers(db: Db, dossier: str | None = None) -> list[Stripped]:
    rows = await db.fetch(
        """SELECT d.key AS dossier, array_agg(DISTINCT d.kind ORDER BY d.kind) AS kinds,
                  x.path, x.sha256
           FROM retention_done d JOIN dossier_archives x ON x.dossier = d.key
           WHERE d.kind IN ('dossier', 'audit', 'emails')
             AND ($1::text IS NULL OR d.key = $1)
           GROUP BY d.key, x.path, x.sha256 ORDER BY d.key""",
        dossier,
    )
    return [Stripped(r["dossier"], tuple(r["kinds"]), r["path"], r["sha256"]) for r in rows]


async def record_repair(
    conn: Conn,
    *,
    run_id: str,
    dossier: str,
    table: str,
    key: str,
    archive_sha256: str,
    declaration_version: str,
    paths: list[str],
    by: str,
) -> None:
    await conn.execute(
        """INSERT INTO retention_repairs (run_id, dossier, table_name, row_key, archive_sha256,
               declaration_version, paths, by_subject)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)""",
        run_id,
        dossier,
        table,
        key,
        archive_sha256,
        declaration_version,
        paths,
        by,
    )


async def repairs(db: Db, dossier: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT run_id, table_name, row_key, archive_sha256, declaration_version, paths,
                  by_subject, at
           FROM retention_repairs WHERE dossier = $1 ORDER BY id""",
        dossier,
    )

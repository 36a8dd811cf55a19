"""The rows a declaration of personal fields covers, as stored (numbers in their stored text),
and the same rows with their declared personal fields masked: what must stay byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg

from models.personal import PersonalField, PersonalFields

# Per table: what names a row, its columns a declaration may name (and some it must keep).
TABLES: dict[str, tuple[str, str]] = {
    "applications": ("dossier", "contact_email, payload"),
    "decisions": ("id::text", "decided_by, reason, body, kind, outcome, decided_at"),
    "appeals": ("number::text", "filed_by, motivation, document_id, subject, route"),
    "hearings": ("appeal_number || '/' || side", "recorded_by, note, waived, held_on"),
    "case_rows": ("dossier", "status, state, waiting_for, last_step"),
    "audit": ("step", "event, actor, actor_detail, details, at, state_before, state_after"),
    "notifications": ("message_id", "to_address, subject, body, last_error, context, sent_at"),
    "providers": ("enterprise_number", "contact_email, name, active"),
    "provider_changes": ("id::text", "by_subject, reason, before, after, change, at"),
}
# Of a provider organisation, not of a dossier.
_OF_PROVIDER = {"providers", "provider_changes"}
MASK = "<personal>"


async def stored_rows(
    pool: asyncpg.Pool[Any], dossiers: list[str], providers: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for table, (key, cols) in TABLES.items():
        of = "enterprise_number" if table in _OF_PROVIDER else "dossier"
        rows = await pool.fetch(
            f"""SELECT {of} || ':' || {key} AS k, row_to_json(t)::text AS j
                FROM (SELECT *, {cols} FROM {table} WHERE {of} = ANY($1)) t""",
            providers if table in _OF_PROVIDER else dossiers,
        )
        for r in rows:
            whole = json.loads(r["j"], parse_float=Decimal)
            row = {c.strip(): whole[c.strip()] for c in cols.split(",")}
            if table == "provider_changes":  # JSON text inside jsonb, or (stripped) an object
                for c in ("before", "after"):
                    if isinstance(row[c], str):
                        row[c] = json.loads(row[c], parse_float=Decimal)
            out[(table, r["k"])] = row
    return out


def _at(value: Any, segments: list[tuple[str, bool]], found: list[Any], mask: bool) -> None:
    if not isinstance(value, dict) or not segments:
        return
    (key, each), rest = segments[0], segments[1:]
    if key not in value:
        return
    if each and isinstance(value[key], list):
        for n, item in enumerate(value[key]):
            if rest:
                _at(item, rest, found, mask)
            else:
                found.append(item)
                if mask:
                    value[key][n] = MASK
    elif rest:
        _at(value[key], rest, found, mask)
    else:
        found.append(value[key])
        if mask:
            value[key] = MASK


def declared(fields: list[PersonalField], row: dict[str, Any], event: Any) -> list[PersonalField]:
    return [f for f in fields if not f.events or event in f.events]


def values_at(f: PersonalField, row: dict[str, Any]) -> list[Any]:
    """The values a declared path holds in a row (absent: none)."""
    found: list[Any] = []
    _at(json.loads(json.dumps(row, default=str)), f.segments(), found, mask=False)
    return found


def masked(personal: PersonalFields, table: str, row: dict[str, Any]) -> str:
    """The row as canonical JSON text, every declared personal field (present or removed)
    replaced by one mark: equal before and after a strip iff nothing else changed."""
    copy = json.loads(json.dumps(row, default=str))
    for f in declared(personal.fields(table), row, row.get("event")):
        segments = f.segments()
        _at(copy, segments, [], mask=True)
        # A removed key masks like a present one.
        parent: Any = copy
        for key, _each in segments[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        last = segments[-1][0]
        if isinstance(parent, dict) and last not in parent and len(segments) > 1:
            parent[last] = MASK
    return json.dumps(copy, sort_keys=True, ensure_ascii=False)

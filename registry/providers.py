"""Training providers, keyed on their Belgian enterprise number: the department's register
(registered, updated, deactivated, reactivated; each change audited) and the seeding upsert."""

from __future__ import annotations

import json
from typing import Any

from models.enterprise import normalise_enterprise_number
from models.identity import Actor
from models.providers import ProviderChange, ProviderInput, ProviderRecord
from registry.db import Conn, Db
from registry.errors import InvalidInput, NotFound


async def upsert(
    conn: Db,
    enterprise_number: str,
    name: str,
    contact_email: str | None = None,
) -> str:
    """Creates or renames a provider (seeding, demo); returns the normalised number."""
    try:
        number = normalise_enterprise_number(enterprise_number)
    except ValueError as exc:
        raise InvalidInput([("enterprise_number", str(exc))]) from exc
    name = name.strip()
    if len(name) < 2:
        raise InvalidInput([("name", "a provider name has at least 2 characters")])
    await conn.execute(
        """INSERT INTO providers (enterprise_number, name, contact_email)
           VALUES ($1, $2, $3)
           ON CONFLICT (enterprise_number) DO UPDATE
           SET name = EXCLUDED.name,
               contact_email = COALESCE(EXCLUDED.contact_email, providers.contact_email),
               updated_at = now()""",
        number,
        name,
        contact_email,
    )
    return number


async def exists(conn: Db, enterprise_number: str) -> bool:
    row = await conn.fetchval(
        "SELECT 1 FROM providers WHERE enterprise_number = $1", enterprise_number
    )
    return row is not None


# ---- the department's register (migration 0620): every change audited ----

_COLUMNS = """enterprise_number, name, contact_email, active, deactivated_at,
              deactivation_reason, created_at, updated_at"""


def _record(row: Any) -> ProviderRecord:
    return ProviderRecord.model_validate(dict(row))


def _facts(row: Any) -> str:
    return json.dumps(
        {"name": row["name"], "contact_email": row["contact_email"], "active": row["active"]}
    )


async def _audit(
    conn: Conn, number: str, change: str, actor: Actor, before: Any, after: Any, reason: str = ""
) -> None:
    await conn.execute(
        """INSERT INTO provider_changes (enterprise_number, change, by_subject, before, after,
                                         reason)
           VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)""",
        number,
        change,
        actor.subject,
        None if before is None else _facts(before),
        _facts(after),
        reason,
    )


async def get(db: Db, number: str) -> ProviderRecord | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM providers WHERE enterprise_number = $1", number
    )
    return None if row is None else _record(row)


async def list_all(db: Db) -> list[ProviderRecord]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM providers ORDER BY enterprise_number")
    return [_record(r) for r in rows]


async def changes(db: Db, number: str) -> list[ProviderChange]:
    rows = await db.fetch(
        """SELECT change, by_subject AS by, at, reason FROM provider_changes
           WHERE enterprise_number = $1 ORDER BY id""",
        number,
    )
    return [ProviderChange.model_validate(dict(r)) for r in rows]


async def register(
    conn: Conn, number: str, facts: ProviderInput, actor: Actor
) -> tuple[ProviderRecord, bool]:
    """Registers the provider, or updates its name and contact address; (record, created).
    The same facts again change nothing and write no audit row."""
    async with conn.transaction():
        before = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM providers WHERE enterprise_number = $1 FOR UPDATE", number
        )
        if before is not None and (before["name"], before["contact_email"]) == (
            facts.name,
            facts.contact_email,
        ):
            return _record(before), False
        after = await conn.fetchrow(
            f"""INSERT INTO providers (enterprise_number, name, contact_email)
                VALUES ($1, $2, $3)
                ON CONFLICT (enterprise_number) DO UPDATE
                SET name = EXCLUDED.name, contact_email = EXCLUDED.contact_email,
                    updated_at = now()
                RETURNING {_COLUMNS}""",
            number,
            facts.name,
            facts.contact_email,
        )
        change = "registered" if before is None else "updated"
        await _audit(conn, number, change, actor, before, after)
        return _record(after), before is None


async def set_active(
    conn: Conn, number: str, active: bool, actor: Actor, reason: str = ""
) -> ProviderRecord:
    """Deactivates (with a reason) or reactivates a provider; idempotent. A deactivated
    provider submits nothing more; its running cases go on."""
    async with conn.transaction():
        before = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM providers WHERE enterprise_number = $1 FOR UPDATE", number
        )
        if before is None:
            raise NotFound(
                f"enterprise_number: no provider {number} is registered; register it first"
            )
        if before["active"] == active:
            return _record(before)
        after = await conn.fetchrow(
            f"""UPDATE providers
                SET active = $2,
                    deactivated_at = CASE WHEN $2 THEN NULL ELSE now() END,
                    deactivation_reason = CASE WHEN $2 THEN NULL ELSE $3 END,
                    updated_at = now()
                WHERE enterprise_number = $1
                RETURNING {_COLUMNS}""",
            number,
            active,
            reason,
        )
        change = "reactivated" if active else "deactivated"
        await _audit(conn, number, change, actor, before, after, reason)
        return _record(after)

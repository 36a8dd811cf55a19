"""Training providers, keyed on their Belgian enterprise number."""

from __future__ import annotations

from models.enterprise import normalise_enterprise_number
from registry.db import Db
from registry.errors import InvalidInput


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

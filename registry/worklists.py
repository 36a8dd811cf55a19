"""The worklists' one read of the registry: titles and provider names of a page's dossiers."""

from __future__ import annotations

from collections.abc import Sequence

from registry.db import Db


async def titles(db: Db, dossiers: Sequence[str]) -> dict[str, tuple[str, str]]:
    """dossier -> (title, provider name), for the dossiers the registry knows."""
    if not dossiers:
        return {}
    rows = await db.fetch(
        "SELECT dossier, title, provider_name FROM applications WHERE dossier = ANY($1::text[])",
        list(dossiers),
    )
    return {r["dossier"]: (r["title"], r["provider_name"]) for r in rows}

"""The strip as it was before personal fields were declared, to damage rows the way it did
(for the repair's test): people guessed by key names anywhere in an audit step (`subject`,
`by`, ...), free text by key names (`body`, `note`, ...), the step's copy of the case and its
e-mails' values dropped whole, the e-mails' values (`context`) emptied."""

from __future__ import annotations

from typing import Any

import asyncpg

from models.case import CaseStatus
from rules.case_view import provider_view
from rules.personal import role_of

_PERSON_KEYS = {"decided_by", "filed_by", "recorded_by", "by", "subject", "uploaded_by"}
_TEXT_KEYS = {"motivation", "note", "document_reference", "contact_email", "to_address", "body"}
_DROPPED_KEYS = {"row", "actor", "context"}


def _scrubbed(value: Any, role: str) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _DROPPED_KEYS:
                continue
            if key in _PERSON_KEYS and isinstance(item, str):
                out[key] = role if item != "system" else item
            elif key in _TEXT_KEYS and isinstance(item, str):
                out[key] = ""
            else:
                out[key] = _scrubbed(item, role)
        return out
    if isinstance(value, list):
        return [_scrubbed(item, role) for item in value]
    return value


def _stripped_status(status: dict[str, Any]) -> dict[str, Any]:
    shown = provider_view(CaseStatus.model_validate(status))
    appeals = [
        a.model_copy(
            update={
                "motivation": "",
                "hearings": [h.model_copy(update={"note": ""}) for h in a.hearings],
            }
        )
        for a in shown.appeals
    ]
    return shown.model_copy(update={"appeals": appeals}).model_dump(mode="json")


async def damage(pool: asyncpg.Pool[Any], dossiers: list[str]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL odb.retention = 'strip'")
        for r in await conn.fetch(
            "SELECT id, actor, actor_detail, details FROM audit WHERE dossier = ANY($1)",
            dossiers,
        ):
            role = role_of(r["actor_detail"], r["actor"])
            await conn.execute(
                "UPDATE audit SET details = $2::jsonb WHERE id = $1",
                r["id"],
                _scrubbed(r["details"], role),
            )
        for r in await conn.fetch(
            "SELECT dossier, status FROM case_rows WHERE dossier = ANY($1)", dossiers
        ):
            await conn.execute(
                "UPDATE case_rows SET status = $2::jsonb WHERE dossier = $1",
                r["dossier"],
                _stripped_status(r["status"]),
            )
        await conn.execute(
            "UPDATE notifications SET context = NULL, claimed_by = NULL WHERE dossier = ANY($1)",
            dossiers,
        )

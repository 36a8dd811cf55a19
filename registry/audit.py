"""The append-only audit trail. Its (dossier, step) key makes each workflow step
idempotent: the first insert wins, a retry finds the row and writes nothing."""

from __future__ import annotations

from models.registry import AuditEntry
from models.steps import StepInput
from registry.db import Conn, Db

# Recorded in their own tables or columns; everything else of the step goes in `details`.
_OWN_COLUMNS = {"dossier", "step", "at", "actor", "event", "state_before", "state_after"}


async def append(conn: Conn, step: StepInput) -> bool:
    """True when the step is new; False when it was recorded before (nothing written)."""
    details = step.model_dump(mode="json", exclude=_OWN_COLUMNS, exclude_defaults=True)
    row_id = await conn.fetchval(
        """INSERT INTO audit (dossier, step, at, actor, actor_detail, event, state_before,
               state_after, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (dossier, step) DO NOTHING
           RETURNING id""",
        step.dossier,
        step.step,
        step.at,
        step.actor.subject,
        step.actor.model_dump(mode="json"),
        step.event,
        step.state_before,
        step.state_after,
        details,
    )
    return row_id is not None


async def trail(conn: Db, dossier: str) -> list[AuditEntry]:
    rows = await conn.fetch(
        """SELECT step, at, actor, event, state_before, state_after, details
           FROM audit WHERE dossier = $1 ORDER BY at, id""",
        dossier,
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]

"""The starts to be made (migration 0820): a dossier's case, not yet known to Temporal.

`record` runs in the allocation's transaction (registry/applications.py), so a committed
dossier always has either its case or a row here. Drainers (starter/case_starts.py) `claim`
rows with FOR UPDATE SKIP LOCKED and a lease, start the workflow and `done` the row; any
number of API processes and workers may drain at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.application import TrainingApplication
from registry.db import Conn, Db

# For the reads: the dossier `r.dossier` has a start pending (its case is not running yet).
STARTING = "EXISTS (SELECT 1 FROM case_starts s WHERE s.dossier = r.dossier)"
# Not pending: `NOT IN` (dossier is the key, never NULL, so the same rows as NOT EXISTS) is
# answered from one hash of the table, where NOT EXISTS over a (nearly always) empty table
# was planned as a fresh scan of it per listed case: 10 ms for a list of 5,000.
NOT_STARTING = "r.dossier NOT IN (SELECT s.dossier FROM case_starts s)"


@dataclass(frozen=True)
class Pending:
    dossier: str
    payload: dict[str, Any]  # the application as submitted (canonical JSON)
    provider_name: str  # the register's name, as the case carries it
    submitted_at: datetime
    attempts: int

    def application(self) -> TrainingApplication:
        """The application as its case carries it: as submitted, with the register's name."""
        return TrainingApplication.model_validate(self.payload).model_copy(
            update={"provider_name": self.provider_name}
        )


async def record(conn: Conn, dossier: str) -> None:
    await conn.execute("INSERT INTO case_starts (dossier) VALUES ($1)", dossier)


async def is_pending(db: Db, dossier: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM case_starts WHERE dossier = $1", dossier))


async def get(db: Db, dossier: str) -> Pending | None:
    """The start of `dossier` if one is still to be made."""
    r = await db.fetchrow(
        """SELECT s.dossier, a.payload, a.provider_name, a.submitted_at, s.attempts
           FROM case_starts s JOIN applications a USING (dossier) WHERE s.dossier = $1""",
        dossier,
    )
    return None if r is None else _pending(r)


async def claim(db: Db, limit: int, lease_seconds: float) -> list[Pending]:
    """Up to `limit` due starts, oldest first, each now held by this caller for
    `lease_seconds`; rows another drainer holds (locked, or leased) are skipped."""
    rows = await db.fetch(
        """UPDATE case_starts s
           SET claimed_until = now() + make_interval(secs => $2), attempts = s.attempts + 1
           FROM applications a
           WHERE a.dossier = s.dossier AND s.dossier IN (
               SELECT dossier FROM case_starts
               WHERE next_attempt_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY next_attempt_at, requested_at
               LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING s.dossier, a.payload, a.provider_name, a.submitted_at, s.attempts""",
        limit,
        lease_seconds,
    )
    return [_pending(r) for r in rows]


async def done(db: Db, dossier: str) -> None:
    """Temporal has the case (started now, or already): nothing left to start."""
    await db.execute("DELETE FROM case_starts WHERE dossier = $1", dossier)


async def release(db: Db, dossier: str, error: str, *, after_seconds: float = 0) -> None:
    """Not started this time: free for the next drainer, not before `after_seconds`."""
    await db.execute(
        """UPDATE case_starts SET claimed_until = NULL, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3)
           WHERE dossier = $1""",
        dossier,
        error[:500],
        after_seconds,
    )


async def summary(db: Db) -> tuple[int, datetime | None]:
    """(starts pending, when the oldest was requested): for ops' gauges."""
    row = await db.fetchrow("SELECT count(*) AS n, min(requested_at) AS oldest FROM case_starts")
    assert row is not None
    return int(row["n"]), row["oldest"]


def _pending(r: Any) -> Pending:
    return Pending(
        dossier=r["dossier"],
        payload=_json(r["payload"]),
        provider_name=r["provider_name"],
        submitted_at=r["submitted_at"],
        attempts=r["attempts"],
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value

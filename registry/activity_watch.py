"""SQL of the activity watch: activities retrying beyond the threshold, one row each.

Written by the worker's activity interceptor (activities/activity_watch.py), read by
`python -m ops stuck` and the `odb_activities_retrying` gauge. A row names the activity
(workflow id, run id, activity id, type), how many attempts it has made and its last error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from registry.db import Db

# A row no attempt refreshed for this long belongs to an activity that is no longer retried
# (its workflow ended, was reset or terminated): listed as stale, not counted as retrying.
# Longer than the longest wait between two attempts plus the longest attempt (1 min + 10 min).
STALE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Stuck:
    workflow_id: str
    run_id: str
    activity_id: str
    activity_type: str
    workflow_type: str
    task_queue: str
    attempt: int
    last_error: str
    first_seen_at: datetime
    seen_at: datetime
    stale: bool


async def seen(
    db: Db,
    *,
    workflow_id: str,
    run_id: str,
    activity_id: str,
    activity_type: str,
    workflow_type: str,
    task_queue: str,
    attempt: int,
    error: str | None,
) -> None:
    """Records or refreshes one retrying activity; `error` None keeps the last one."""
    await db.execute(
        """INSERT INTO stuck_activities (workflow_id, run_id, activity_id, activity_type,
               workflow_type, task_queue, attempt, last_error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, ''))
           ON CONFLICT (workflow_id, run_id, activity_id) DO UPDATE
           SET attempt = GREATEST(stuck_activities.attempt, EXCLUDED.attempt),
               last_error = COALESCE($8, stuck_activities.last_error),
               seen_at = now()""",
        workflow_id,
        run_id,
        activity_id,
        activity_type,
        workflow_type,
        task_queue,
        attempt,
        error,
    )


async def clear(db: Db, *, workflow_id: str, run_id: str, activity_id: str) -> None:
    await db.execute(
        """DELETE FROM stuck_activities
           WHERE workflow_id = $1 AND run_id = $2 AND activity_id = $3""",
        workflow_id,
        run_id,
        activity_id,
    )


async def count_retrying(db: Db) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM stuck_activities WHERE seen_at > now() - $1::interval",
            STALE_AFTER,
        )
    )


async def listing(db: Db) -> list[Stuck]:
    rows = await db.fetch(
        """SELECT *, seen_at <= now() - $1::interval AS stale FROM stuck_activities
           ORDER BY stale, first_seen_at""",
        STALE_AFTER,
    )
    return [Stuck(**dict(r)) for r in rows]


async def forget_stale(db: Db) -> int:
    """Removes the stale rows (ops, after checking their workflows ended)."""
    done = await db.execute(
        "DELETE FROM stuck_activities WHERE seen_at <= now() - $1::interval", STALE_AFTER
    )
    return int(done.split()[-1])

"""SQL of the reconciliation runs (migration 0710): what each `python -m ops reconcile` found
and what it left; the worker's gauges read the latest run (ops/metrics.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from registry.db import Db

KEPT = timedelta(days=90)
DETAILS_KEPT = 200


@dataclass(frozen=True)
class Run:
    started_at: datetime
    live_cases: int
    queried: int
    differences_found: int
    missing_found: int
    differences: int  # cases whose row differs, left after the run
    missing: int  # live cases without a row, left after the run
    repaired: int = 0
    unchecked: int = 0
    # The differences left: {"dossier", "field", "row", "workflow"}.
    details: list[dict[str, str]] = field(default_factory=list)
    finished_at: datetime | None = None


_COLUMNS = (
    "started_at",
    "live_cases",
    "queried",
    "differences_found",
    "missing_found",
    "differences",
    "missing",
    "repaired",
    "unchecked",
    "details",
)
# details, the last column, is given as JSON text (whether or not the connection has a json
# codec).
_INSERT = f"""INSERT INTO reconcile_runs ({", ".join(_COLUMNS)})
    VALUES ({", ".join(f"${i}" for i in range(1, len(_COLUMNS)))}, ${len(_COLUMNS)}::text::jsonb)"""


async def record(db: Db, run: Run) -> None:
    """Stores the run and deletes the runs older than `KEPT`."""
    data: dict[str, Any] = asdict(run)
    data["details"] = json.dumps(run.details[:DETAILS_KEPT])
    await db.execute(_INSERT, *(data[c] for c in _COLUMNS))
    await db.execute("DELETE FROM reconcile_runs WHERE finished_at < now() - $1::interval", KEPT)


async def latest(db: Db) -> Run | None:
    r = await db.fetchrow(
        f"""SELECT {", ".join(_COLUMNS)}, finished_at FROM reconcile_runs
            ORDER BY finished_at DESC, id DESC LIMIT 1"""
    )
    if r is None:
        return None
    data = {c: r[c] for c in (*_COLUMNS, "finished_at")}
    details = data["details"]
    data["details"] = json.loads(details) if isinstance(details, str) else details
    return Run(**data)

"""Workflow state and registry agree: a case's current-state row (`case_rows`) against what
its workflow holds (the `status` query), for a few cases at a time.

Two comparisons: the reconcile command's own (`ops.reconcile.differences`: the row's state
fields against what the live status makes of them), and the portal's view of the row
against the live status (appeals, screenings, windows: what a reader of the dossier sees).
Queries go a few at a time: the time-skipping server does not take many at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from bench.decade.concurrency import at_most
from models.case import Appeal, CaseStatus
from ops import reconcile
from registry import case_rows

QUERY_TIMEOUT = timedelta(seconds=10)
QUERIES_AT_ONCE = 3


def _facts(s: CaseStatus) -> dict[str, Any]:
    """What the portal reads and both sides must hold alike (not the e-mails in flight or
    the trail of recent steps, which the registry reads apart)."""
    return {
        "state": s.state.value,
        "end_reason": s.end_reason.value if s.end_reason else None,
        "registered_from": s.registered_from,
        "registered_until": s.registered_until,
        "appeal_window": s.appeal_window.last_day if s.appeal_window else None,
        "removal": s.removal.last_day if s.removal else None,
        "appeals": [_appeal(a) for a in s.appeals],
        "screenings": [(o.year, o.passed) for o in s.screenings],
        "predecessor": s.predecessor,
        "replaced_by": s.replaced_by,
    }


def _appeal(a: Appeal) -> tuple[Any, ...]:
    outcome = a.decision.outcome if a.decision else None
    return (a.number, a.subject.value, a.deadline.last_day, a.overdue, outcome, len(a.hearings))


async def disagreements(
    client: Client, pool: asyncpg.Pool[Any], dossiers: Iterable[str]
) -> list[tuple[str, str]]:
    """(dossier, what differs) for each case whose row and workflow disagree."""
    numbers = list(dossiers)
    found = await at_most(QUERIES_AT_ONCE, (_compare(client, pool, n) for n in numbers))
    return [(n, what) for n, what in zip(numbers, found, strict=True) if what]


async def _compare(client: Client, pool: asyncpg.Pool[Any], dossier: str) -> str:
    row = await case_rows.view(pool, dossier)  # what the portal reads
    if row is None:
        return "no current-state row in the registry"
    try:
        live = await client.get_workflow_handle(dossier).query(
            "status", result_type=CaseStatus, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as exc:
        return f"its workflow did not answer the status query: {exc}"
    stored = await case_rows.get(pool, dossier)
    diff = [f"row {d.field}: registry {d.row}, workflow {d.workflow}"
            for d in (reconcile.differences(stored, live) if stored else [])]  # fmt: skip
    mine, theirs = _facts(row), _facts(live)
    diff += [f"{k}: registry {mine[k]!r}, workflow {theirs[k]!r}" for k in mine
             if mine[k] != theirs[k]]  # fmt: skip
    return "; ".join(diff)

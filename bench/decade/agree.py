"""Workflow state and registry agree: a case's current-state row (`case_rows`) against what
its workflow holds (the `status` query), for a few cases at a time.

A stand-in for `python -m ops reconcile` (ops/reconcile.py, being built on its own branch):
once that lands, `disagreements` becomes a call to it for the same dossiers. Queries go
one at a time: the time-skipping server does not take many at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from models.case import Appeal, CaseStatus
from registry import case_rows

QUERY_TIMEOUT = timedelta(seconds=10)


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
    found: list[tuple[str, str]] = []
    for dossier in dossiers:
        row = await case_rows.view(pool, dossier)  # what the portal reads
        if row is None:
            found.append((dossier, "no current-state row in the registry"))
            continue
        try:
            live = await client.get_workflow_handle(dossier).query(
                "status", result_type=CaseStatus, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            found.append((dossier, f"its workflow did not answer the status query: {exc}"))
            continue
        mine, theirs = _facts(row), _facts(live)
        diff = [f"{k}: registry {mine[k]!r}, workflow {theirs[k]!r}" for k in mine
                if mine[k] != theirs[k]]  # fmt: skip
        if diff:
            found.append((dossier, "; ".join(diff)))
    return found

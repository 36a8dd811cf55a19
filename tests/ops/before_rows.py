"""Cases made by the code from before the case rows (tests/ops/test_reconcile.py runs this
file with that commit's tree first on PYTHONPATH, against the test's Temporal server and
database): the old worker and the old submission take five cases into their states, then
the worker stops. Prints {state: dossier} as JSON. Uses only what both versions have."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import date, timedelta
from typing import Any

from models.case import AppealInput, CaseState, CaseStatus, ReviewDecisionInput, WithdrawInput
from registry.db import create_pool
from runtime.settings import load_settings
from runtime.temporal import connect
from starter.client import CaseService
from tests.workflows.harness import PROVIDER, VOC_REVIEWER, application, seed_providers
from worker import build_worker

REASON = "De opleiding sluit onvoldoende aan bij de arbeidsmarkt."


async def main() -> None:
    settings = load_settings()
    client = await connect(settings)
    pool = await create_pool(settings)
    service = CaseService(settings, client=client, pool=pool)
    await seed_providers(pool)
    start = date.today() + timedelta(days=150)

    async def submit() -> str:
        return (await service.submit(application(start), idempotency_key=str(uuid.uuid4()))).dossier

    async def at_rest(dossier: str) -> None:
        """Every e-mail of the case sent (a refusal's window then open) before the worker
        stops: the case waits for people or time only."""
        handle = client.get_workflow_handle(dossier)
        for _ in range(300):
            status = await handle.query("status", result_type=CaseStatus)
            window = status.state != CaseState.REFUSED or status.appeal_window is not None
            if not status.pending_notices and status.history and window:
                return
            await asyncio.sleep(0.05)  # polling a query, not standing in for a timer
        raise AssertionError(f"{dossier} never came to rest")

    refuse = ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    steps: dict[str, list[Any]] = {
        "under_review": [],
        "registered": [ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)],
        "refused": [refuse],
        "in_appeal": [refuse, AppealInput(actor=PROVIDER, motivation="Beroep met motivering.")],
        "withdrawn": [WithdrawInput(actor=PROVIDER, reason="vergissing")],
    }

    async def made(inputs: list[Any]) -> str:
        dossier = await submit()
        for inp in inputs:
            await service.update(dossier, inp)
        await at_rest(dossier)
        return dossier

    async with build_worker(client, settings, pool):
        made_ = await asyncio.gather(*(made(inputs) for inputs in steps.values()))
    cases = dict(zip(steps, made_, strict=True))
    await pool.close()
    sys.stdout.write(json.dumps(cases) + "\n")


if __name__ == "__main__":
    asyncio.run(main())

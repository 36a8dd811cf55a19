"""Ops read what each update, signal and query of a case (and of a screening run) is for
in the Web UI and with `temporal workflow metadata`: both ask the worker the built-in
`__temporal_workflow_metadata` query, asked here of a real dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.application import TrainingApplication, VolumeUnit
from models.case import CaseInput, CaseState, CaseStatus
from models.screening import Phase, ScreeningInput, ScreeningProgress
from workflows.application import ApplicationWorkflow
from workflows.screening import ScreeningWorkflow

HANDLERS = {
    "ApplicationWorkflow": {
        "query": {"status"},
        "signal": {"screening_outcome", "replaced", "retry_notice"},
        "update": {
            "review_decision",
            "withdraw",
            "file_appeal",
            "register_appeal",
            "record_hearing",
            "bec_decision",
            "stop",
            "revoke",
            "correct_receipt_date",
        },
    },
    "ScreeningWorkflow": {"query": {"progress"}, "signal": set(), "update": set()},
}


async def _metadata(handle: WorkflowHandle[Any, Any]) -> dict[str, dict[str, str]]:
    """kind -> handler name -> description, without the SDK's own `__` queries."""
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    d = meta.definition
    return {
        kind: {h.name: h.description for h in handlers if not h.name.startswith("__")}
        for kind, handlers in (
            ("query", d.query_definitions),
            ("signal", d.signal_definitions),
            ("update", d.update_definitions),
        )
    }


async def test_every_handler_shows_its_description(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    # Both start from carried state: the case waits for its reviewer, the screening for
    # its report activity (no activity worker here), so neither needs the registry.
    now = datetime.now(UTC)
    application = TrainingApplication(
        provider="0123456749",
        provider_name="Opleidingscentrum Vooruit vzw",
        contact_email="dossiers@vooruit.example.be",
        title="Lassen voor gevorderden",
        start_date=date(now.year + 1, 9, 1),
        volume=Decimal(40),
        volume_unit=VolumeUnit.CONTACT_HOURS,
    )
    dossier = f"ODB-{now.year}-{uuid.uuid4().int % 1_000_000:06d}"
    carried = CaseStatus(
        dossier=dossier,
        title=application.title,
        provider=application.provider,
        competent_body=application.competent_body,
        state=CaseState.UNDER_REVIEW,
        submitted_at=now,
    )
    progress = ScreeningProgress(
        year=now.year,
        screening_date=now.date(),
        rubric_version="example-2027",
        total=0,
        phase=Phase.REPORTING,
    )
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ApplicationWorkflow, ScreeningWorkflow],
    ):
        case = await client.start_workflow(
            ApplicationWorkflow.run,
            CaseInput(dossier=dossier, application=application, submitted_at=now, carried=carried),
            id=dossier,
            task_queue=task_queue,
        )
        screening = await client.start_workflow(
            ScreeningWorkflow.run,
            ScreeningInput(year=now.year, screening_date=now.date(), carried=progress),
            id=f"screening-test-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        try:
            for name, handle in (("ApplicationWorkflow", case), ("ScreeningWorkflow", screening)):
                shown = await _metadata(handle)
                for kind, names in HANDLERS[name].items():
                    assert set(shown[kind]) == names, (name, kind)
                    missing = [n for n, text in shown[kind].items() if len(text) < 40]
                    assert not missing, f"{name} {kind}s without a description: {missing}"
            case_meta = await _metadata(case)
            assert case_meta["update"]["review_decision"].startswith(
                "A reviewer of the competent body approves, or refuses with a written reason"
            )
            assert "`python -m starter mail resend`" in case_meta["signal"]["retry_notice"]
            assert (
                "`python -m starter screen follow`"
                in ((await _metadata(screening))["query"]["progress"])
            )
        finally:
            for handle in (case, screening):
                await handle.terminate("handler description test done")

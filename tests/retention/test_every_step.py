"""Every step a case records, through the declared strip: every recorded lifecycle history
(tests/histories: approvals, refusals, lapsed windows, appeals by portal and by e-mail,
hearings, overdue BEC decisions, corrections, screenings, removals, replacements, stops,
withdrawals) is replayed against the current workflow code, each step it asks the registry to
record (with its copy of the case) is written into a registry of its own as the case's
activity writes it (the step, its e-mails), people and all, and stripped as
personal_fields.yaml declares.

What must hold: every field the declaration does not name is byte for byte what it was;
every declared field holds a role, or nothing; no person's id, address or text is left
anywhere in the rows; stripping again changes nothing. The purge world (test_purge.py)
does the same for cases driven through the API end to end, and its repair.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities.notifications import enqueue
from models.case import CaseInput
from models.personal import STEP_EVENTS
from models.retention import Kind
from models.steps import StepInput
from registry import applications, providers, steps
from registry import personal as declared
from registry.db import create_pool
from runtime.retention_table import load_personal
from runtime.settings import Settings
from tests.fixtures.postgres import own_database
from tests.retention.rows import declared as declared_fields
from tests.retention.rows import masked, stored_rows, values_at
from workflows.application import ApplicationWorkflow

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests" / "histories").glob("*.json"))
PERSON = "user-person-7"  # every person's id in the steps below
CONTACT = "jan.janssens@contact.example.be"
TEXT = "Jan Janssens schreef dit zelf."  # free text a person wrote, outside a decision
PERSONAL_REASON = {"application.withdrawn", "application.stopped"}
ROLES = {"provider", "department", "BEC", "system", "user"} | {
    f"reviewer {b}" for b in ("VOC", "PC 200", "PC 118.03")
}
# Audit events no recorded history schedules as an activity (recorded by a local
# activity, or a step only logged): the purge world (test_purge.py) plays these through the
# API. screening.positive is no audit step at all, only a line of the case's history.
ELSEWHERE = {
    "application.revoked",
    "application.screening.negative",
    "application.screening.positive",
}


def _decoded(payload: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payload["data"]))


_captured: list[StepInput] = []


class _Steps(WorkflowOutboundInterceptor):
    """Keeps every step the case asks the registry to record, as the current code builds it
    while it replays a history (the activities themselves are not run)."""

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        _captured.extend(a for a in input.args if isinstance(a, StepInput))
        return super().start_local_activity(input)

    def start_activity(self, input: StartActivityInput) -> Any:
        _captured.extend(a for a in input.args if isinstance(a, StepInput))
        return super().start_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Steps(outbound))


class _Capture(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


async def recorded_cases() -> list[tuple[str, CaseInput, list[StepInput]]]:
    """(history, the case's input, every step the case records in it)."""
    out = []
    # Unsandboxed: the interceptor's list is this module's (replay runs no I/O either way).
    replayer = Replayer(
        workflows=[ApplicationWorkflow],
        data_converter=pydantic_data_converter,
        interceptors=[_Capture()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for path in HISTORIES:
        data = json.loads(path.read_text())
        start = data["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
        case = CaseInput.model_validate(_decoded(start["input"]["payloads"][0]))
        _captured.clear()
        await replayer.replay_workflow(
            WorkflowHistory.from_json(data["workflow_id"], data["history"])
        )
        out.append((path.name, case, list(_captured)))
    return out


def _with_people(value: Any, dossier: str, old: str) -> Any:
    """The step as a person's case writes it: the recorded ids and addresses replaced by
    one person's, the recorded dossier by this registry's."""
    text = json.dumps(value).replace(old, dossier)
    data = json.loads(text)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if (
                    k in ("subject",)
                    and isinstance(item, str)
                    and item != "system"
                    and ("roles" in v)
                ) or (k in ("decided_by", "filed_by", "recorded_by", "by") and item != "system"):
                    out[k] = PERSON
                elif k == "contact_email":
                    out[k] = CONTACT
                elif k in ("motivation", "note", "document_reference") and item:
                    out[k] = TEXT
                else:
                    out[k] = walk(item)
            return out
        if isinstance(v, list):
            return [walk(i) for i in v]
        return v

    return walk(data)


class Registry:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool
        self.dossiers: list[str] = []
        self.events: set[str] = set()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(pg_dsn: str, test_settings: Settings) -> AsyncIterator[Registry]:
    async with own_database(pg_dsn, "every_step") as dsn:
        settings = test_settings.model_copy(
            update={"postgres": test_settings.postgres.model_copy(update={"url": dsn})}
        )
        pool = await create_pool(settings)
        try:
            r = Registry(pool)
            for name, case, found in await recorded_cases():
                app = case.application.model_copy(
                    update={"contact_email": CONTACT, "predecessor_dossier": None}
                )
                async with pool.acquire() as conn:
                    await providers.upsert(conn, app.provider, "Opleider nv", CONTACT)
                    dossier, _ = await applications.allocate(
                        conn, f"every-step-{name}", app, case.submitted_at
                    )
                    for recorded in found:
                        data = _with_people(recorded.model_dump(mode="json"), dossier, case.dossier)
                        if data["event"] in PERSONAL_REASON:
                            data["details"] = {**data.get("details", {}), "reason": TEXT}
                        step = StepInput.model_validate(data)
                        if step.appeal is not None and step.appeal.document_id is not None:
                            # The document itself is not in the history.
                            step = step.model_copy(
                                update={
                                    "appeal": step.appeal.model_copy(update={"document_id": None})
                                }
                            )
                        async with conn.transaction():
                            if await steps.record(conn, step):
                                await enqueue(conn, settings, step)
                        r.events.add(step.event)
                    await conn.execute(
                        "UPDATE notifications SET status = 'sent', sent_at = now(), "
                        "last_error = $2 WHERE dossier = $1",
                        dossier,
                        f"550 mailbox {CONTACT} full (once)",
                    )
                r.dossiers.append(dossier)
            yield r
        finally:
            await pool.close()


def _text(rows: dict[tuple[str, str], dict[str, Any]]) -> str:
    return json.dumps(list(rows.values()), default=str)


async def _strip(r: Registry) -> None:
    personal = load_personal(ROOT / "personal_fields.yaml")
    async with r.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL odb.retention = 'strip'")
        for kind in (Kind.EMAILS, Kind.AUDIT, Kind.DOSSIER):
            await declared.strip_tables(conn, personal, personal.tables_of(kind), r.dossiers)


async def test_every_recorded_step_keeps_all_but_its_declared_personal_fields(
    registry: Registry,
) -> None:
    personal = load_personal(ROOT / "personal_fields.yaml")
    assert registry.events | ELSEWHERE == set(STEP_EVENTS), set(STEP_EVENTS) - registry.events
    before = await stored_rows(registry.pool, registry.dossiers, [])
    assert len(before) > 200 and {t for t, _ in before} == set(personal.tables) - {
        "providers",
        "provider_changes",
    }
    assert all(x in _text(before) for x in (PERSON, CONTACT, TEXT))
    await _strip(registry)
    after = await stored_rows(registry.pool, registry.dossiers, [])
    assert set(after) == set(before)
    for (table, key), row in before.items():
        assert masked(personal, table, after[(table, key)]) == masked(personal, table, row), (
            table,
            key,
        )
    for (table, key), row in after.items():
        for f in declared_fields(personal.fields(table), row, row.get("event")):
            for value in values_at(f, row):
                if f.treatment.value == "role":
                    assert value in ROLES, (table, key, f.path, value)
                else:
                    assert value in ("", None), (table, key, f.path, value)
    assert not any(x in _text(after) for x in (PERSON, CONTACT, TEXT))

    await _strip(registry)
    assert await stored_rows(registry.pool, registry.dossiers, []) == after

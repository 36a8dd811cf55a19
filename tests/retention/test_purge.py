"""Retention on real servers, with short periods: the Temporal dev server, an empty registry
of its own, the real worker and API. Cases end through the API; each ended case writes its
archive; Temporal deletes the closed histories (as the namespace's retention does in
production, asked for here by DeleteWorkflowExecution: the dev server's retention timer is
not punctual enough for a test); then a dry run and the purge (RetentionWorkflow) as of a
moment past the test table's minutes.

What must hold: every read still answers from the registry after Temporal forgot the cases;
the purge takes exactly what the dry run listed, kind by kind, in audited batches; the
people are gone from the purged dossiers (contact e-mail, user ids, free text), their
documents are gone, and the decisions and registrations still answer; a second purge and a
retried batch change nothing; a dossier on hold and a running case are untouched.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.archives import read_manifest, verify
from models.retention import Due, Kind, RetentionInput, RetentionReport
from registry import queries
from registry import retention as repo
from registry.db import create_pool
from rules.deadlines import brussels_day
from runtime.retention_table import load_personal, load_table
from runtime.settings import Settings
from tests.documents.test_documents import pdf, upload
from tests.fixtures.api import OTHER_ORG, Api, cli, serving
from tests.fixtures.postgres import own_database
from tests.retention import old_strip
from tests.retention.rows import declared, masked, stored_rows, values_at
from workflows.retention import RetentionWorkflow

# The module's first test also plays its cases and waits until Temporal deleted their
# histories (seconds here, longer on a loaded machine): more than the 120 s a test gets by
# default.
pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
# Reasons of decisions (the department's, the BEC's): the decision, kept whole.
REVOKED = "Voldoet niet langer aan de criteria."
CORRECTED = "Ontvangst per aangetekende zending."
GRANTED = "Nieuwe feiten aangetoond."


def minutes_table(folder: Path) -> Path:
    """retention.yaml with periods of minutes: the shipped reasons, shorter clocks."""
    text = (ROOT / "retention.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("keep: {years: 10}", "keep: {minutes: 5}"),
        ("keep: {years: 2}", "keep: {minutes: 2}"),
        ("keep: {years: 1}", "keep: {minutes: 1}"),
        ("keep: {days: 90}", "keep: {minutes: 1}"),
    ):
        text = text.replace(old, new)
    path = folder / "retention-minutes.yaml"
    path.write_text(text.replace('version: "2027-1"', 'version: "test-minutes"'))
    load_table(path)  # valid
    return path


@dataclass
class World:
    api: Api
    pool: asyncpg.Pool[Any]
    settings: Settings
    tag: str
    ended: dict[str, str] = field(default_factory=dict)  # how -> dossier
    running: str = ""
    held: str = ""
    document_id: str = ""
    deactivated: str = OTHER_ORG
    export: bytes = b""
    reads_after_temporal_forgot: dict[str, int] = field(default_factory=dict)
    as_of: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    dry_run: list[Due] = field(default_factory=list)
    report: RetentionReport | None = None
    second: RetentionReport | None = None
    # Every declared table's rows of the ended dossiers, before and after the first purge.
    before: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    after: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def contact(self, how: str) -> str:
        return f"{how}.{self.tag}@contact.example.be"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    dev_env: WorkflowEnvironment,
    pg_dsn: str,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    folder = tmp_path_factory.mktemp("retention")
    async with own_database(pg_dsn, "ret") as dsn:
        settings = test_settings.model_copy(
            update={
                "state_dir": folder,
                "postgres": test_settings.postgres.model_copy(update={"url": dsn}),
                "retention": test_settings.retention.model_copy(
                    update={"table": minutes_table(folder)}
                ),
            }
        )
        pool = await create_pool(settings)
        try:
            async with serving(dev_env, pool, settings, prefix="retention") as api:
                w = World(api, pool, api.settings, uuid.uuid4().hex[:6])
                await _play(w, dev_env)
                yield w
        finally:
            await pool.close()


async def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _play(w: World, env: WorkflowEnvironment) -> None:
    api = w.api
    # Ended three ways: withdrawn; registered then stopped; refused, appealed with a
    # document, heard, rejected by the BEC.
    w.ended["withdrawn"] = await api.case_in("under_review", contact_email=w.contact("withdrawn"))
    await _ok(
        await api.act(
            w.ended["withdrawn"], "withdraw", "provider", {"reason": f"Ingetrokken door {w.tag}."}
        )
    )
    w.ended["stopped"] = await api.case_in("registered", contact_email=w.contact("stopped"))
    await _ok(await api.act(w.ended["stopped"], "stop", "provider", {"reason": "niet meer"}))
    appealed = await api.case_in("refused", contact_email=w.contact("appealed"))
    w.ended["appealed"] = appealed
    doc = await _ok(await upload(api, pdf(w.tag), name=f"motivatie-{w.tag}.pdf"), 201)
    w.document_id = doc["id"]
    await _ok(
        await api.act(
            appealed,
            "appeal",
            "provider",
            {
                "motivation": f"Breed inzetbaar, zegt {w.tag}.",
                "document_id": w.document_id,
                "document_reference": f"brief van {w.tag}",
            },
        )
    )
    for side in ("provider", "department"):
        await _ok(await api.act(appealed, "hearing", "bec", {"side": side, "note": w.tag}))
    await _ok(
        await api.act(
            appealed, "bec-decision", "bec", {"granted": False, "reason": "geen nieuwe feiten"}
        )
    )
    # Revoked by the department: its reason is the department's act and stays.
    w.ended["revoked"] = await api.case_in("registered", contact_email=w.contact("revoked"))
    await _ok(await api.act(w.ended["revoked"], "revoke", "department", {"reason": REVOKED}))
    # Refused, its receipt corrected, appealed by e-mail (registered by the BEC), one hearing
    # waived, granted, then stopped by the provider.
    granted = await api.case_in("refused", contact_email=w.contact("granted"))
    w.ended["granted"] = granted
    today = brussels_day(datetime.now(UTC)).isoformat()  # the case's day, after 23:00 UTC too
    await _ok(
        await api.act(
            granted,
            "receipt-date",
            "department",
            {"deadline": "appeal_window", "received_on": today, "reason": CORRECTED},
        )
    )
    await _ok(
        await api.act(
            granted,
            "appeal-by-email",
            "bec",
            {"received_at": datetime.now(UTC).isoformat(), "motivation": f"Per mail {w.tag}."},
        )
    )
    await _ok(await api.act(granted, "hearing", "bec", {"side": "provider", "waived": True}))
    await _ok(await api.act(granted, "hearing", "bec", {"side": "department", "note": w.tag}))
    await _ok(await api.act(granted, "bec-decision", "bec", {"granted": True, "reason": GRANTED}))
    await _ok(await api.act(granted, "stop", "provider", {"reason": f"Stopt, zegt {w.tag}."}))
    # Untouched by the purge: a running case, and an ended one on hold (a case in court).
    w.running = await api.case_in("registered", contact_email=w.contact("running"))
    w.held = await api.case_in("under_review", contact_email=w.contact("held"))
    await _ok(await api.act(w.held, "withdraw", "provider", {}))
    assert await repo.hold(w.pool, w.held, "beroep bij de Raad van State", "test")
    # A provider organisation the department deactivated, with its contact.
    dept = api.auth("department")
    await _ok(
        await api.http.put(
            f"/providers/{OTHER_ORG}",
            json={"name": "Andere Opleider nv", "contact_email": w.contact("provider")},
            headers=dept,
        )
    )
    await _ok(
        await api.http.post(
            f"/providers/{OTHER_ORG}/deactivate", json={"reason": "stopt"}, headers=dept
        )
    )
    # Webhook deliveries the portal accepted (the kind counted from their acceptance).
    await w.pool.execute(
        "INSERT INTO event_subscriptions (name, url) VALUES ('portal', 'http://portal.test/h')"
    )
    await w.pool.execute(
        """INSERT INTO event_deliveries (subscription, seq, dossier, status, delivered_at)
           SELECT 'portal', seq, subject, 'delivered', now() FROM events"""
    )
    # Each ended case closes once its archive is written; Temporal then forgets it.
    for dossier in [*w.ended.values(), w.held]:
        await env.client.get_workflow_handle(dossier).result()
    w.export = (
        await api.http.get("/providers/0123456749/export", headers=api.auth("department"))
    ).content
    await _forgotten(env, [*w.ended.values(), w.held])
    for how, dossier in w.ended.items():
        read = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
        w.reads_after_temporal_forgot[how] = read.status_code
    # The dry run, then the purge as of the same instant: past every minute of the table.
    w.as_of = datetime.now(UTC) + timedelta(minutes=10)
    table = load_table(w.settings.retention.table)
    async with w.pool.acquire() as conn:
        w.dry_run = await repo.due(conn, table, w.as_of)
    w.before = await stored_rows(w.pool, list(w.ended.values()), [w.deactivated])
    w.report = await _purge(env, w, "first")
    w.after = await stored_rows(w.pool, list(w.ended.values()), [w.deactivated])
    w.second = await _purge(env, w, "second")


async def _purge(env: WorkflowEnvironment, w: World, name: str) -> RetentionReport:
    # Two per batch and three batches per run: several batches per kind, continue-as-new.
    return await env.client.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(as_of=w.as_of, batch_size=2, batches_per_run=3),
        id=f"retention-{name}-{w.tag}",
        task_queue=w.settings.temporal.task_queue,
    )


async def _forgotten(env: WorkflowEnvironment, dossiers: list[str], within: float = 120) -> None:
    """Deletes each closed history and waits until the server no longer knows it (deletion
    runs in the background): polling the server, not a sleep standing in for a timer."""
    deadline = asyncio.get_running_loop().time() + within
    for dossier in dossiers:
        await env.client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=env.client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=dossier),
            )
        )
    for dossier in dossiers:
        while True:
            try:
                await env.client.get_workflow_handle(dossier).describe()
            except RPCError as exc:
                assert exc.status == RPCStatusCode.NOT_FOUND
                break
            assert asyncio.get_running_loop().time() < deadline, f"{dossier} still kept"
            await asyncio.sleep(0.25)


# ---- after Temporal's retention ----


async def test_reads_answer_from_the_registry_after_temporal_deleted_the_closed_cases(
    world: World,
) -> None:
    assert world.reads_after_temporal_forgot == {k: 200 for k in world.ended}
    api, stopped = world.api, world.ended["stopped"]
    refused = await api.act(stopped, "revoke", "department", {"reason": "te laat ingetrokken"})
    assert refused.status_code == 409, refused.text
    assert "stopped" in refused.json()["detail"]  # the registry's own end reason


async def test_each_ended_case_wrote_one_archive_that_verifies_against_its_manifest(
    world: World,
) -> None:
    for dossier in [*world.ended.values(), world.held]:
        row = await world.pool.fetchrow(
            "SELECT path, sha256 FROM dossier_archives WHERE dossier = $1", dossier
        )
        assert row is not None, dossier
        path = world.settings.archive_path / row["path"]
        assert verify(path) == []
        assert path.with_name(path.name + ".sha256").read_text().startswith(row["sha256"])
    appealed = world.settings.archive_path / f"{world.ended['appealed'][4:8]}"
    with zipfile.ZipFile(appealed / f"{world.ended['appealed']}.zip") as z:
        names = set(z.namelist())
        record = json.loads(z.read("dossier.json"))
    assert f"documents/{world.document_id}.pdf" in names
    assert any(n.startswith("emails/") and n.endswith(".eml") for n in names)
    assert "bec_decision" in {d["kind"] for d in record["record"]["deadlines"]}
    assert all(d["rule"] for d in record["record"]["deadlines"])  # how each was computed
    assert world.contact("appealed") in json.dumps(record)  # the archive is the whole record


async def test_the_provider_export_holds_every_dossier_with_a_checked_manifest(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(world.export)
    manifest = read_manifest(path)
    assert verify(path) == [] and manifest.kind == "provider"
    paths = {p.path for p in manifest.parts}
    for dossier in [*world.ended.values(), world.running]:
        assert f"dossiers/{dossier}/dossier.json" in paths
    assert f"dossiers/{world.ended['appealed']}/documents/{world.document_id}.pdf" in paths
    denied = await world.api.http.get(
        "/providers/0123456749/export", headers=world.api.auth("provider")
    )
    assert denied.status_code == 403


# ---- the purge ----


async def test_the_purge_takes_exactly_what_the_dry_run_listed_in_audited_batches(
    world: World,
) -> None:
    assert world.report is not None
    rows = await repo.batches(world.pool, world.report.run_id, limit=1000)
    taken: dict[str, set[str]] = {}
    for b in rows:
        assert 0 < b.count <= 2 and b.moment_from is not None and b.moment_to is not None
        taken.setdefault(b.kind, set()).update(b.keys)
    listed = {d.kind.value: set(d.keys) for d in world.dry_run if d.keys}
    assert taken == listed
    assert world.report.taken == {k: len(v) for k, v in listed.items()} | {
        k: 0 for k in world.report.taken if k not in listed
    }
    purged = set(world.ended.values())
    assert listed[Kind.DOSSIER.value] == purged
    assert listed[Kind.DOCUMENTS.value] == {world.document_id}
    assert {k.split("@")[0] for k in listed[Kind.PROVIDER_CONTACT.value]} == {OTHER_ORG}
    assert len(rows) > 6  # several batches across continued runs
    run = await world.pool.fetchrow(
        "SELECT table_version, finished_at FROM retention_runs WHERE run_id = $1",
        world.report.run_id,
    )
    assert run is not None
    assert run["table_version"] == "test-minutes" and run["finished_at"] is not None


async def test_a_second_purge_and_a_retried_batch_change_nothing(world: World) -> None:
    assert world.second is not None and world.report is not None
    assert world.second.run_id != world.report.run_id
    assert sum(world.second.taken.values()) == 0
    assert await repo.batches(world.pool, world.second.run_id) == []
    first = (await repo.batches(world.pool, world.report.run_id, limit=1))[0]
    table = load_table(world.settings.retention.table)
    before = await _dossier_text(world.pool, world.ended["stopped"])
    async with world.pool.acquire() as conn:
        again = await repo.batch(
            conn,
            run_id=world.report.run_id,
            batch_key=f"{world.report.run_id}/{Kind.PROVIDER_CONTACT.value}/0",
            kind=Kind.PROVIDER_CONTACT,
            rule=table.rule(Kind.PROVIDER_CONTACT),
            table_version=table.version,
            as_of=world.as_of,
            limit=2,
            personal=_personal(world),
        )
    assert again.count == 0 or again.replayed
    assert first.count > 0
    assert await _dossier_text(world.pool, world.ended["stopped"]) == before


async def _dossier_text(pool: asyncpg.Pool[Any], dossier: str) -> str:
    """Every registry row that belongs to a dossier, as text."""
    parts = []
    for table, key in (
        ("applications", "dossier"),
        ("case_rows", "dossier"),
        ("decisions", "dossier"),
        ("appeals", "dossier"),
        ("hearings", "dossier"),
        ("audit", "dossier"),
        ("notifications", "dossier"),
        ("events", "subject"),
        ("registration_periods", "dossier"),
    ):
        rows = await pool.fetch(
            f"SELECT row_to_json(t)::text AS j FROM {table} t WHERE {key} = $1 ORDER BY 1",
            dossier,
        )
        parts += [r["j"] for r in rows]
    return "\n".join(parts)


async def test_people_are_gone_from_purged_dossiers_and_kept_in_the_others(world: World) -> None:
    for how, dossier in world.ended.items():
        text = await _dossier_text(world.pool, dossier)
        assert world.contact(how) not in text, how
        assert "user-" not in text, how  # no user id of any person (tokens' subjects)
        assert world.tag not in text, how  # the motivation and the hearing notes
    for how, dossier in (("running", world.running), ("held", world.held)):
        assert world.contact(how) in await _dossier_text(world.pool, dossier)
    provider = await world.pool.fetchrow(
        "SELECT contact_email FROM providers WHERE enterprise_number = $1", OTHER_ORG
    )
    assert provider is not None and provider["contact_email"] is None
    changes = await world.pool.fetch(
        "SELECT by_subject, after::text FROM provider_changes WHERE enterprise_number = $1",
        OTHER_ORG,
    )
    assert changes and all(
        c["by_subject"] == "department" and world.tag not in c["after"] for c in changes
    )


async def test_an_email_whose_address_retention_removed_is_not_queued_again(
    world: World,
) -> None:
    """Ops' `mail resend` of such an e-mail would queue a message with no address, late
    forever in `mail list`: it is refused by name, and the record of its sending stays."""
    stopped = world.ended["stopped"]
    first = await world.pool.fetchrow(
        "SELECT message_id, sent_at FROM notifications WHERE dossier = $1 ORDER BY id LIMIT 1",
        stopped,
    )
    assert first is not None
    message_id, sent_at = first["message_id"], first["sent_at"]
    code, out, err = await cli(world.api, "mail", "resend", message_id)
    assert code == 2, out + err
    assert "removed under the retention rule `emails`" in out and stopped in out
    kept = await world.pool.fetchrow(
        "SELECT status, sent_at, to_address FROM notifications WHERE message_id = $1",
        message_id,
    )
    assert kept is not None and tuple(kept) == ("sent", sent_at, "")
    code, out, _ = await cli(world.api, "mail", "list")
    assert message_id not in out


async def test_documents_are_gone_and_decisions_and_registrations_still_answer(
    world: World,
) -> None:
    api, dept = world.api, world.api.auth("department")
    gone = await api.http.get(f"/documents/{world.document_id}", headers=dept)
    assert gone.status_code == 404
    assert await world.pool.fetchval("SELECT count(*) FROM documents") == 0
    appealed = await _ok(await api.http.get(f"/dossiers/{world.ended['appealed']}", headers=dept))
    assert [(d["outcome"], d["reason"], d["decided_by"]) for d in appealed["decisions"]] == [
        ("refused", "te smal voor de arbeidsmarkt", "reviewer VOC"),
        ("rejected", "geen nieuwe feiten", "BEC"),
    ]
    assert appealed["end_reason"] == "appeal_rejected"
    assert {h["by"] for h in appealed["history"]} <= {"provider", "reviewer VOC", "BEC", "system"}
    stopped = world.ended["stopped"]
    first_day = await world.pool.fetchval(
        "SELECT starts_on FROM registration_periods WHERE dossier = $1", stopped
    )
    answer = await _ok(
        await api.http.get(
            f"/dossiers/{stopped}/registered", params={"on": first_day.isoformat()}, headers=dept
        )
    )
    assert answer["registered"] is True
    export = await api.http.get(
        "/open-data/registered.csv", params={"on": first_day.isoformat()}, headers=dept
    )
    assert stopped in {r["dossier"] for r in csv.DictReader(io.StringIO(export.text))}


async def test_a_purged_dossiers_full_record_and_the_providers_export_still_read(
    world: World, tmp_path: Path
) -> None:
    for dossier in world.ended.values():
        record = await queries.dossier_record(world.pool, dossier)  # every step validates
        assert record.audit and all(isinstance(a.details, dict) for a in record.audit)
    assert await world.pool.fetchval(
        "SELECT count(*) FROM audit WHERE jsonb_typeof(details) <> 'object' "
        "OR jsonb_typeof(actor_detail) <> 'object'"
    ) == 0
    again = await world.api.http.get(
        "/providers/0123456749/export", headers=world.api.auth("department")
    )
    assert again.status_code == 200, again.text
    path = tmp_path / "after.zip"
    path.write_bytes(again.content)
    assert verify(path) == []
    with zipfile.ZipFile(path) as z:
        stopped = z.read(f"dossiers/{world.ended['stopped']}/dossier.json").decode()
        running = z.read(f"dossiers/{world.running}/dossier.json").decode()
    assert world.contact("stopped") not in stopped and "user-" not in stopped
    assert world.contact("running") in running


async def test_the_gauges_show_the_last_purge_the_holds_and_no_missing_archive(
    world: World,
) -> None:
    assert world.report is not None
    state = await repo.state(world.pool)
    assert state.holds == 1 and state.archives_missing == 0
    assert state.last_finished_at is not None
    assert state.taken == world.second.taken if world.second else {}


# ---- exactly the declared personal fields ----

ROLES = {"provider", "department", "BEC", "system", "reviewer VOC"}
# Declared fields this world has no value for (no mail server refused an address here).
ABSENT_HERE = {"last_error"}
PLAYED = {
    "application.submitted",
    "application.approved",
    "application.refused",
    "application.withdrawn",
    "application.stopped",
    "application.revoked",
    "application.deadline.corrected",
    "application.appeal.filed",
    "application.appeal.heard",
    "application.appeal.hearing_waived",
    "application.appeal.granted",
    "application.appeal.rejected",
}


def _personal(world: World) -> Any:
    return load_personal(world.settings.resolve(world.settings.retention.personal_fields))


async def test_the_purge_keeps_every_field_that_is_not_declared_personal_byte_for_byte(
    world: World,
) -> None:
    personal = _personal(world)
    events = {row["event"] for (table, _), row in world.before.items() if table == "audit"}
    assert events >= PLAYED, PLAYED - events
    assert set(world.before) == set(world.after)
    tables = {table for table, _ in world.before}
    assert tables == set(personal.tables), "every declared table has rows in this world"
    for (table, key), row in world.before.items():
        assert masked(personal, table, world.after[(table, key)]) == masked(
            personal, table, row
        ), (table, key)


async def test_every_declared_personal_field_is_gone_after_the_purge(world: World) -> None:
    personal = _personal(world)
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for (table, key), row in world.after.items():
        before = world.before[(table, key)]
        for f in declared(personal.fields(table), row, row.get("event")):
            if values_at(f, before) not in ([], [None], [""]):
                seen.add((table, f.path, f.events))
            for value in values_at(f, row):
                if f.treatment.value == "role":
                    assert value in ROLES, (table, key, f.path, value)
                else:
                    assert value in ("", None), (table, key, f.path, value)
    never = {
        (table, f.path, f.events)
        for table in personal.tables
        for f in personal.fields(table)
        if f.column not in ABSENT_HERE
    } - seen
    assert not never, f"declared paths this world never filled: {sorted(never)}"


async def test_what_the_old_guess_damaged_stays_and_the_withdrawal_reason_goes(
    world: World,
) -> None:
    appealed = await world.pool.fetch(
        "SELECT event, details FROM audit WHERE dossier = $1", world.ended["appealed"]
    )
    filed = next(r["details"] for r in appealed if r["event"] == "application.appeal.filed")
    assert filed["appeal"]["subject"] == "refusal" and filed["appeal"]["motivation"] == ""
    decided = next(r["details"] for r in appealed if r["event"] == "application.appeal.rejected")
    assert decided["decision"]["body"] == "BEC" and decided["decision"]["decided_by"] == "BEC"
    assert decided["decision"]["reason"] == "geen nieuwe feiten"
    assert decided["row"]["status"]["competent_body"] == "VOC"
    assert decided["notifications"][0]["context"]["reason"] == "geen nieuwe feiten"
    withdrawn = await world.pool.fetchval(
        "SELECT details FROM audit WHERE dossier = $1 AND event = 'application.withdrawn'",
        world.ended["withdrawn"],
    )
    assert withdrawn["details"]["reason"] == ""
    text = await _dossier_text(world.pool, world.ended["revoked"])
    assert REVOKED in text
    granted = await _dossier_text(world.pool, world.ended["granted"])
    assert CORRECTED in granted and GRANTED in granted


# ---- the repair of what the old strip damaged ----


async def _ops(world: World, *args: str) -> tuple[int, str, str]:
    """`python -m ops ARGS` as ops run it, against this world's registry and archives."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops",
        *args,
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": world.settings.postgres.url or "",
            "ODB_RETENTION__ARCHIVE_DIR": str(world.settings.archive_path),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_rows_the_old_strip_damaged_are_repaired_from_the_archives(world: World) -> None:
    dossiers = list(world.ended.values())
    await old_strip.damage(world.pool, dossiers)
    damaged = await stored_rows(world.pool, dossiers, [world.deactivated])
    appealed = world.ended["appealed"]
    filed = damaged[("audit", f"{appealed}:appeal-1")]["details"]
    assert filed["appeal"]["subject"] == "provider" and "row" not in filed  # the damage

    code, out, err = await _ops(world, "retention", "repair", "--dry-run")
    assert code == 0, out + err
    assert "would repair" in out and "nothing is changed" in out, out
    assert f"{appealed}  audit appeal-1" in out and "details.appeal.subject" in out, out
    assert await stored_rows(world.pool, dossiers, [world.deactivated]) == damaged
    assert await world.pool.fetchval("SELECT count(*) FROM retention_repairs") == 0

    code, out, err = await _ops(world, "retention", "repair")
    assert code == 0, out + err
    assert out.startswith("repaired "), out
    repaired = await stored_rows(world.pool, dossiers, [world.deactivated])
    for key, row in world.after.items():
        table = key[0]
        if table == "notifications":  # its values (`context`) are in no archive
            row = {c: v for c, v in row.items() if c != "context"}
            assert {c: v for c, v in repaired[key].items() if c != "context"} == row, key
        else:
            assert repaired[key] == row, key  # byte for byte what the declared strip keeps
    text = "\n".join([await _dossier_text(world.pool, d) for d in dossiers])
    assert world.tag not in text and "user-" not in text
    records = await world.pool.fetch(
        "SELECT dossier, table_name, paths, archive_sha256 FROM retention_repairs"
    )
    assert {r["dossier"] for r in records} == set(dossiers)
    assert all(r["paths"] and len(r["archive_sha256"]) == 64 for r in records)
    assert world.tag not in json.dumps([r["paths"] for r in records])

    code, out, err = await _ops(world, "retention", "repair")
    assert code == 0 and out.startswith("nothing to repair"), out + err
    assert await world.pool.fetchval("SELECT count(*) FROM retention_repairs") == len(records)

    # An archive that is not the one written is never used: its dossier stays as it is.
    stopped = world.ended["stopped"]
    await old_strip.damage(world.pool, [stopped])
    damaged = await stored_rows(world.pool, [stopped], [])
    path = world.settings.archive_path / stopped[4:8] / f"{stopped}.zip"
    original = path.read_bytes()
    path.write_bytes(original[:-100])
    try:
        code, out, err = await _ops(world, "retention", "repair", "--dossier", stopped)
    finally:
        path.write_bytes(original)
    assert code == 1, out + err
    assert f"{stopped}: not repaired, its archive" in err and "SHA-256 differs" in err, err
    assert await stored_rows(world.pool, [stopped], []) == damaged
    code, out, err = await _ops(world, "retention", "repair", "--dossier", stopped)
    assert code == 0 and out.startswith("repaired "), out + err

"""Reconciliation of the registry's case rows with the workflows (`python -m ops reconcile`),
and the migration of the cases from before the rows.

One world for the module: a Temporal dev server and a database of their own (nothing else
runs there, so every answer can be exact), holding cases made by the code from before the
case rows (tests/ops/before_rows.py, run on that commit's tree) and cases in every state
made by this code, with this code's worker. The tests run in file order: the first one
migrates the cases from before; each later one breaks something, checks that reconcile
reports it, and leaves the world agreeing again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from models import search
from models.case import (
    AppealInput,
    CaseState,
    CaseStatus,
    HearingInput,
    HearingSide,
    ReviewDecisionInput,
    ScreeningOutcome,
    StopInput,
    WithdrawInput,
)
from models.case_row import CaseRow, DossierView
from ops import reconcile
from ops.__main__ import main as ops_main
from ops.metrics import ReconcileMetrics
from registry import case_rows
from registry.db import create_pool
from registry.worklists import LISTS, page
from runtime.settings import PROJECT_ROOT, Settings
from starter import registry_reads
from starter.api.app import create_app
from starter.client import CaseService, summary
from tests.fixtures.api import auth
from tests.fixtures.postgres import own_database
from tests.fixtures.temporal import _binary
from tests.ops.conftest import REASON, _overdue_case
from tests.ops.test_metrics import parse, value
from tests.workflows.harness import (
    BEC,
    PROVIDER,
    VOC_REVIEWER,
    application,
    seed_providers,
    until,
)
from worker import build_worker
from workflows.application import ApplicationWorkflow

pytestmark = pytest.mark.devserver

# The last commit before the case rows (2f4553b added them): its code made the cases "from
# before" that the migration test finds without a row.
BEFORE_ROWS = "3a1330ed272118ca9b468fb6c13a12bb36fe7601"


@dataclass
class World:
    env: WorkflowEnvironment
    pool: asyncpg.Pool[Any]
    settings: Settings
    dsn: str
    service: CaseService
    cases: dict[str, str]  # made by this code, by what they are
    before: dict[str, str] | None  # made by the code from before the rows (None: unavailable)

    @property
    def client(self) -> Client:
        return self.env.client

    def cli_env(self) -> dict[str, str]:
        return {
            "TEMPORAL_ADDRESS": self.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": self.client.namespace,
            "DATABASE_URL": self.dsn,
        }


def _old_tree(into: Path) -> Path | None:
    """This repository's tree at BEFORE_ROWS, or None when git cannot give it."""
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", BEFORE_ROWS],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


async def _cases_from_before(
    settings: Settings, target: str, sink: SmtpSink, folder: Path
) -> dict[str, str] | None:
    """Runs tests/ops/before_rows.py on the old tree: the old worker and submission."""
    tree = _old_tree(folder / "before-rows")
    if tree is None:
        return None
    shutil.copy(Path(__file__).with_name("before_rows.py"), tree / "before_rows.py")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ODB_", "TEMPORAL_", "DATABASE_URL", "SMTP_"))
    }
    env.update(
        PYTHONPATH=str(tree),
        TEMPORAL_ADDRESS=target,
        TEMPORAL_NAMESPACE="default",
        DATABASE_URL=settings.postgres.url or "",
        ODB_TEMPORAL__TASK_QUEUE=settings.temporal.task_queue,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(sink.port),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(tree / "before_rows.py"),
        cwd=tree,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()[-3000:]
    cases: dict[str, str] = json.loads(out.decode().strip().splitlines()[-1])
    return cases


def _negative(year: int, notified_on: date) -> ScreeningOutcome:
    return ScreeningOutcome(
        year=year, passed=False, score=31.5, rubric_version="example-2027", notified_on=notified_on
    )


async def at_rest(world_client: Client, dossier: str) -> CaseStatus:
    """The case waits for people or time only: its e-mails sent, a refusal's window open."""
    handle = world_client.get_workflow_handle(dossier, result_type=CaseStatus)
    return await until(
        handle,
        lambda s: (
            not s.pending_notices
            and bool(s.history)
            and (s.state != CaseState.REFUSED or s.appeal_window is not None)
        ),
        within=30,
    )


async def _population(
    client: Client, service: CaseService, pool: asyncpg.Pool[Any], settings: Settings
) -> dict[str, str]:
    """Cases in every state, made by this code (the overdue one on a time-skipping server
    first, then carried on here, as the ops tests make theirs)."""
    overdue_id, overdue_input = await _overdue_case(pool, settings)
    today = datetime.now(UTC).date()
    start = today + timedelta(days=150)

    async def submit(**changes: Any) -> str:
        return (
            await service.submit(application(start, **changes), idempotency_key=str(uuid.uuid4()))
        ).dossier

    refuse = ReviewDecisionInput(actor=VOC_REVIEWER, approve=False, reason=REASON)
    approve = ReviewDecisionInput(actor=VOC_REVIEWER, approve=True)
    appeal = AppealInput(actor=PROVIDER, motivation="Beroep met motivering.")
    hearings = [HearingInput(actor=BEC, side=side) for side in HearingSide]
    # The screening's messages: a negative one (removal scheduled, window open), a positive
    # one (a step the case logs without a registry row of its own); both continue as new.
    negative = _negative(today.year, today - timedelta(days=20))
    positive = ScreeningOutcome(
        year=today.year, passed=True, score=80, rubric_version="example-2027", notified_on=today
    )
    steps: dict[str, tuple[dict[str, Any], list[Any]]] = {
        "voc_review": ({}, []),
        "pc200_review": ({"joint_committee": "PC 200"}, []),
        "registered": ({}, [approve]),
        "refused": ({}, [refuse]),
        "heard": ({}, [refuse, appeal, *hearings]),
        "removal_scheduled": ({}, [approve, negative]),
        "screened_positive": ({}, [approve, positive]),
        "withdrawn": ({}, [WithdrawInput(actor=PROVIDER, reason="vergissing")]),
        "stopped": ({}, [approve, StopInput(actor=PROVIDER, reason="niet meer gegeven")]),
    }

    async def made(changes: dict[str, Any], inputs: list[Any]) -> str:
        dossier = await submit(**changes)
        handle = client.get_workflow_handle(dossier, result_type=CaseStatus)
        for inp in inputs:
            if isinstance(inp, ScreeningOutcome):
                await handle.signal(ApplicationWorkflow.screening_outcome, inp)
                await until(handle, lambda s: s.runs == 2 and bool(s.screenings), within=30)
            else:
                await service.update(dossier, inp)
        await at_rest(client, dossier)
        return dossier

    made_ = await asyncio.gather(*(made(*steps[name]) for name in steps))
    cases = dict(zip(steps, made_, strict=True))
    await client.start_workflow(
        ApplicationWorkflow.run,
        overdue_input,
        id=overdue_id,
        task_queue=settings.temporal.task_queue,
        static_summary=summary(overdue_id, overdue_input.application.title),
    )
    cases["overdue"] = overdue_id
    await at_rest(client, overdue_id)
    return cases


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    pg_dsn: str,
    test_settings: Settings,
    smtp_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    async with own_database(pg_dsn, "reconcile") as dsn:
        settings = test_settings.model_copy(
            update={
                "postgres": test_settings.postgres.model_copy(update={"url": dsn}),
                "temporal": test_settings.temporal.model_copy(
                    update={"task_queue": f"reconcile-{uuid.uuid4()}"}
                ),
            }
        )
        env = await WorkflowEnvironment.start_local(
            namespace="default",
            data_converter=pydantic_data_converter,
            dev_server_existing_path=_binary("temporal"),
            search_attributes=list(search.ALL),
            dev_server_extra_args=[
                "--dynamic-config-value",
                "frontend.enableUpdateWorkflowExecution=true",
            ],
        )
        pool = await create_pool(settings)
        try:
            await seed_providers(pool)
            # First the code from before the rows, with no other worker on the task queue.
            before = await _cases_from_before(
                settings,
                env.client.service_client.config.target_host,
                smtp_sink,
                tmp_path_factory.mktemp("reconcile"),
            )
            service = CaseService(settings, client=env.client, pool=pool)
            async with build_worker(env.client, settings, pool):
                cases = await _population(env.client, service, pool, settings)
                yield World(env, pool, settings, dsn, service, cases, before)
        finally:
            await pool.close()
            await env.shutdown()


async def cli(world: World, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`python -m ops <args>` against the world (its own event loop, as from a shell)."""
    for key, val in world.cli_env().items():
        monkeypatch.setenv(key, val)
    return await asyncio.to_thread(ops_main, list(args))


def lines_of(out: str, dossier: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(dossier + "\t")]


# ---------------------------------------------------------------- the migration


async def test_cases_from_before_the_rows_are_missing_until_their_next_step_or_a_repair(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if world.before is None:
        pytest.skip(f"git cannot give the tree of {BEFORE_ROWS} (not a full clone)")
    before = dict(world.before)  # state -> dossier; "withdrawn" ended before the rows
    for dossier in before.values():
        assert await case_rows.get(world.pool, dossier) is None  # the old code wrote none

    report = await reconcile.reconcile(world.client, world.pool)
    assert sorted(c.dossier for c in report.missing) == sorted(before.values())
    assert report.differing == [] and report.unchecked == []
    assert report.exit_code == 1

    # A case from before gets its row on its next step, no repair needed (this code's worker
    # replays the old history, then records the step with its row).
    approved = before.pop("under_review")
    await world.service.update(approved, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
    row = await case_rows.get(world.pool, approved)
    assert row is not None and row.state == "registered" and row.last_step == "review"

    shown = {state: "ended" if state == "withdrawn" else state for state in before}
    capsys.readouterr()
    assert await cli(world, monkeypatch, "reconcile") == 1
    out = capsys.readouterr().out
    for state, dossier in before.items():
        assert lines_of(out, dossier) == [f"{dossier}\trow\trow: missing\tworkflow: {shown[state]}"]
    assert lines_of(out, approved) == []
    assert f"{len(before)} without a row" in out

    assert await cli(world, monkeypatch, "reconcile", "--repair") == 0
    out = capsys.readouterr().out
    for state, dossier in before.items():
        assert lines_of(out, dossier) == [
            f"{dossier}\trow\trow: missing\tworkflow: {shown[state]}\t(written)"
        ]
    assert f"repaired {len(before)}; left 0" in out

    # Reads now come from the rows: the service and the portal's GET (which answers only
    # from a row), the case that ended before the rows included.
    app = create_app(world.settings, client=world.client, pool=world.pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        for state, dossier in before.items():
            view = await world.service.read(dossier)
            assert isinstance(view, DossierView) and view.state.value == shown[state]
            got = await http.get(f"/dossiers/{dossier}", headers=auth(world.settings, "provider"))
            assert got.status_code == 200, got.text
            assert got.json()["state"] == shown[state]
            assert got.json()["as_of_step"] == view.as_of_step
    ended = await world.service.read(before["withdrawn"])
    assert ended.end_reason is not None and ended.end_reason.value == "withdrawn"

    assert await cli(world, monkeypatch, "reconcile") == 0
    out = capsys.readouterr().out
    assert "0 with a row that differs (0 fields), 0 without a row, 0 not checked" in out


# ---------------------------------------------------------------- agreeing


async def test_every_live_case_agrees_with_its_row_when_asked_one_by_one(world: World) -> None:
    report = await reconcile.reconcile(world.client, world.pool, full=True, record=False)
    assert report.checks == {}, report.lines()
    live = [d for k, d in world.cases.items() if k not in ("withdrawn", "stopped")]
    if world.before is not None:
        live += [d for k, d in world.before.items() if k != "withdrawn"]
    assert report.live_cases == report.queried == len(live)
    assert report.exit_code == 0
    # The search attributes say what the rows say: the first pass asks nobody.
    report = await reconcile.reconcile(world.client, world.pool, record=False)
    assert report.queried == 0 and report.exit_code == 0, report.lines()


async def test_steps_in_flight_are_never_reported_as_differences(world: World) -> None:
    """Decisions land while reconcile runs: rows are written a moment before the workflow
    applies them and visibility lags; none of that may count as a difference."""
    start = datetime.now(UTC).date() + timedelta(days=150)
    dossiers = [
        (await world.service.submit(application(start), idempotency_key=str(uuid.uuid4()))).dossier
        for _ in range(12)
    ]

    async def decide() -> None:
        for i, dossier in enumerate(dossiers):
            inp = ReviewDecisionInput(
                actor=VOC_REVIEWER, approve=i % 2 == 0, reason="" if i % 2 == 0 else REASON
            )
            await world.service.update(dossier, inp)

    deciding = asyncio.create_task(decide())
    reports = []
    while not deciding.done():
        for full in (True, False):
            reports.append(
                await reconcile.reconcile(world.client, world.pool, full=full, record=False)
            )
    await deciding
    for report in reports:
        assert report.left == [], report.lines()
    for dossier in dossiers:
        await at_rest(world.client, dossier)
    report = await reconcile.reconcile(world.client, world.pool, full=True, record=False)
    assert report.exit_code == 0, report.lines()


async def test_a_registry_outage_under_decisions_ends_with_no_difference(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL refuses connections (the pg-refusing drill: every session of the database
    terminated, SQLSTATE 55000 on connect) while decisions wait for their registry steps:
    reconcile says the registry is unavailable and records nothing; once it is back the
    decisions land and every row agrees."""
    start = datetime.now(UTC).date() + timedelta(days=150)
    dossiers = [
        (await world.service.submit(application(start), idempotency_key=str(uuid.uuid4()))).dossier
        for _ in range(3)
    ]
    for dossier in dossiers:
        await at_rest(world.client, dossier)
    name = world.dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(world.dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        deciding = [
            asyncio.create_task(
                world.service.update(d, ReviewDecisionInput(actor=VOC_REVIEWER, approve=True))
            )
            for d in dossiers
        ]
        capsys.readouterr()
        assert await cli(world, monkeypatch, "reconcile") == 4
        assert "the registry is unavailable" in capsys.readouterr().err
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
        await world.pool.expire_connections()
    decided = await asyncio.gather(*deciding)
    assert [s.state for s in decided] == [CaseState.REGISTERED] * len(dossiers)
    for dossier in dossiers:
        await at_rest(world.client, dossier)
    report = await reconcile.reconcile(world.client, world.pool, full=True)
    assert report.exit_code == 0, report.lines()


# ---------------------------------------------------------------- broken rows


async def test_a_corrupted_row_is_reported_field_by_field_and_repair_rewrites_it(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    heard, registered, gone = (world.cases[k] for k in ("heard", "registered", "pc200_review"))
    await world.pool.execute(
        """UPDATE case_rows SET waiting_for = 'department', overdue = true,
               missing_hearings = 'provider' WHERE dossier = $1""",
        heard,
    )
    await world.pool.execute(
        "UPDATE case_rows SET state = 'refused' WHERE dossier = $1", registered
    )
    await world.pool.execute("DELETE FROM case_rows WHERE dossier = $1", gone)

    capsys.readouterr()
    assert await cli(world, monkeypatch, "reconcile") == 1
    out = capsys.readouterr().out
    assert lines_of(out, heard) == [
        f"{heard}\twaiting_for\trow: department\tworkflow: bec",
        f"{heard}\toverdue\trow: true\tworkflow: false",
        f"{heard}\tmissing_hearings\trow: provider\tworkflow: none",
    ]
    assert lines_of(out, registered) == [f"{registered}\tstate\trow: refused\tworkflow: registered"]
    assert lines_of(out, gone) == [f"{gone}\trow\trow: missing\tworkflow: under_review"]
    assert "2 with a row that differs (4 fields), 1 without a row" in out

    assert await cli(world, monkeypatch, "reconcile", "--repair") == 0
    out = capsys.readouterr().out
    assert all(
        line.endswith("\t(rewritten)") for line in lines_of(out, heard) + lines_of(out, registered)
    )
    assert lines_of(out, gone)[0].endswith("\t(written)")
    assert "repaired 3; left 0" in out
    row = await case_rows.get(world.pool, heard)
    assert row is not None and (row.waiting_for, row.overdue, row.missing_hearings) == (
        "bec",
        False,
        "none",
    )

    # What the search attributes do not carry (the next step in words): the row's own status
    # contradicts it, so the first pass finds it too.
    await world.pool.execute(
        "UPDATE case_rows SET next_step = 'nothing to do' WHERE dossier = $1", registered
    )
    assert await cli(world, monkeypatch, "reconcile", "--repair") == 0
    out = capsys.readouterr().out
    assert lines_of(out, registered) == [
        f"{registered}\tnext_step\trow: nothing to do\tworkflow: registered; screened again "
        "next year\t(rewritten)"
    ]
    assert await cli(world, monkeypatch, "reconcile", "--full") == 0


# ---------------------------------------------------------------- what each read serves

# Each worklist with parameters that take in every case it could hold.
_LISTS: dict[str, Callable[[CaseRow], tuple[Any, ...]]] = {
    "waiting-for-reviewer": lambda row: (row.competent_body,),
    "waiting-for-bec": lambda row: (),
    "appeals-overdue": lambda row: (),
    "removals-this-year": lambda row: (date(2000, 1, 1), date(2100, 12, 31)),
    "failed-or-stuck": lambda row: (datetime(2100, 1, 1, tzinfo=UTC),),
    "appeals-without-document": lambda row: (),
    "appeal-windows-of-provider": lambda row: (row.provider,),
}
assert set(_LISTS) == set(LISTS)


async def served(world: World, dossier: str, row: CaseRow) -> dict[str, Any]:
    """What the reads the API makes serve of the dossier: its page (GET /dossiers/{d}, for
    the organisation of `row`, the row as it was before anything was damaged), its line in
    the organisation's list, and its line in each worklist (None: not on it)."""
    view = await case_rows.view(world.pool, dossier, row.provider)
    _, items, _ = await case_rows.of_provider(world.pool, row.provider, None, None, 500)
    lines: dict[str, Any] = {
        "dossier": view.model_dump() if view else None,
        "list": next((i.model_dump() for i in items if i.dossier == dossier), None),
    }
    for name, params in _LISTS.items():
        listed = await page(world.pool, name, params(row), None, 500)
        lines[name] = next((dict(r) for r in listed.rows if r["dossier"] == dossier), None)
    return lines


async def _damage(world: World, dossier: str, column: str) -> None:
    """Gives the column another value of its type (a value where it held none)."""
    kind = await world.pool.fetchval(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'case_rows' AND column_name = $1",
        column,
    )
    other = {
        "text": "'damaged'",
        "boolean": f"NOT {column}",
        "date": f"coalesce({column}, DATE '2031-01-01') + 3",
        "timestamp with time zone": (
            f"coalesce({column}, TIMESTAMPTZ '2031-01-01 00:00Z') + interval '3 hours'"
        ),
    }[kind]
    await world.pool.execute(f"UPDATE case_rows SET {column} = {other} WHERE dossier = $1", dossier)


@pytest.mark.parametrize("column", case_rows.STATE_FIELDS)
async def test_a_damaged_column_is_found_by_name_and_repair_makes_every_read_right(
    world: World, column: str
) -> None:
    dossier = world.cases["heard"]  # an open appeal: most columns hold a value
    row = await case_rows.get(world.pool, dossier)
    assert row is not None
    before = await served(world, dossier, row)
    await _damage(world, dossier, column)

    found = await reconcile.reconcile(world.client, world.pool, record=False)
    assert [c.dossier for c in found.differing] == [dossier], found.lines()
    assert [d.field for d in found.checks[dossier].differences] == [column]

    fixed = await reconcile.reconcile(world.client, world.pool, repair=True, record=False)
    assert fixed.exit_code == 0 and fixed.checks[dossier].repaired, fixed.lines()
    assert await case_rows.get(world.pool, dossier) == row
    assert await served(world, dossier, row) == before


def _set(path: str, value: str) -> str:
    """The stored status with one JSON value changed (SQL)."""
    return f"jsonb_set(status, '{{{path}}}', '{value}')"


# What is damaged: the case, the stored status it gets, the fields reconcile names, whether
# the first pass (without --full) finds it.
_STATUS_DAMAGE: dict[str, tuple[str, str, list[str], bool]] = {
    "state": ("voc_review", _set("state", '"registered"'), ["status.state"], True),
    "who acts": ("heard", _set("waiting_for", '"provider"'), ["status.waiting_for"], True),
    "appeal": ("heard", _set("appeals,0,overdue", "true"), ["status.appeals"], True),
    "decision": ("refused", _set("decisions,0,reason", '"Anders."'), ["status.decisions"], False),
    "registered from": (
        "registered",
        _set("registered_from", '"2001-01-01"'),
        ["status.registered_from"],
        False,
    ),
    "not a case": ("pc200_review", "'[]'::jsonb", ["status"], True),
    "not a case's state": ("pc200_review", _set("state", '"elsewhere"'), ["status"], True),
}


@pytest.mark.parametrize("damage", _STATUS_DAMAGE)
async def test_a_damaged_status_is_found_and_repair_makes_the_dossier_read_right(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    case, status, reported, first_pass = _STATUS_DAMAGE[damage]
    dossier = world.cases[case]
    app = create_app(world.settings, client=world.client, pool=world.pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://odb.test",
    ) as http:

        async def read() -> tuple[int, Any]:
            got = await http.get(f"/dossiers/{dossier}", headers=auth(world.settings, "provider"))
            body = got.json()
            return got.status_code, body if got.status_code == 200 else body["type"]

        before = await read()
        assert before[0] == 200
        await world.pool.execute(
            f"UPDATE case_rows SET status = {status} WHERE dossier = $1", dossier
        )
        damaged = await read()
        assert damaged != before  # the portal serves the damage
        if damage.startswith("not a case"):  # the registry's fault, said as such: not a 422
            assert damaged == (500, "urn:odb:problem:unreadable-record")

        # The first pass finds what contradicts the row's own columns, or is not a case at
        # all; a field no column derives from only a full run (each case asked) finds.
        capsys.readouterr()
        assert await cli(world, monkeypatch, "reconcile") == (1 if first_pass else 0)
        assert await cli(world, monkeypatch, "reconcile", "--full") == 1
        out = capsys.readouterr().out
        fields = [line.split("\t")[1] for line in lines_of(out, dossier)]
        assert fields == reported * (2 if first_pass else 1), out

        assert await cli(world, monkeypatch, "reconcile", "--full", "--repair") == 0
        out = capsys.readouterr().out
        assert all(line.endswith("\t(rewritten)") for line in lines_of(out, dossier)), out
        assert await read() == before
    assert await cli(world, monkeypatch, "reconcile", "--full") == 0


async def test_a_step_stamped_again_by_a_retried_workflow_task_is_no_difference(
    world: World,
) -> None:
    """A worker dies after a decision's registry step committed and before its workflow task
    completed: the next worker runs the task again and stamps the decision later, while the
    registry (and the row, which agrees with it) keeps the first stamp. That is no damage:
    reconcile must not rewrite the row away from the registry's record."""
    dossier = world.cases["registered"]
    stamped = await world.pool.fetchval(
        "SELECT status #>> '{decisions,0,decided_at}' FROM case_rows WHERE dossier = $1", dossier
    )
    earlier = datetime.fromisoformat(stamped) - timedelta(seconds=10)
    await world.pool.execute(
        "UPDATE case_rows SET status = jsonb_set(status, '{decisions,0,decided_at}', $2::jsonb) "
        "WHERE dossier = $1",
        dossier,
        earlier.isoformat(),  # the pool's codec encodes it as JSON
    )
    report = await reconcile.reconcile(world.client, world.pool, full=True, record=False)
    assert report.exit_code == 0, report.lines()
    await world.pool.execute(
        "UPDATE case_rows SET status = jsonb_set(status, '{decisions,0,decided_at}', $2::jsonb) "
        "WHERE dossier = $1",
        dossier,
        stamped,
    )


async def test_a_repair_never_overwrites_a_row_a_step_wrote_meanwhile(world: World) -> None:
    dossier = world.cases["registered"]
    row = await case_rows.get(world.pool, dossier)
    assert row is not None
    stale = row.model_copy(update={"state": "refused", "waiting_for": "provider"})
    async with world.pool.acquire() as conn:
        # Compared against an older row than the one stored now: a step wrote since.
        earlier = row.last_step_at - timedelta(microseconds=1)
        assert not await case_rows.replace(conn, stale, seen=earlier)
        assert not await case_rows.write_if_missing(conn, stale)  # it has a row
    assert await case_rows.get(world.pool, dossier) == row


async def test_the_gauges_show_what_the_latest_run_left(world: World) -> None:
    port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    gauges = ReconcileMetrics(world.pool, runtime.metric_meter)
    broken = world.cases["refused"]
    await world.pool.execute("UPDATE case_rows SET overdue = true WHERE dossier = $1", broken)
    found = await reconcile.reconcile(world.client, world.pool)
    assert [c.dossier for c in found.differing] == [broken]

    async def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        run = await gauges.refresh()
        assert run is not None
        async with httpx.AsyncClient() as http:
            return parse((await http.get(f"http://127.0.0.1:{port}/metrics")).text)

    series = await scrape()
    assert value(series, "odb_case_row_differences") == 1
    assert value(series, "odb_case_rows_missing") == 0
    assert abs(value(series, "odb_case_rows_reconciled_at") - datetime.now(UTC).timestamp()) < 60

    fixed = await reconcile.reconcile(world.client, world.pool, repair=True)
    assert fixed.exit_code == 0 and [c.dossier for c in fixed.differing] == [broken]
    series = await scrape()
    assert value(series, "odb_case_row_differences") == 0
    stored = await world.pool.fetchrow(
        "SELECT differences_found, differences, repaired FROM reconcile_runs "
        "ORDER BY id DESC LIMIT 1"
    )
    assert stored is not None and tuple(stored) == (1, 0, 1)


async def test_rows_saying_live_for_a_case_that_ended_closed_or_never_started_are_reported(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    withdrawn = world.cases["withdrawn"]
    await world.pool.execute(
        """UPDATE case_rows SET state = 'under_review', end_reason = NULL,
               waiting_for = 'reviewer' WHERE dossier = $1""",
        withdrawn,
    )
    start = datetime.now(UTC).date() + timedelta(days=150)
    terminated = (
        await world.service.submit(application(start), idempotency_key=str(uuid.uuid4()))
    ).dossier
    await at_rest(world.client, terminated)
    await world.client.get_workflow_handle(terminated).terminate("ops test: a broken case")
    async with world.pool.acquire() as conn:  # allocated, its case never started
        orphan, *_ = await registry_reads.allocate(
            conn, str(uuid.uuid4()), application(start), datetime.now(UTC)
        )
        await conn.execute("DELETE FROM case_starts WHERE dossier = $1", orphan)  # start lost
    # A case past Temporal's retention (ended; Temporal no longer knows it) without a row:
    # written from the registry's record.
    async with world.pool.acquire() as conn:
        past, *_ = await registry_reads.allocate(
            conn, str(uuid.uuid4()), application(start), datetime.now(UTC)
        )
    await world.pool.execute("UPDATE applications SET state = 'ended' WHERE dossier = $1", past)
    await world.pool.execute("DELETE FROM case_starts WHERE dossier = $1", past)
    await world.pool.execute("DELETE FROM case_rows WHERE dossier = $1", past)

    capsys.readouterr()
    assert await cli(world, monkeypatch, "reconcile", "--repair") == 1
    out = capsys.readouterr().out
    assert lines_of(out, withdrawn)[0] == (
        f"{withdrawn}\tstate\trow: under_review\tworkflow: ended\t(rewritten)"
    )
    assert f"{withdrawn}\tend_reason\trow: -\tworkflow: withdrawn\t(rewritten)" in out
    assert lines_of(out, terminated) == [
        f"{terminated}\texecution\trow: running\tworkflow: terminated"
    ]
    assert lines_of(out, orphan) == [f"{orphan}\tworkflow\trow: under_review\tworkflow: not found"]
    assert lines_of(out, past) == [f"{past}\trow\trow: missing\tworkflow: not found\t(written)"]
    assert "repaired 2; left 2" in out
    row = await case_rows.get(world.pool, past)
    assert row is not None and (row.state, row.waiting_for) == ("ended", "nobody")
    # The terminated case is flagged on its row: off the reviewers' list, on the
    # department's failed-or-stuck list.
    flagged = await world.pool.fetchval(
        "SELECT execution FROM case_rows WHERE dossier = $1", terminated
    )
    assert flagged == "terminated"
    lists = {
        name: [r["dossier"] for r in (await page(world.pool, name, params, None, 500)).rows]
        for name, params in (
            ("waiting-for-reviewer", ("VOC",)),
            ("failed-or-stuck", (datetime.now(UTC),)),
        )
    }
    assert terminated not in lists["waiting-for-reviewer"]
    assert terminated in lists["failed-or-stuck"]

    # Ops decide about those two (runbook 3d); once their rows say ended, all agree.
    await world.pool.execute(
        """UPDATE case_rows SET state = 'ended', end_reason = 'withdrawn'
           WHERE dossier = ANY($1::text[])""",
        [terminated, orphan],
    )
    assert await cli(world, monkeypatch, "reconcile") == 0


async def test_bad_input_and_unreachable_services_get_clear_answers(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in (["--concurrency", "0"], ["--concurrency", "many"], ["--fix"]):
        with pytest.raises(SystemExit) as exited:
            await cli(world, monkeypatch, "reconcile", *bad)
        assert exited.value.code == 2, bad
    err = capsys.readouterr().err
    assert "0 is not between 1 and 64" in err and "'many' is not a whole number" in err

    closed = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", closed)
    assert await asyncio.to_thread(ops_main, ["reconcile"]) == 4
    assert "Temporal is unavailable" in capsys.readouterr().err

    for key, val in world.cli_env().items():
        monkeypatch.setenv(key, val)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@{closed}/odb")
    before = await world.pool.fetchval("SELECT count(*) FROM reconcile_runs")
    assert await asyncio.to_thread(ops_main, ["reconcile"]) == 4
    assert "the registry is unavailable" in capsys.readouterr().err
    assert await world.pool.fetchval("SELECT count(*) FROM reconcile_runs") == before

"""`python -m starter setup` against a bare Temporal dev server (no namespace, no
`--search-attribute` flags: a fresh cluster) and a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client, ScheduleActionStartWorkflow

from devstack.ports import free_port
from models import search
from models.retention import RetentionInput
from registry.migrate import migration_files
from runtime.settings import PROJECT_ROOT, Settings, load_settings
from runtime.temporal import connect
from starter.deploy import setup

# Variables that would point the CLI elsewhere than the servers of this test.
OUTSIDE = ("DATABASE_URL", "SMTP_", "TEMPORAL_", "ODB_")


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server as a fresh cluster has it: only the `default` namespace, no custom
    search attributes."""
    port = free_port()
    log = (tmp_path_factory.mktemp("temporal") / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(PROJECT_ROOT / ".venv/bin/temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "error",
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")},
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Target:
    """One fresh namespace on the bare server and one fresh database."""

    address: str
    namespace: str
    dsn: str

    def settings(self, **overrides: Any) -> Settings:
        temporal = {"address": self.address, "namespace": self.namespace}
        temporal.update(overrides.pop("temporal", {}))
        return load_settings(temporal=temporal, postgres={"url": self.dsn}, **overrides)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
        env |= {
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "DATABASE_URL": self.dsn,
            "PYTHONUNBUFFERED": "1",
        }
        return env


async def _wait_answers(address: str) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await connect(load_settings(temporal={"address": address}))
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest_asyncio.fixture
async def target(bare_server: str, pg_dsn: str) -> AsyncIterator[Target]:
    await _wait_answers(bare_server)
    name = f"odb_setup_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))
    yield Target(bare_server, f"odb-{uuid.uuid4().hex[:8]}", dsn)


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def cli(target: Target, *args: str) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        "setup",
        *args,
        cwd=PROJECT_ROOT,
        env=target.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def assert_ready(target: Target) -> None:
    """What a case needs: every migration, the namespace with the retention of the settings,
    every search attribute with its type, the schedule."""
    conn = await asyncpg.connect(target.dsn)
    try:
        rows = await conn.fetch("SELECT filename FROM schema_migrations ORDER BY filename")
    finally:
        await conn.close()
    assert [r["filename"] for r in rows] == [p.name for p in migration_files()]
    settings = target.settings()
    client = await connect(settings)
    ns = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=target.namespace)
    )
    retention = ns.config.workflow_execution_retention_ttl.seconds
    assert retention == settings.temporal.retention_days * 86400
    have = (
        await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=target.namespace)
        )
    ).custom_attributes
    for key in search.ALL:
        assert int(have[key.name]) == int(key.indexed_value_type), key.name
    desc = await client.get_schedule_handle(settings.screening.schedule_id).describe()
    assert desc.schedule.spec.time_zone_name == settings.screening.timezone
    purge = await client.get_schedule_handle(settings.retention.schedule_id).describe()
    assert purge.schedule.spec.calendars[0].hour[0].start == settings.retention.hour


async def test_setup_makes_a_bare_cluster_ready_and_a_second_run_changes_nothing(
    target: Target,
) -> None:
    before = await cli(target, "--check")
    assert before.code == 1, before
    assert "would apply" in before.out and f"would create {target.namespace}" in before.out
    assert "not ready" in before.err
    line = next(x for x in before.out.splitlines() if x.startswith("search attributes"))
    assert f"would add all {len(search.ALL)} once the namespace exists: " in line
    assert "OdbState (Keyword)" in line and "OdbWaitingSince (Datetime)" in line
    assert all(key.name in line for key in search.ALL)

    first = await cli(target)
    assert first.code == 0, first
    assert f"created {target.namespace} (retention 30 days)" in first.out
    assert "OdbState" in first.out and "odb-yearly-screening created" in first.out
    assert "odb-retention created" in first.out  # the nightly purge
    await assert_ready(target)

    after = await cli(target, "--check")
    assert after.code == 0, after
    second = await cli(target)
    assert second.code == 0, second
    assert " changed " not in second.out and "nothing to change" in second.out, second.out


async def test_two_setups_at_once_both_succeed(target: Target) -> None:
    one, two = await asyncio.gather(cli(target), cli(target))
    assert (one.code, two.code) == (0, 0), (one, two)
    await assert_ready(target)
    assert (await cli(target, "--check")).code == 0


async def test_a_search_attribute_of_another_type_is_refused_by_name(target: Target) -> None:
    client = await connect(target.settings())
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=target.namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await setup.wait_usable(client, target.namespace)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=target.namespace,
            search_attributes={"OdbState": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )
    ran = await cli(target)
    assert ran.code == 2, ran
    line = next(x for x in ran.out.splitlines() if x.startswith("search attributes"))
    assert "refused" in line
    assert f"OdbState exists on namespace {target.namespace} as Text" in line
    assert "publish it as Keyword" in line
    assert f"temporal operator search-attribute remove --namespace {target.namespace}" in line
    assert "setup refused" in ran.err
    # Nothing else is held up: the other steps ran.
    assert "schedule           changed" in ran.out
    # --check refuses the same way.
    assert (await cli(target, "--check")).code == 2


async def test_a_limit_of_the_server_is_shown_with_what_to_do(target: Target) -> None:
    """SQL visibility holds 3 custom Datetime attributes per namespace; the cases need all 3.
    A namespace where another application took one: setup shows the server's refusal, the
    attribute in the way and how to remove it, instead of retrying as if it were a race."""
    settings = target.settings()
    client = await connect(settings)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=target.namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await setup.wait_usable(client, target.namespace)
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=target.namespace,
            search_attributes={"InvoiceDue": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME},
        )
    )
    report = await setup.run(settings)
    assert report.exit_code == 2
    step = next(s for s in report.steps if s.name == "search attributes")
    assert step.status == setup.Status.REFUSED
    assert (
        '"Unable to create search attributes: cannot have more than 3 search attribute of '
        'type Datetime." (INVALID_ARGUMENT)'
    ) in step.detail
    assert "this system needs 3 of type Datetime (OdbNextDeadline, OdbRemovalOn, " in step.detail
    assert "the namespace already has InvoiceDue (Datetime)" in step.detail
    assert (
        f"`temporal operator search-attribute remove --namespace {target.namespace} "
        f"--name InvoiceDue`"
    ) in step.detail
    assert "another process" not in step.detail


async def test_temporal_cloud_gets_a_tcld_namespace_create_with_its_authentication(
    target: Target,
) -> None:
    client = await connect(target.settings())
    mtls = await setup.namespace(client, target.settings(), cloud=True)
    assert mtls.status == setup.Status.MANUAL
    (command,) = mtls.commands
    assert command.startswith(
        f"tcld namespace create --namespace {target.namespace} --region <region> "
        f"--retention-days 30 --auth-method mtls --ca-certificate-file <PEM of the CA that "
        f"issued the client certificate in TEMPORAL_TLS_CERT>"
    ), command
    assert all(f'--search-attribute "{key.name}=' in command for key in search.ALL)
    keyed = await setup.namespace(client, target.settings(temporal={"api_key": "k"}), cloud=True)
    assert "--auth-method api_key " in keyed.commands[0]
    assert "--ca-certificate" not in keyed.commands[0]


async def test_an_operator_pause_survives_an_update_of_the_schedule(target: Target) -> None:
    settings = target.settings()
    assert (await setup.run(settings)).exit_code == 0
    client = await connect(settings)
    handle = client.get_schedule_handle(settings.screening.schedule_id)
    await handle.pause(note="paused by ops: rubric under review")

    moved = target.settings(screening={"hour": 7})
    check = await setup.run(moved, check=True)
    assert check.exit_code == 1
    step = next(s for s in check.steps if s.name == "schedule")
    assert step.status == setup.Status.MISSING and "when it fires" in step.detail
    assert "kept paused" in step.detail

    applied = await setup.run(moved)
    assert applied.exit_code == 0
    desc = await handle.describe()
    assert desc.schedule.state.paused
    assert desc.schedule.state.note == "paused by ops: rubric under review"
    assert desc.schedule.spec.calendars[0].hour[0].start == 7
    assert (await setup.run(moved, check=True)).exit_code == 0


async def test_a_changed_purge_batch_size_reaches_the_schedules_input(target: Target) -> None:
    """The input the nightly purge starts with comes from the settings like its hour: a
    deploy that changes it is told so by `--check`, and setup applies it."""
    settings = target.settings()
    assert (await setup.run(settings)).exit_code == 0
    bigger = target.settings(retention={"batch_size": settings.retention.batch_size + 7})
    check = await setup.run(bigger, check=True)
    assert check.exit_code == 1
    step = next(s for s in check.steps if s.name == "retention schedule")
    assert step.status == setup.Status.MISSING and "input" in step.detail, step.detail

    assert (await setup.run(bigger)).exit_code == 0
    client = await connect(bigger)
    desc = await client.get_schedule_handle(bigger.retention.schedule_id).describe()
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    [started_with] = await client.data_converter.decode(action.args, [RetentionInput])
    assert started_with.batch_size == settings.retention.batch_size + 7
    assert (await setup.run(bigger, check=True)).exit_code == 0


async def test_temporal_cloud_gets_tcld_commands_and_setup_checks_they_were_applied(
    target: Target,
) -> None:
    """On Cloud the operator API cannot add search attributes: setup prints the tcld
    commands, and once they ran (here: the operator API standing in for tcld), passes."""
    settings = target.settings()
    client = await connect(settings)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=target.namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await setup.wait_usable(client, target.namespace)

    report = await setup.run(settings, cloud=True)
    assert report.exit_code == 1
    step = next(s for s in report.steps if s.name == "search attributes")
    assert step.status == setup.Status.MANUAL
    assert (
        f"tcld namespace search-attributes add --namespace {target.namespace} "
        f'--search-attribute "OdbState=Keyword"'
    ) in step.commands
    assert len(step.commands) == len(search.ALL)
    have = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=target.namespace)
    )
    assert "OdbState" not in have.custom_attributes  # setup itself added nothing

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=target.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in search.ALL
            },
        )
    )
    assert (await setup.run(settings, cloud=True, check=True)).exit_code == 0


def test_cloud_is_recognised_by_api_key_or_address() -> None:
    assert setup.is_cloud(load_settings(temporal={"api_key": "k"}))
    assert setup.is_cloud(load_settings(temporal={"address": "odb.a1b2c.tmprl.cloud:7233"}))
    assert not setup.is_cloud(load_settings(temporal={"address": "temporal.internal:7233"}))


def test_a_database_password_never_appears_in_messages() -> None:
    shown = setup.redacted("postgresql://odb:s3cret@db:5432/odb")
    assert shown == "postgresql://odb:***@db:5432/odb"


async def test_an_unreachable_database_is_refused_naming_what_to_set(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(postgres={"url": f"postgresql://odb:pw@127.0.0.1:{port}/odb"})
    with pytest.raises(setup.SetupRefused, match="DATABASE_URL") as caught:
        await setup.migrations(settings)
    assert "pw" not in str(caught.value)

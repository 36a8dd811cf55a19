"""The whole dev stack, started as `make run` starts it, in a temporary state folder."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack.ports import http_status, port_in_use
from registry.migrate import migration_files
from runtime.settings import PROJECT_ROOT
from runtime.temporal import connect
from tests.stack.harness import (
    RunningStack,
    StackConfig,
    devstack,
    processes_of,
    ready_stack,
    wait_no_processes,
)
from tests.stack.probe import ProbeWorkflow

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig.fresh(tmp_path_factory.mktemp("stack") / "state")


@pytest.fixture(scope="module")
def stack(config: StackConfig) -> Iterator[RunningStack]:
    # A killed earlier run left these behind: the supervisor must not trip over them, and
    # must not signal the unrelated process (this test) whose pid one of them names.
    run_dir = config.state / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "devstack.pid").write_text(json.dumps({"name": "devstack", "pid": 999_999}))
    (run_dir / "worker.pid").write_text(
        json.dumps({"name": "worker", "pid": os.getpid(), "ticks": 1})
    )
    with ready_stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def info(stack: RunningStack) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((stack.config.state / "stack.json").read_text())
    return loaded


@pytest_asyncio.fixture(scope="module")
async def client(stack: RunningStack) -> AsyncIterator[Client]:
    yield await connect(stack.config.settings())


async def pollers(client: Client, task_queue: str) -> list[str]:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return [p.identity for p in resp.pollers]


def test_web_ui_answers_on_its_port(stack: RunningStack, info: dict[str, Any]) -> None:
    ui_port = stack.config.ports["ui"]
    assert info["ui"] == f"http://127.0.0.1:{ui_port}/namespaces/odb/workflows"
    assert info["ui"] in stack.output  # printed for the person who ran it
    assert http_status(info["ui"]) == 200


async def test_the_web_application_signs_in_through_the_stacks_openid_provider(
    stack: RunningStack, info: dict[str, Any]
) -> None:
    """The dev path is the production path: discovery, authorization code with PKCE, the
    provider's page to choose who signs in, the token exchange, the session."""
    web = f"http://127.0.0.1:{stack.config.ports['web']}"
    assert info["web"] == web and web in stack.output
    assert "Beoordelaar VOC" in stack.output  # who can sign in, printed by make run
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        to_provider = await http.get(f"{web}/aanmelden", params={"terug": "/beoordelen"})
        authorize = to_provider.headers["location"]
        assert authorize.startswith(info["oidc"] + "/authorize?")
        assert "code_challenge_method=S256" in authorize
        chooser = await http.get(authorize)
        assert "Aanmelden als Beoordelaar VOC" in chooser.text
        params = dict(httpx.URL(authorize).params)
        back = await http.post(
            f"{info['oidc']}/authorize", data={**params, "persona": "voc_reviewer"}
        )
        signed_in = await http.get(back.headers["location"])
        assert signed_in.headers["location"] == "/beoordelen"
        worklist = await http.get(f"{web}/beoordelen")
        assert worklist.status_code == 200
        assert "Te beoordelen aanvragen" in worklist.text


async def test_postgres_has_every_migration(info: dict[str, Any]) -> None:
    conn = await asyncpg.connect(info["database_url"])
    try:
        applied = [
            r["filename"]
            for r in await conn.fetch("SELECT filename FROM schema_migrations ORDER BY filename")
        ]
    finally:
        await conn.close()
    assert applied == [p.name for p in migration_files()]


def test_smtp_sink_keeps_each_message_as_a_file(info: dict[str, Any]) -> None:
    host, port = info["smtp"].rsplit(":", 1)
    msg = EmailMessage()
    msg["From"] = "opleidingsdatabank@vlaanderen.be"
    msg["To"] = "provider@example.be"
    msg["Subject"] = "Ontvangstbevestiging ODB-2027-000001"
    msg.set_content("Wij hebben uw aanvraag goed ontvangen.")
    with smtplib.SMTP(host, int(port), timeout=10) as smtp:
        smtp.send_message(msg)
    files = sorted(Path(info["mail_dir"]).glob("*.eml"))
    assert len(files) == 1
    assert "Ontvangstbevestiging ODB-2027-000001" in files[0].read_text()


async def test_worker_polls_the_task_queue(client: Client, info: dict[str, Any]) -> None:
    identities = await pollers(client, info["task_queue"])
    assert any(i.startswith(f"{info['pids']['worker']}@") for i in identities), identities


def test_worker_serves_prometheus_metrics(info: dict[str, Any]) -> None:
    assert http_status(info["worker_metrics"]) == 200


def test_api_answers(info: dict[str, Any]) -> None:
    assert http_status(f"{info['api']}/health") == 200


def test_the_api_writes_one_json_line_per_request_and_keeps_the_connection(
    stack: RunningStack, info: dict[str, Any]
) -> None:
    """A dev token minted from a second terminal (the stack's secret, found in its state
    folder), then a refusal and a success on one keep-alive connection; the API's log is JSON
    lines with one access line each, carrying the request id it answered with, never the
    token."""
    env = stack.config.env()
    env.pop("ODB_DEV_MODE", None)
    minted = subprocess.run(
        [sys.executable, "-m", "starter", "token", "--sub", "an.ops", "--role", "department"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    host, port = info["api"].removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    answers = []
    for path, auth in (
        ("/dossiers/ODB-2020-999999", token),  # 404
        ("/providers", "not-a-token"),  # 401
        ("/providers", token),  # 200, on the same connection
    ):
        connection.request("GET", path, headers={"Authorization": f"Bearer {auth}"})
        response = connection.getresponse()
        response.read()
        answers.append((response.status, response.getheader("X-Request-ID")))
    connection.close()
    assert [status for status, _ in answers] == [404, 401, 200]
    log = stack.config.state / "logs" / "api.log"

    def access_lines() -> dict[str | None, Any]:
        # Every line is JSON but the supervisor's own "--- starting" markers between runs.
        text = log.read_text()
        assert all(line.startswith(("{", "--- ")) for line in text.splitlines())
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return {e.get("request_id"): e for e in lines if e["event"] == "api.request"}

    # The line is written once the answer is sent: read until the API has written all three.
    deadline = time.monotonic() + 10
    while not all(rid in (access := access_lines()) for _, rid in answers):
        assert time.monotonic() < deadline, "no access line for a request within 10 s"
        time.sleep(0.05)
    for status, request_id in answers:
        entry = access[request_id]
        assert entry["status"] == status and entry["method"] == "GET"
    assert access[answers[0][1]]["route"] == "/dossiers/{dossier}"
    assert access[answers[0][1]]["subject"] == "an.ops"
    assert access[answers[1][1]]["problem"] == "invalid-token"
    assert token not in log.read_text()


def test_status_from_a_second_terminal(stack: RunningStack) -> None:
    result = devstack(stack.config, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the dev stack runs" in result.stdout
    assert "answers" in result.stdout


def test_a_second_up_is_refused_and_harms_nothing(stack: RunningStack) -> None:
    result = devstack(stack.config, "up")
    assert result.returncode == 2
    assert "already runs" in result.stderr
    assert stack.proc.poll() is None


async def test_a_crashed_worker_is_restarted_by_the_stack(
    stack: RunningStack, client: Client, info: dict[str, Any]
) -> None:
    old = info["pids"]["worker"]
    os.kill(old, signal.SIGKILL)
    stack.wait_for_line("restarting it", timeout=10)
    deadline = time.monotonic() + 30
    while True:
        record = json.loads((stack.config.state / "run" / "worker.pid").read_text())
        if record["pid"] != old and any(
            i.startswith(f"{record['pid']}@") for i in await pollers(client, info["task_queue"])
        ):
            break
        assert time.monotonic() < deadline, stack.output
        await asyncio.sleep(0.2)


def start_probe_worker(config: StackConfig, task_queue: str) -> subprocess.Popen[bytes]:
    env = config.env(
        ODB_TEMPORAL__TASK_QUEUE=task_queue,
        ODB_WORKER__METRICS_PORT="0",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{config.ports['postgres']}/odb",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.stack.probe"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def wait_polling(client: Client, task_queue: str, pid: int) -> None:
    deadline = time.monotonic() + 30
    while not any(i.startswith(f"{pid}@") for i in await pollers(client, task_queue)):
        assert time.monotonic() < deadline, f"worker {pid} never polled {task_queue}"
        await asyncio.sleep(0.2)


async def test_worker_restart_loses_no_workflow(stack: RunningStack, client: Client) -> None:
    task_queue = f"probe-{uuid.uuid4()}"
    first = start_probe_worker(stack.config, task_queue)
    second: subprocess.Popen[bytes] | None = None
    try:
        await wait_polling(client, task_queue, first.pid)
        handle = await client.start_workflow(
            ProbeWorkflow.run, id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
        deadline = time.monotonic() + 30
        while not await handle.query(ProbeWorkflow.steps):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)

        first.kill()  # a crash: no drain, no goodbye to the server
        first.wait()
        await handle.signal(ProbeWorkflow.proceed)
        second = start_probe_worker(stack.config, task_queue)

        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result == [
            f"first by worker {first.pid}",
            f"second by worker {second.pid}",
        ]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_stop_leaves_no_process_and_frees_every_port(stack: RunningStack) -> None:
    result = devstack(stack.config, "stop", timeout=90)
    assert result.returncode == 0, result.stderr
    assert stack.wait(30) == 0
    assert "dev stack stopped" in stack.output
    assert wait_no_processes(stack.config.state) == []
    taken = [name for name, port in stack.config.ports.items() if port_in_use("127.0.0.1", port)]
    assert taken == []
    assert not list((stack.config.state / "run").glob("*.pid"))
    status = devstack(stack.config, "status")
    assert status.returncode == 3
    assert processes_of(stack.config.state) == []

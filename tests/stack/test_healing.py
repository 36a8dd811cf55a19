"""The dev stack heals: a crashed PostgreSQL, Temporal dev server or SMTP sink is restarted
while the API stays up (answering 503 while a server it needs is down), and a process that
keeps crashing stops the stack with a clear message.

One stack for the module; the last test makes it give up, so the tests run in file order.
To hold an outage open until the test has seen the API's answer to it, the supervisor is
paused (SIGSTOP) around the kill: nothing can restart the server until it is resumed.
"""

from __future__ import annotations

import email
import json
import os
import signal
import smtplib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import psutil
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from devstack.supervisor import RESTART_WINDOW, RESTARTS
from models import search
from registry import providers
from registry.migrate import migration_files
from runtime.temporal import connect
from tests.fixtures.api import application_body, auth
from tests.stack.harness import RunningStack, StackConfig, wait_no_processes
from tests.workflows.harness import ORG

pytestmark = pytest.mark.stack

T = TypeVar("T")
BACK_WITHIN = 60.0  # seconds from a kill to the API answering 200 again


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> StackConfig:
    return StackConfig.fresh(tmp_path_factory.mktemp("healing") / "state")


@pytest.fixture(scope="module")
def stack(config: StackConfig) -> Iterator[RunningStack]:
    running = RunningStack(config)
    try:
        running.wait_ready(timeout=90)
        yield running
    finally:
        with_supervisor(running, signal.SIGCONT)  # never leave it paused by a failed test
        running.stop()


@pytest.fixture(scope="module")
async def seeded(stack: RunningStack) -> None:
    conn = await asyncpg.connect(database_url(stack))
    try:
        await providers.upsert(conn, ORG, "Opleidingscentrum Vooruit vzw")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    api = f"http://127.0.0.1:{stack.config.ports['api']}"
    with httpx.Client(base_url=api, timeout=30) as client:
        yield client


def database_url(stack: RunningStack) -> str:
    return f"postgresql://postgres@127.0.0.1:{stack.config.ports['postgres']}/odb"


def headers(stack: RunningStack, persona: str) -> dict[str, str]:
    return auth(stack.config.settings(), persona)


def pid_of(stack: RunningStack, name: str) -> int:
    pid: int = json.loads((stack.config.state / "run" / f"{name}.pid").read_text())["pid"]
    return pid


def with_supervisor(stack: RunningStack, sig: int) -> None:
    if stack.proc.poll() is None:
        os.kill(stack.proc.pid, sig)


@contextmanager
def supervisor_paused(stack: RunningStack) -> Iterator[None]:
    with_supervisor(stack, signal.SIGSTOP)
    try:
        yield
    finally:
        with_supervisor(stack, signal.SIGCONT)


def wait_until(check: Callable[[], T | None], what: str, within: float = BACK_WITHIN) -> T:
    """Polls check until it returns something, or fails after `within` seconds."""
    deadline = time.monotonic() + within
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"no {what} within {within:.0f} s"
        time.sleep(0.1)
    return found


def count(stack: RunningStack, text: str) -> int:
    return sum(text in line for line in list(stack.lines))


def answer(http: httpx.Client, path: str, hdrs: dict[str, str]) -> httpx.Response:
    """The API's answer; a refused or dropped connection fails the test (the API must stay up
    through every outage)."""
    return http.get(path, headers=hdrs)


def assert_unavailable(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_crashed_postgres_is_restarted_and_the_api_answers_503_meanwhile(
    stack: RunningStack, http: httpx.Client, seeded: None
) -> None:
    path, hdrs = f"/dossiers?provider={ORG}", headers(stack, "department")
    assert answer(http, path, hdrs).status_code == 200
    with supervisor_paused(stack):
        postmaster = psutil.Process(pid_of(stack, "postgres"))
        backends = postmaster.children()
        postmaster.kill()  # SIGKILL to the postmaster: a crash
        killed = time.monotonic()
        # Its backends exit as soon as they notice; until then one of them could still
        # answer a pooled connection (seen once: a 200 right after the kill).
        psutil.wait_procs(backends, timeout=10)
        down = [answer(http, path, hdrs) for _ in range(3)]
    assert_unavailable(down)

    wait_until(
        lambda: True if answer(http, path, hdrs).status_code == 200 else None,
        "200 from the API after PostgreSQL's restart",
    )
    assert time.monotonic() - killed < BACK_WITHIN
    stack.wait_for_line(
        f"postgres exited (killed by SIGKILL); restarting it (attempt 1 of {RESTARTS}", 5
    )
    stack.wait_for_line("postgres is back", 30)


async def test_postgres_comes_back_with_its_data_and_every_migration(
    stack: RunningStack,
) -> None:
    conn = await asyncpg.connect(database_url(stack))
    try:
        seeded = await conn.fetchval(
            "SELECT count(*) FROM providers WHERE enterprise_number = $1", ORG
        )
        applied = await conn.fetch("SELECT filename FROM schema_migrations ORDER BY filename")
    finally:
        await conn.close()
    assert seeded == 1
    assert [r["filename"] for r in applied] == [p.name for p in migration_files()]


def _reads_answer_from_the_registry(
    http: httpx.Client, stack: RunningStack, dossier: str, state: str
) -> None:
    """The dossier, its organisation's list and the reviewers' worklist answer 200 from the
    registry, saying as of which step."""
    provider = headers(stack, "provider")
    case = answer(http, f"/dossiers/{dossier}", provider)
    assert case.status_code == 200, case.text
    assert (case.json()["state"], case.json()["as_of_step"]) == (state, "submitted")
    listed = answer(http, "/dossiers", provider)
    assert listed.status_code == 200 and dossier in {d["dossier"] for d in listed.json()["items"]}
    work = answer(http, "/worklist?list=waiting-for-reviewer", headers(stack, "voc_reviewer"))
    assert work.status_code == 200, work.text
    assert dossier in {i["dossier"] for i in work.json()["lists"][0]["items"]}


def _decide(http: httpx.Client, stack: RunningStack, dossier: str, key: str) -> httpx.Response:
    """The reviewer's approval; the portal retries a 503 with the same Idempotency-Key."""
    return http.post(
        f"/dossiers/{dossier}/review-decision",
        json={"approve": True},
        headers={**headers(stack, "voc_reviewer"), "Idempotency-Key": key},
    )


def _submitted(http: httpx.Client, stack: RunningStack) -> str:
    """A new dossier whose case has recorded its submission."""
    provider = headers(stack, "provider")
    submitted = http.post(
        "/applications",
        json=application_body(),
        headers={**provider, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert submitted.status_code == 201, submitted.text
    dossier: str = submitted.json()["dossier"]
    wait_until(
        lambda: True if answer(http, f"/dossiers/{dossier}", provider).json()["history"] else None,
        "the submission recorded by its case",
    )
    return dossier


def test_a_crashed_temporal_is_restarted_and_reads_answer_meanwhile(
    stack: RunningStack, http: httpx.Client, seeded: None
) -> None:
    provider = headers(stack, "provider")
    dossier, key = _submitted(http, stack), str(uuid.uuid4())
    path = f"/dossiers/{dossier}"

    with supervisor_paused(stack):
        os.kill(pid_of(stack, "temporal"), signal.SIGKILL)
        killed = time.monotonic()
        _reads_answer_from_the_registry(http, stack, dossier, "under_review")
        assert_unavailable([_decide(http, stack, dossier, key)])

    # Temporal is back from its SQLite file and the worker polls: the case decides again.
    decided = wait_until(
        lambda: r if (r := _decide(http, stack, dossier, key)).status_code == 200 else None,
        "a decision on the case submitted before Temporal's crash",
    )
    assert time.monotonic() - killed < BACK_WITHIN + 20
    assert decided.json()["state"] == "registered"
    assert answer(http, path, provider).json()["state"] == "registered"  # read your write
    stack.wait_for_line(
        f"temporal exited (killed by SIGKILL); restarting it (attempt 1 of {RESTARTS}", 5
    )
    stack.wait_for_line("temporal is back", 60)

    # A new case runs (its search attributes are registered), by the reconnected worker.
    again = http.post(
        "/applications",
        json=application_body(),
        headers={**provider, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert again.status_code == 201, again.text
    assert answer(http, f"/dossiers/{again.json()['dossier']}", provider).status_code == 200


def _reviewers_see(http: httpx.Client, stack: RunningStack, dossier: str) -> bool:
    work = answer(http, "/worklist?list=waiting-for-reviewer", headers(stack, "voc_reviewer"))
    assert work.status_code == 200, work.text
    return dossier in {i["dossier"] for i in work.json()["lists"][0]["items"]}


def acknowledgments(stack: RunningStack, dossier: str) -> int:
    """The acknowledgment e-mails of `dossier` the mail sink received."""
    wanted = f"<{dossier}.acknowledgment."
    return sum(
        (email.message_from_string(path.read_text(errors="replace"))["Message-ID"] or "")
        .strip()
        .startswith(wanted)
        for path in (stack.config.state / "mail").glob("*.eml")
    )


def test_a_submission_while_temporal_is_down_is_accepted_and_its_case_starts_by_itself(
    stack: RunningStack, http: httpx.Client, seeded: None
) -> None:
    provider = headers(stack, "provider")
    with supervisor_paused(stack):
        os.kill(pid_of(stack, "temporal"), signal.SIGKILL)
        accepted = http.post(
            "/applications",
            json=application_body(),
            headers={**provider, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert accepted.status_code == 202, accepted.text
        dossier = accepted.json()["dossier"]
        case = answer(http, f"/dossiers/{dossier}", provider).json()
        assert (case["as_of_step"], case["waiting_for"]) == ("received", "system")
        assert not _reviewers_see(http, stack, dossier)
        refused = _decide(http, stack, dossier, str(uuid.uuid4()))
        assert_unavailable([refused])
        assert "its case has not started yet" in refused.json()["detail"]
        assert "has ended" not in refused.json()["detail"]

    # Nobody retries: Temporal is restarted, and a drainer (API or worker) starts the case.
    wait_until(
        lambda: True if _reviewers_see(http, stack, dossier) else None,
        "the case on the reviewers' worklist once Temporal is back",
        within=BACK_WITHIN + 30,
    )
    wait_until(
        lambda: True if acknowledgments(stack, dossier) else None, "the acknowledgment e-mail"
    )
    assert acknowledgments(stack, dossier) == 1
    assert answer(http, f"/dossiers/{dossier}", provider).json()["waiting_for"] == "reviewer"
    key = str(uuid.uuid4())
    decided = wait_until(
        lambda: r if (r := _decide(http, stack, dossier, key)).status_code == 200 else None,
        "a decision on the case started after Temporal's restart",
    )
    assert decided.json()["state"] == "registered"


def test_a_killed_worker_leaves_reads_answering_and_decisions_503(
    stack: RunningStack, http: httpx.Client, seeded: None
) -> None:
    dossier, key = _submitted(http, stack), str(uuid.uuid4())
    with supervisor_paused(stack):
        os.kill(pid_of(stack, "worker"), signal.SIGKILL)
        _reads_answer_from_the_registry(http, stack, dossier, "under_review")
        # No worker runs the case: the decision is answered 503 once its 20 s are over.
        assert_unavailable([_decide(http, stack, dossier, key)])
    # The retry (same key) has the one effect the first request then had.
    decided = wait_until(
        lambda: r if (r := _decide(http, stack, dossier, key)).status_code == 200 else None,
        "a decision once the restarted worker polls",
    )
    assert decided.json()["state"] == "registered"


async def test_temporal_comes_back_with_its_search_attributes_and_schedule(
    stack: RunningStack,
) -> None:
    settings = stack.config.settings()
    client = await connect(settings)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    assert {key.name for key in search.ALL} <= set(listed.custom_attributes)
    schedule = await client.get_schedule_handle(settings.screening.schedule_id).describe()
    assert schedule.id == settings.screening.schedule_id


def send_mail(stack: RunningStack, subject: str) -> bool:
    msg = EmailMessage()
    msg["From"] = "opleidingsdatabank@vlaanderen.be"
    msg["To"] = "provider@example.be"
    msg["Subject"] = subject
    msg.set_content("test")
    try:
        with smtplib.SMTP("127.0.0.1", stack.config.ports["smtp"], timeout=5) as smtp:
            smtp.send_message(msg)
    except OSError:
        return False
    return True


def mail_with(stack: RunningStack, subject: str) -> Path | None:
    for path in (stack.config.state / "mail").glob("*.eml"):
        if subject in path.read_text(errors="replace"):
            return path
    return None


def test_a_crashed_smtp_sink_is_restarted_and_the_api_stays_up(
    stack: RunningStack, http: httpx.Client
) -> None:
    os.kill(pid_of(stack, "smtp"), signal.SIGKILL)
    killed = time.monotonic()
    assert http.get("/health").status_code == 200
    subject = f"after the crash {uuid.uuid4()}"
    wait_until(lambda: True if send_mail(stack, subject) else None, "SMTP sink accepting mail")
    assert time.monotonic() - killed < BACK_WITHIN
    assert mail_with(stack, subject) is not None
    stack.wait_for_line(f"smtp exited (killed by SIGKILL); restarting it (attempt 1 of {RESTARTS}")
    assert http.get("/health").status_code == 200


def test_a_process_that_keeps_crashing_stops_the_stack_with_a_clear_message(
    stack: RunningStack,
) -> None:
    give_up = f"after {RESTARTS} restarts within {RESTART_WINDOW:.0f} s; stopping the dev stack"

    def restarted_or_given_up(back: int) -> bool | None:
        return True if count(stack, "smtp is back") > back or give_up in stack.output else None

    for _ in range(RESTARTS + 1):  # the crash of the previous test counts too
        back = count(stack, "smtp is back")
        os.kill(pid_of(stack, "smtp"), signal.SIGKILL)
        wait_until(
            lambda: restarted_or_given_up(back),  # noqa: B023 (called before the loop moves on)
            "restart of the SMTP sink, or the stack giving up",
        )
        if give_up in stack.output:
            break
    assert stack.wait(60) == 1
    assert f"smtp exited (killed by SIGKILL) {give_up}" in stack.output
    assert "Last lines of" in stack.output
    assert count(stack, f"restarting it (attempt {RESTARTS} of {RESTARTS}") == 1
    assert wait_no_processes(stack.config.state) == []

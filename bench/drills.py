"""Drills (figures, not pass/fail; not part of CI): faults played on a fresh dev stack
through the real HTTP API, then checked against the registry and the SMTP sink's files.

Starts `python -m devstack up` in a state folder of its own on free ports (never `.dev/` or
the default ports; tests/stack/harness.py), seeds one provider, then plays in turn:

  1. throughput       N submissions, each approved (bounded concurrency);
  2. worker-kill      SIGKILL to the worker's process group while 50 approvals are in flight;
  3. smtp-frozen      SIGSTOP the SMTP sink for 60 s while refusals and submissions go on;
  4. smtp-down        the sink killed and kept down for 2 minutes (see SMTP_DOWN_HOW);
  5. pg-fast-stop     SIGINT to the postmaster (what `pg_ctl stop -m fast` sends) under 50
                      approvals in flight; the supervisor restarts PostgreSQL;
  6. pg-refusing      30 s of `ALTER DATABASE … ALLOW_CONNECTIONS false` (every open session
                      of the database terminated first), SQLSTATE 55000 on every connect;
  7. temporal-restart SIGTERM to the Temporal dev server under 50 approvals in flight; the
                      supervisor restarts it.

Requests behave like the portal: a 503 (or a refused connection, a timeout) is retried after
`Retry-After` with the same `Idempotency-Key`. For each drill it reports: cases lost
(submission answered 2xx, but no registry row or no workflow), decisions lost (answered 200
but not in the registry), notices lost (an expected notice with no outbox row, a row not
`sent` once recovered, or `sent` with no .eml file carrying its Message-ID), duplicate
Message-IDs among the .eml files (at-least-once repeats), duplicate audit rows (a
(dossier, step) or a (dossier, event) recorded twice), every HTTP status seen, and the time
to recover: from the end of the fault (the signal itself for a kill, a stop or a restart:
the restart is part of the recovery) until a decision answers 200, every request of the drill
has its final answer, and the outbox has no unsent row. Each drill then ends with a
reconciliation of the whole stack (ops/reconcile.py, `--full`: every live case's workflow
asked by query and compared with its registry row): "row diffs" is what it found (cases
whose row differs, or running without a row; 0 expected), with the time of a visibility-first
pass and of the full one in the notes.

    .venv/bin/python -m bench.drills                 # everything, 1,000 cases in drill 1
    .venv/bin/python -m bench.drills --n 300 --only throughput,smtp-frozen
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.parser
import email.policy
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from devstack.procs import started_at
from ops.reconcile import reconcile
from registry import providers
from registry.db import create_pool, dsn_from_settings
from runtime.settings import Settings
from runtime.temporal import connect
from starter.auth import mint_dev_token
from tests.stack.harness import RunningStack, StackConfig, processes_of

ORG = "0123456749"
PROVIDER_NAME = "Drill Opleidingen vzw"
CONTACT = "drills@opleidingen.example.be"
REFUSAL_REASON = "De opleiding sluit niet aan bij de arbeidsmarkt."
GIVE_UP = 300.0  # seconds a request is retried (503, refused connection) before giving up
RECOVERY_CAP = 300.0  # seconds after a fault's end we wait for the recovery
TARGET_RECOVERY = 15.0
# Idle connections are dropped before uvicorn's 5 s keep-alive ends: no reuse race.
PORTAL_LIMITS = httpx.Limits(
    max_connections=200, max_keepalive_connections=50, keepalive_expiry=2.0
)
SMTP_DOWN_HOW = (
    "supervisor paused (SIGSTOP) so it cannot restart the sink, sink's process group "
    "SIGKILLed: connections refused for the whole window; then the supervisor resumed "
    "(SIGCONT) and restarted the sink"
)
DRILLS = (
    "throughput",
    "worker-kill",
    "smtp-frozen",
    "smtp-down",
    "pg-fast-stop",
    "pg-refusing",
    "temporal-restart",
)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- what one drill records


@dataclass
class Submission:
    key: str
    dossier: str | None = None  # set once answered 2xx


@dataclass
class Decision:
    dossier: str
    approve: bool
    key: str
    status: int | None = None  # the final answer (None: no answer, gave up)
    seconds: float = 0.0  # first send to final answer
    answered_at: float = 0.0  # monotonic


@dataclass
class Drill:
    name: str
    fault: str
    submissions: list[Submission] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # bodies of 5xx other than 503
    unavailable: Counter[str] = field(default_factory=Counter)  # 503 details, shortened
    probe_log: list[str] = field(default_factory=list)  # the recovery probe's answers
    notes: list[str] = field(default_factory=list)
    fault_end: float | None = None
    api_ok: float | None = None  # seconds after fault_end
    load_done: float | None = None
    drained: float | None = None
    # results of the checks
    cases_lost: int = 0
    decisions_lost: int = 0
    notices_lost: int = 0
    dup_message_ids: int = 0
    dup_audit: int = 0
    row_differences: int | None = None  # the final reconcile: differing + missing rows
    rows_unchecked: int | None = None  # ... and the cases it could not check
    in_flight: list[asyncio.Task[Any]] = field(default_factory=list)

    def trace(self, what: str) -> None:
        at = time.monotonic() - self.fault_end if self.fault_end is not None else 0.0
        self.probe_log.append(f"+{at:.1f} s {what}")

    @property
    def recovery(self) -> float | None:
        parts = (self.api_ok, self.load_done, self.drained)
        if any(p is None for p in parts):
            return None
        return max(p for p in parts if p is not None)


# ---------------------------------------------------------------- the portal's side


def unavailable_detail(response: httpx.Response) -> str:
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = response.text
    return detail[:160]


class Portal:
    """HTTP calls as the portal makes them: a 503 or a lost connection is retried after
    Retry-After with the same Idempotency-Key; every answer is counted for the drill."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        ttl = 6 * 3600
        self.provider = {
            "Authorization": "Bearer "
            + mint_dev_token(
                settings, "drill.provider", org=ORG, roles=("provider",), ttl_seconds=ttl
            )
        }
        self.reviewer = {
            "Authorization": "Bearer "
            + mint_dev_token(settings, "drill.voc", roles=("reviewer:VOC",), ttl_seconds=ttl)
        }

    async def call(
        self,
        drill: Drill,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        key: str,
        *,
        pause: float | None = None,
        give_up: float = GIVE_UP,
    ) -> httpx.Response | None:
        """POST until an answer other than 503 (None after give_up seconds). `pause`
        replaces Retry-After (the recovery probe polls faster than a portal would)."""
        deadline = time.monotonic() + give_up
        while True:
            try:
                response = await self.http.post(
                    path, json=body, headers={**headers, "Idempotency-Key": key}
                )
            except httpx.HTTPError as exc:
                drill.statuses[type(exc).__name__] += 1
                wait = pause if pause is not None else 1.0
                if pause is not None:
                    drill.trace(type(exc).__name__)
            else:
                drill.statuses[str(response.status_code)] += 1
                if pause is not None:
                    drill.trace(f"{response.status_code} {unavailable_detail(response)}")
                if response.status_code >= 500 and response.status_code != 503:
                    drill.errors.append(f"{path}: {response.status_code} {response.text[:300]}")
                if response.status_code != 503:
                    return response
                drill.unavailable[unavailable_detail(response)] += 1
                retry_after = response.headers.get("retry-after", "")
                if pause is not None:
                    wait = pause
                else:
                    wait = float(retry_after) if retry_after.isdigit() else 5.0
                    if not retry_after.isdigit():
                        drill.notes.append("a 503 without a numeric Retry-After")
            if time.monotonic() + wait > deadline:
                drill.statuses["gave up"] += 1
                return None
            await asyncio.sleep(wait)

    async def submit(self, drill: Drill, i: int) -> str | None:
        sub = Submission(key=str(uuid.uuid4()))
        drill.submissions.append(sub)
        body = {
            "provider": ORG,
            "provider_name": PROVIDER_NAME,
            "contact_email": CONTACT,
            "title": f"Drill {drill.name} {i:05d}",
            "start_date": (date.today() + timedelta(days=200)).isoformat(),
            "volume": "40",
            "volume_unit": "contact_hours",
        }
        response = await self.call(drill, "/applications", body, self.provider, sub.key)
        if response is not None and response.status_code in (200, 201, 202):
            sub.dossier = str(response.json()["dossier"])
        return sub.dossier

    async def decide(
        self,
        drill: Drill,
        dossier: str,
        approve: bool,
        answered: asyncio.Event | None = None,
        *,
        key: str | None = None,
        pause: float | None = None,
        give_up: float = GIVE_UP,
    ) -> Decision:
        decision = Decision(dossier=dossier, approve=approve, key=key or str(uuid.uuid4()))
        drill.decisions.append(decision)
        body: dict[str, Any] = (
            {"approve": True}
            if approve
            else {
                "approve": False,
                "reason": REFUSAL_REASON,
            }
        )
        t0 = time.monotonic()
        response = await self.call(
            drill,
            f"/dossiers/{dossier}/review-decision",
            body,
            self.reviewer,
            decision.key,
            pause=pause,
            give_up=give_up,
        )
        decision.answered_at = time.monotonic()
        decision.seconds = decision.answered_at - t0
        decision.status = response.status_code if response is not None else None
        if answered is not None:
            answered.set()
        return decision

    async def case(self, drill: Drill, i: int, approve: bool) -> None:
        dossier = await self.submit(drill, i)
        if dossier is not None:
            await self.decide(drill, dossier, approve)


# ---------------------------------------------------------------- the stack


class Stack:
    def __init__(self, state: Path) -> None:
        self.config = StackConfig.fresh(state)
        self.settings = self.config.settings()
        self.running: RunningStack | None = None
        self.stopped: set[tuple[int, bool]] = set()  # (pid, group) we SIGSTOPped
        # Undoes a fault left in place by an interrupted drill (connections refused).
        self.undo: list[Callable[[], Awaitable[None]]] = []
        self._lines_seen = 0

    @property
    def state(self) -> Path:
        return self.config.state

    @property
    def dsn(self) -> str:
        return dsn_from_settings(self.settings)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.config.ports['api']}"

    def start(self) -> None:
        log(f"starting the dev stack in {self.state} (ports {self.config.ports})")
        self.running = RunningStack(self.config)
        self.running.wait_ready(timeout=180)
        self._lines_seen = len(self.running.lines)
        log("dev stack ready")

    async def ready(self) -> None:
        """Started, with the drills' provider in the registry."""
        await asyncio.to_thread(self.start)
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await providers.upsert(conn, ORG, PROVIDER_NAME, CONTACT)
        finally:
            await conn.close()

    def new_lines(self) -> list[str]:
        """The supervisor's lines since the last call (its restarts, mostly)."""
        assert self.running is not None
        lines = list(self.running.lines)
        new, self._lines_seen = lines[self._lines_seen :], len(lines)
        return [line for line in new if line.strip()]

    def pid(self, name: str) -> int:
        pid: int = json.loads((self.state / "run" / f"{name}.pid").read_text())["pid"]
        return pid

    @property
    def supervisor_pid(self) -> int:
        assert self.running is not None
        return self.running.proc.pid

    def send(self, pid: int, sig: signal.Signals, *, group: bool) -> None:
        (os.killpg if group else os.kill)(pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped.add((pid, group))
        elif sig == signal.SIGCONT:
            self.stopped.discard((pid, group))

    def resume_all(self) -> None:
        for pid, group in list(self.stopped):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.send(pid, signal.SIGCONT, group=group)
        self.stopped.clear()

    def stop(self) -> None:
        self.resume_all()
        if self.running is not None and self.running.proc.poll() is None:
            log("stopping the dev stack")
            self.running.interrupt()
            try:
                self.running.wait(120)
            except Exception:
                self.running.kill()
        # Anything still naming our state folder is ours: nothing may outlive the drills.
        for entry in processes_of(self.state):
            pid = int(entry.split(":", 1)[0])
            log(f"killing a leftover process: {entry[:160]}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- the checks


class MailIndex:
    """Message-ID and dossier of every .eml file in the sink's folder (read once each)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen: dict[str, tuple[str, str]] = {}
        self._parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    def refresh(self) -> list[tuple[str, str]]:
        for path in self.folder.glob("*.eml"):
            if path.name in self._seen:
                continue
            headers = self._parser.parsebytes(path.read_bytes())
            mid = str(headers.get("Message-ID", "")).strip()
            dossier = str(headers.get("X-ODB-Dossier", "")).strip()
            self._seen[path.name] = (mid, dossier)
        return list(self._seen.values())


async def unsent_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE status <> 'sent'"
        )
        return count
    finally:
        await conn.close()


async def measure_recovery(
    stack: Stack,
    portal: Portal,
    drill: Drill,
    probe: str,
    feeder: tuple[asyncio.Event, asyncio.Task[None]] | None = None,
) -> None:
    """From the end of the fault: a decision answered 200 (the probe polls every 0.5 s),
    every request of the drill answered, the outbox without unsent rows. A `feeder` of new
    cases is stopped once the probe is answered (at least 2 s after the fault's end)."""
    assert drill.fault_end is not None
    end = drill.fault_end
    decided = await portal.decide(drill, probe, True, pause=0.5, give_up=RECOVERY_CAP)
    if decided.status == 200:
        drill.api_ok = time.monotonic() - end
    else:
        drill.notes.append(f"the recovery probe's decision got {decided.status}")
    if feeder is not None:
        stop, task = feeder
        await asyncio.sleep(max(0.0, end + 2.0 - time.monotonic()))
        stop.set()
        await task
    if drill.in_flight:
        left = max(1.0, end + RECOVERY_CAP - time.monotonic())
        finished, pending = await asyncio.wait(drill.in_flight, timeout=left)
        for task in finished:
            if not task.cancelled() and (exc := task.exception()) is not None:
                drill.notes.append(f"a request task failed: {exc!r}")
        if pending:
            drill.notes.append(f"{len(pending)} requests still unanswered after the cap")
            for task in pending:
                task.cancel()
        else:
            drill.load_done = max(0.0, time.monotonic() - end)
    else:
        drill.load_done = 0.0
    while time.monotonic() - end < RECOVERY_CAP:
        try:
            if await unsent_count(stack.dsn) == 0:
                drill.drained = time.monotonic() - end
                break
        except (OSError, asyncpg.PostgresError, TimeoutError):
            pass
        await asyncio.sleep(0.25)
    else:
        drill.notes.append(f"outbox not drained within {RECOVERY_CAP:.0f} s")


async def workflow_exists(client: Client, dossier: str) -> bool:
    try:
        await client.get_workflow_handle(dossier).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def check(settings: Settings, drill: Drill, mail: MailIndex) -> None:
    """The drill's promises against the registry, Temporal and the sent e-mails of the stack
    these settings point at (also bench.scale_out and tests/stack/test_scale_out.py)."""
    conn = await asyncpg.connect(dsn_from_settings(settings), timeout=10)
    client = await connect(settings)
    try:
        # Submissions: an unanswered one the registry has anyway is checked like the others.
        accepted = {s.dossier for s in drill.submissions if s.dossier}
        unanswered = [s.key for s in drill.submissions if s.dossier is None]
        if unanswered:
            rows = await conn.fetch(
                "SELECT dossier FROM applications WHERE split_part(idempotency_key, ':', 2) "
                "= ANY($1::text[])",
                unanswered,
            )
            drill.notes.append(
                f"{len(unanswered)} submissions without a 2xx answer; the registry has "
                f"{len(rows)} of them"
            )
            accepted |= {r["dossier"] for r in rows}
        dossiers = sorted(accepted)
        states = {
            r["dossier"]: r["state"]
            for r in await conn.fetch(
                "SELECT dossier, state FROM applications WHERE dossier = ANY($1::text[])",
                dossiers,
            )
        }
        sem = asyncio.Semaphore(20)

        async def exists(d: str) -> bool:
            async with sem:
                return await workflow_exists(client, d)

        running = await asyncio.gather(*(exists(d) for d in dossiers))
        no_row = [d for d in dossiers if d not in states]
        no_workflow = [d for d, ok in zip(dossiers, running, strict=True) if not ok]
        drill.cases_lost = len(set(no_row) | set(no_workflow))
        if no_row:
            drill.notes.append(f"no registry row: {', '.join(no_row[:5])}")
        if no_workflow:
            drill.notes.append(f"no workflow: {', '.join(no_workflow[:5])}")

        # Decisions answered 200 must be in the registry.
        done = [d for d in drill.decisions if d.status == 200]
        wrong = [
            d.dossier
            for d in done
            if states.get(d.dossier) != ("registered" if d.approve else "refused")
        ]
        drill.decisions_lost = len(wrong)
        if wrong:
            drill.notes.append(
                "decided (200) but not so in the registry: "
                + ", ".join(f"{d} ({states.get(d)})" for d in wrong[:5])
            )
        other = Counter(str(d.status) for d in drill.decisions if d.status != 200)
        if other:
            drill.notes.append(f"decisions not answered 200 in the end: {dict(other)}")

        # Notices: every expected one has a row, every row is sent, every sent one has a file.
        rows = await conn.fetch(
            "SELECT dossier, kind, status, message_id FROM notifications "
            "WHERE dossier = ANY($1::text[])",
            dossiers,
        )
        present = {(r["dossier"], r["kind"]) for r in rows}
        expected = {(d, "acknowledgment") for d in dossiers if d in states}
        expected |= {(d.dossier, "approval" if d.approve else "refusal") for d in done}
        missing = sorted(expected - present)
        unsent = [r for r in rows if r["status"] != "sent"]
        files = mail.refresh()
        in_files = {mid.strip("<>") for mid, _ in files}
        no_file = [
            r for r in rows if r["status"] == "sent" and r["message_id"].strip("<>") not in in_files
        ]
        drill.notices_lost = len(missing) + len(unsent) + len(no_file)
        if missing:
            drill.notes.append(f"{len(missing)} expected notices without a row, e.g. {missing[:3]}")
        if unsent:
            by = Counter(str(r["status"]) for r in unsent)
            drill.notes.append(f"outbox rows not sent: {dict(by)}, e.g. {unsent[0]['message_id']}")
        if no_file:
            drill.notes.append(
                f"{len(no_file)} rows 'sent' without an .eml file, e.g. {no_file[0]['message_id']}"
            )
        mine = set(dossiers)
        ids = Counter(mid.strip("<>") for mid, dossier in files if dossier in mine)
        drill.dup_message_ids = sum(c - 1 for c in ids.values() if c > 1)
        if drill.dup_message_ids:
            twice = [mid for mid, c in ids.items() if c > 1]
            drill.notes.append(f"Message-IDs received more than once: {twice[:3]}")
        drill.notes.append(
            f"notices: {len(rows)} rows ({len(expected)} expected), "
            f"{sum(1 for _, d in files if d in mine)} .eml files"
        )

        # The audit trail: one row per (dossier, step), and no decision event twice.
        dup_steps: int = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (dossier, step)) FROM audit "
            "WHERE dossier = ANY($1::text[])",
            dossiers,
        )
        dup_events = await conn.fetch(
            "SELECT dossier, event, count(*) AS n FROM audit WHERE dossier = ANY($1::text[]) "
            "GROUP BY dossier, event HAVING count(*) > 1",
            dossiers,
        )
        drill.dup_audit = dup_steps + sum(int(r["n"]) - 1 for r in dup_events)
        if drill.dup_audit:
            drill.notes.append(
                f"audit repeats: {dup_steps} (dossier, step); events "
                + ", ".join(f"{r['dossier']} {r['event']} x{r['n']}" for r in dup_events[:3])
            )
        refused = [d.dossier for d in done if not d.approve]
        if refused:
            # The case records the sending (and starts the appeal window) in a step of its
            # own just after the notice went out: waited for up to 30 s.
            for _ in range(120):
                notified = await conn.fetchval(
                    "SELECT count(DISTINCT dossier) FROM audit WHERE dossier = ANY($1::text[]) "
                    "AND event = 'application.refusal.notified'",
                    refused,
                )
                if notified >= len(refused):
                    break
                await asyncio.sleep(0.25)
            after = time.monotonic() - drill.fault_end if drill.fault_end is not None else 0.0
            drill.notes.append(
                f"refusals whose case recorded the notice's sending (appeal window started): "
                f"{notified} of {len(refused)}, {after:.1f} s after the fault's end"
            )
    finally:
        await conn.close()


async def reconciled(settings: Settings, drill: Drill) -> None:
    """The drill's end: every live case's registry row against its workflow (a pass from
    visibility, then a full one asking every case), recorded like `python -m ops reconcile`."""
    client = await connect(settings)
    pool = await create_pool(settings, min_size=0, max_size=20)
    try:
        fast = await reconcile(client, pool, record=False)
        full = await reconcile(client, pool, full=True)
    finally:
        await pool.close()
    drill.row_differences = len(full.left)
    drill.rows_unchecked = len(full.unchecked)
    drill.notes.append(
        f"reconcile: {full.live_cases} live cases, {len(full.differing)} with a row that "
        f"differs, {len(full.missing)} without a row, {len(full.unchecked)} not checked; "
        f"visibility first {fast.seconds:.1f} s ({fast.queried} asked by query, "
        f"{len(fast.left)} found), full {full.seconds:.1f} s"
    )
    found = [line for line in full.lines() if "\t" in line]  # one per difference
    drill.notes += [f"reconcile: {line}" for line in found[:8]]


def latency_note(drill: Drill, label: str, decisions: list[Decision] | None = None) -> None:
    chosen = drill.decisions if decisions is None else decisions
    times = sorted(d.seconds for d in chosen if d.status == 200)
    if times:
        p50 = statistics.median(times)
        drill.notes.append(f"{label}: {len(times)}, latency p50 {p50:.2f} s, max {times[-1]:.2f} s")
    else:
        drill.notes.append(f"{label}: none")


# ---------------------------------------------------------------- the drills


@dataclass
class Context:
    stack: Stack
    portal: Portal
    mail: MailIndex
    n: int
    concurrency: int
    scale: float = 1.0  # of the fault windows (60 s, 2 minutes, 30 s); < 1 for a quick try


async def bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(guarded(i) for i in range(n)))


async def prepare(ctx: Context, drill: Drill, count: int) -> tuple[list[str], str]:
    """`count` cases under review for the fault, plus one the recovery probe decides."""
    dossiers: list[str] = []

    async def one(i: int) -> None:
        dossier = await ctx.portal.submit(drill, i)
        if dossier is not None:
            dossiers.append(dossier)

    await bounded(count + 1, ctx.concurrency, one)
    if not dossiers:
        raise RuntimeError(f"{drill.name}: no case could be submitted")
    probe = dossiers.pop()
    return dossiers, probe


def launch(drill: Drill, work: Awaitable[Any]) -> None:
    drill.in_flight.append(asyncio.ensure_future(work))


async def trickle(
    ctx: Context, drill: Drill, stop: asyncio.Event, every: float, approve: Callable[[int], bool]
) -> None:
    """A new case (submit, then decide) every `every` seconds until `stop`."""
    i = 10000
    while not stop.is_set():
        launch(drill, ctx.portal.case(drill, i, approve(i)))
        i += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def first_answer_or(answered: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered.wait(), seconds)


async def drill_throughput(ctx: Context) -> Drill:
    drill = Drill(
        "throughput", f"none: {ctx.n} submissions + approvals, concurrency {ctx.concurrency}"
    )
    t0 = time.monotonic()
    await bounded(ctx.n, ctx.concurrency, lambda i: ctx.portal.case(drill, i, True))
    took = time.monotonic() - t0
    drill.notes.append(
        f"{ctx.n} cases submitted and approved in {took:.1f} s ({ctx.n / took:.1f}/s)"
    )
    latency_note(drill, "approvals answered 200")
    drill.fault_end = time.monotonic()
    probe = await ctx.portal.submit(drill, 99999)
    assert probe is not None
    await measure_recovery(ctx.stack, ctx.portal, drill, probe)
    return drill


async def wait_gone(pid: int, within: float) -> None:
    """Until the process has exited (a zombie left for its parent counts as gone)."""
    for _ in range(int(within / 0.02)):
        if started_at(pid) is None:
            return
        await asyncio.sleep(0.02)


async def instant_fault(
    ctx: Context,
    drill: Drill,
    burst: int,
    name: str,
    sig: signal.Signals,
) -> None:
    """`burst` approvals launched together; `sig` goes to process `name` at the first answer
    (or after 1 s) while the rest are in flight. The fault's end is when that process has
    exited (then it is down until the supervisor has restarted it). New cases keep coming
    (one every 0.5 s) from the signal until a decision is answered 200 again."""
    cases, probe = await prepare(ctx, drill, burst)
    answered = asyncio.Event()
    for dossier in cases:
        launch(drill, ctx.portal.decide(drill, dossier, True, answered))
    await first_answer_or(answered, 1.0)
    before = sum(1 for d in drill.decisions if d.status is not None)
    pid = ctx.stack.pid(name)
    ctx.stack.send(pid, sig, group=name == "worker")
    struck = time.monotonic()
    stop = asyncio.Event()
    feeder = asyncio.ensure_future(trickle(ctx, drill, stop, 0.5, lambda i: True))
    await wait_gone(pid, 120.0)
    drill.fault_end = time.monotonic()
    drill.notes.append(
        f"{sig.name} with {len(cases) - before} of {len(cases)} approvals in flight; "
        f"{name} (pid {pid}) gone {drill.fault_end - struck:.2f} s after the signal"
    )
    await measure_recovery(ctx.stack, ctx.portal, drill, probe, (stop, feeder))


async def drill_worker_kill(ctx: Context) -> Drill:
    drill = Drill("worker-kill", "SIGKILL to the worker's process group, 50 approvals in flight")
    await instant_fault(
        ctx,
        drill,
        50,
        "worker",
        signal.SIGKILL,
    )
    return drill


async def windowed_fault(
    ctx: Context,
    drill: Drill,
    burst: int,
    seconds: float,
    begin: Callable[[], Awaitable[None]],
    end: Callable[[], Awaitable[None]],
    approve: Callable[[int], bool],
    every: float,
) -> None:
    """The fault holds for `seconds`: `burst` decisions at its start, a new case every
    `every` seconds during it."""
    cases, probe = await prepare(ctx, drill, burst)
    await begin()
    started = time.monotonic()
    for i, dossier in enumerate(cases):
        launch(drill, ctx.portal.decide(drill, dossier, approve(i)))
    stop = asyncio.Event()
    feeder = asyncio.ensure_future(trickle(ctx, drill, stop, every, approve))
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    await feeder
    await end()
    drill.fault_end = time.monotonic()
    during = [d for d in drill.decisions if d.status == 200 and d.answered_at <= drill.fault_end]
    latency_note(drill, "decisions answered 200 while the fault held", during)
    await measure_recovery(ctx.stack, ctx.portal, drill, probe)


async def drill_smtp_frozen(ctx: Context) -> Drill:
    seconds = 60.0 * ctx.scale
    drill = Drill("smtp-frozen", f"SMTP sink SIGSTOPped {seconds:.0f} s, then SIGCONT")
    stack = ctx.stack
    pid = stack.pid("smtp")

    async def begin() -> None:
        stack.send(pid, signal.SIGSTOP, group=True)

    async def end() -> None:
        stack.send(pid, signal.SIGCONT, group=True)

    await windowed_fault(ctx, drill, 20, seconds, begin, end, lambda i: i % 2 == 0, 2.0)
    return drill


async def drill_smtp_down(ctx: Context) -> Drill:
    seconds = 120.0 * ctx.scale
    drill = Drill("smtp-down", f"SMTP refusing connections {seconds:.0f} s: {SMTP_DOWN_HOW}")
    stack = ctx.stack

    async def begin() -> None:
        stack.send(stack.supervisor_pid, signal.SIGSTOP, group=False)
        stack.send(stack.pid("smtp"), signal.SIGKILL, group=True)

    async def end() -> None:
        stack.send(stack.supervisor_pid, signal.SIGCONT, group=False)

    await windowed_fault(ctx, drill, 20, seconds, begin, end, lambda i: i % 2 == 1, 3.0)
    return drill


async def drill_pg_fast_stop(ctx: Context) -> Drill:
    drill = Drill(
        "pg-fast-stop", "SIGINT to the postmaster (fast shutdown), 50 approvals in flight"
    )
    await instant_fault(ctx, drill, 50, "postgres", signal.SIGINT)
    return drill


async def drill_pg_refusing(ctx: Context) -> Drill:
    seconds = 30.0 * ctx.scale
    drill = Drill(
        "pg-refusing",
        f"ALLOW_CONNECTIONS false for {seconds:.0f} s (sessions terminated first): 55000",
    )
    stack = ctx.stack
    database = stack.settings.postgres.database
    admin = stack.dsn.rsplit("/", 1)[0] + "/postgres"

    async def alter(allow: bool) -> None:
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute(
                f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allow).lower()}'
            )
            if not allow:
                await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
        finally:
            await conn.close()

    async def begin() -> None:
        await alter(False)

    async def end() -> None:
        await alter(True)

    stack.undo.append(end)
    await windowed_fault(ctx, drill, 20, seconds, begin, end, lambda i: True, 1.0)
    stack.undo.remove(end)
    return drill


async def drill_temporal_restart(ctx: Context) -> Drill:
    drill = Drill("temporal-restart", "SIGTERM to the Temporal dev server, 50 approvals in flight")
    await instant_fault(ctx, drill, 50, "temporal", signal.SIGTERM)
    return drill


RUNNERS: dict[str, Callable[[Context], Awaitable[Drill]]] = {
    "throughput": drill_throughput,
    "worker-kill": drill_worker_kill,
    "smtp-frozen": drill_smtp_frozen,
    "smtp-down": drill_smtp_down,
    "pg-fast-stop": drill_pg_fast_stop,
    "pg-refusing": drill_pg_refusing,
    "temporal-restart": drill_temporal_restart,
}


# ---------------------------------------------------------------- the table


def seconds_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def statuses_text(statuses: Counter[str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))


def report(drills: list[Drill], totals: dict[str, int], n: int) -> None:
    console = Console(width=200)
    table = Table(title=f"Drills on a fresh dev stack (drill 1: N = {n})", show_lines=True)
    for name in (
        "drill",
        "cases",
        "cases lost",
        "decisions lost",
        "notices lost",
        "dup Message-IDs",
        "dup audit rows",
        "row diffs",
        "HTTP statuses",
        "recovery s",
    ):
        table.add_column(name, overflow="fold")
    for d in drills:
        rec = d.recovery
        rec_text = seconds_text(rec)
        if rec is not None and d.name != "throughput" and rec > TARGET_RECOVERY:
            rec_text += " (> 15)"
        table.add_row(
            d.name,
            f"{len(d.submissions)} / {sum(1 for x in d.decisions if x.status == 200)}",
            str(d.cases_lost),
            str(d.decisions_lost),
            str(d.notices_lost),
            str(d.dup_message_ids),
            str(d.dup_audit),
            "—" if d.row_differences is None else str(d.row_differences),
            statuses_text(d.statuses),
            rec_text,
        )
    console.print(table)
    console.print(
        "cases: submissions / decisions answered 200. recovery: from the fault's end "
        "until a decision answers 200, every request of the drill is answered and "
        "the outbox has no unsent row (throughput: from the last answer)."
    )
    for d in drills:
        console.print(f"\n[bold]{d.name}[/bold]: {d.fault}", highlight=False)
        console.print(
            f"  recovery parts (s after the fault's end): decision 200 {seconds_text(d.api_ok)}, "
            f"all requests answered {seconds_text(d.load_done)}, outbox drained "
            f"{seconds_text(d.drained)}",
            highlight=False,
        )
        for note in d.notes:
            console.print(f"  {note}", highlight=False)
        for err in d.errors[:5]:
            console.print(f"  5xx: {err}", highlight=False)
        for detail, count in d.unavailable.most_common(4):
            console.print(f"  503 x{count}: {detail}", highlight=False)
        if len(d.probe_log) > 1:
            shown = (
                d.probe_log if len(d.probe_log) <= 6 else [*d.probe_log[:3], "…", *d.probe_log[-3:]]
            )
            console.print(f"  recovery probe: {' | '.join(shown)}", highlight=False)
    console.print("\n[bold]whole run[/bold]", highlight=False)
    for key, value in totals.items():
        console.print(f"  {key}: {value}", highlight=False)


async def totals_of(stack: Stack, mail: MailIndex) -> dict[str, int]:
    conn = await asyncpg.connect(stack.dsn, timeout=10)
    try:
        by_status = {
            str(r["status"]): int(r["n"])
            for r in await conn.fetch(
                "SELECT status, count(*) AS n FROM notifications GROUP BY status"
            )
        }
        cases: int = await conn.fetchval("SELECT count(*) FROM applications")
        audit_dups: int = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (dossier, step)) FROM audit"
        )
    finally:
        await conn.close()
    files = mail.refresh()
    ids = Counter(mid for mid, _ in files)
    return {
        "registry cases": cases,
        **{f"outbox rows {k}": v for k, v in sorted(by_status.items())},
        ".eml files": len(files),
        "duplicate Message-IDs (all files)": sum(c - 1 for c in ids.values() if c > 1),
        "audit rows repeating a (dossier, step)": audit_dups,
    }


# ---------------------------------------------------------------- main


@contextlib.contextmanager
def state_folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)
        yield keep / "state"
        return
    tmp = Path(tempfile.mkdtemp(prefix="odb-drills-"))
    try:
        yield tmp / "state"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run(args: argparse.Namespace) -> int:
    chosen = [name.strip() for name in args.only.split(",")] if args.only else list(DRILLS)
    unknown = [name for name in chosen if name not in RUNNERS]
    if unknown:
        log(f"unknown drills {unknown}; choose from {', '.join(DRILLS)}")
        return 2
    with state_folder(args.keep) as state:
        stack = Stack(state)
        drills: list[Drill] = []
        try:
            await stack.ready()
            async with httpx.AsyncClient(
                base_url=stack.api, limits=PORTAL_LIMITS, timeout=45
            ) as http:
                ctx = Context(
                    stack, Portal(http, stack.settings), MailIndex(state / "mail"),
                    args.n, args.concurrency, args.window_scale,
                )  # fmt: skip
                for name in chosen:
                    log(f"drill {name} ...")
                    t0 = time.monotonic()
                    try:
                        drill = await asyncio.wait_for(RUNNERS[name](ctx), args.drill_timeout)
                    except TimeoutError:
                        drill = Drill(name, f"did not finish within {args.drill_timeout:.0f} s")
                    finally:
                        stack.resume_all()
                    for line in stack.new_lines():
                        drill.notes.append(f"supervisor: {line.strip()}")
                    await check(stack.settings, drill, ctx.mail)
                    await reconciled(stack.settings, drill)
                    log(
                        f"drill {name} done in {time.monotonic() - t0:.0f} s: recovery "
                        f"{seconds_text(drill.recovery)} s, "
                        f"statuses {statuses_text(drill.statuses)}"
                    )
                    drills.append(drill)
                    await asyncio.sleep(3)  # let the restarted processes settle
                totals = await totals_of(stack, ctx.mail)
            report(drills, totals, args.n)
        finally:
            for undo in stack.undo:
                with contextlib.suppress(Exception):
                    await undo()
            await asyncio.to_thread(stack.stop)
            if args.keep is not None:
                log(f"state folder kept: {state} (logs in {state / 'logs'})")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="cases in the throughput drill")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(DRILLS)}")
    parser.add_argument(
        "--keep", type=Path, default=None, help="a new folder for the stack's state, kept"
    )
    parser.add_argument("--drill-timeout", type=float, default=900.0)
    parser.add_argument(
        "--window-scale",
        type=float,
        default=1.0,
        help="scales the fault windows (SMTP 60 s and 120 s, PostgreSQL 30 s); for a quick try",
    )
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()

"""`python -m devstack up`: start everything in order, watch it, stop it all on Ctrl-C.

Every child runs in its own process group and has a pid file under <state>/run, so
`devstack stop` from another terminal, and the next `up` after a killed run, can find and
stop whatever is left. A failure at any step (or Ctrl-C) stops what was already started.
A child that crashes once the stack runs is restarted (RESTARTS times within
RESTART_WINDOW at most); the others stay up meanwhile and ride out its absence.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devstack import oidc_provider, procs
from devstack.cleanup import SUPERVISOR, say, sweep_leftovers
from devstack.errors import StackError
from devstack.plan import Plan
from devstack.ports import check_free, http_status, tcp_answers, worker_polls
from devstack.postgres import EmbeddedPostgres
from runtime.settings import PROJECT_ROOT
from runtime.temporal import connect
from starter.auth import make_dev_secret
from starter.deploy import setup
from starter.deploy.schedule import check_settings as check_schedule_settings
from starter.web.signin import CALLBACK

READY_TIMEOUT = 90.0
RESTARTS = 5  # restarts of one process within RESTART_WINDOW seconds; one crash more stops all
RESTART_WINDOW = 60.0
# After Temporal came back, the worker's pollers reconnect by themselves; one that has not
# polled again within this long is restarted.
RECONNECT_TIMEOUT = 30.0
SUPERVISE_EVERY = 0.5  # seconds between looks at the children
READY_LINE = "dev stack ready"  # tests wait for this line on stdout


def rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(PROJECT_ROOT))
    return str(path)


class Stack:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.children: dict[str, procs.Tracked] = {}
        self.pg: EmbeddedPostgres | None = None
        self._pg_start: concurrent.futures.Future[None] | None = None
        self._lock: IO[str] | None = None
        self.client: Client | None = None
        self.ready = False
        # One thread starts PostgreSQL (a blocking library call), at start-up and on restarts.
        self._pg_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg")
        self._restarts: dict[str, list[float]] = {}  # name -> when it was restarted
        self._restarting: dict[str, asyncio.Task[None]] = {}

    # ---- ownership of the state folder ----

    def lock(self) -> None:
        """One supervisor per state folder. flock dies with its process, so a killed run
        never leaves a lock that blocks the next start."""
        run = self.plan.run_dir
        run.mkdir(parents=True, exist_ok=True)
        handle = (run / "devstack.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            other = procs.adopt(run / f"{SUPERVISOR}.pid")
            pid = f" (pid {other.pid})" if other else ""
            raise StackError(
                f"the dev stack already runs{pid} on {rel(self.plan.state)}: "
                f"`make status` shows it, `make stop` stops it"
            ) from None
        self._lock = handle
        sweep_leftovers(self.plan)
        me = procs.Tracked(
            SUPERVISOR,
            os.getpid(),
            procs.started_at(os.getpid()),
            run / f"{SUPERVISOR}.pid",
            stop_timeout=60.0,
            group=False,
        )
        me.write_pid_file()

    def unlock(self) -> None:
        (self.plan.run_dir / f"{SUPERVISOR}.pid").unlink(missing_ok=True)
        (self.plan.state / "stack.json").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ---- start-up ----

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # Children must reach the very database this supervisor migrated.
        env["DATABASE_URL"] = self.plan.database_url
        # Dev mode for the stack's own processes only: the API accepts tokens signed with
        # this stack's random secret (`python -m starter token` and the demo find it in the
        # state folder); no file a deploy reads can turn this on.
        env["ODB_DEV_MODE"] = "1"
        env["ODB_AUTH__DEV_SECRET"] = make_dev_secret(self.plan.state)
        return env

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, **kw: Any
    ) -> procs.Tracked:
        child = procs.spawn(
            name,
            argv,
            run_dir=self.plan.run_dir,
            log_dir=self.plan.log_dir,
            env=env or self.child_env(),
            **kw,
        )
        self.children[name] = child
        return child

    async def start(self) -> None:
        plan, s = self.plan, self.plan.settings
        check_schedule_settings(s)  # a bad screening date fails here, before anything runs
        check_free(plan.claims)
        for folder in (plan.state, plan.log_dir, plan.mail_dir):
            folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()

        # Slow parts first and side by side: Temporal and PostgreSQL start concurrently.
        if plan.temporal_local:
            say(f"starting Temporal dev server on {s.temporal.address} ...")
            self.start_temporal()
        if plan.postgres_embedded:
            say(f"starting PostgreSQL on 127.0.0.1:{s.postgres.embedded_port} ...")
            self.pg = EmbeddedPostgres(plan.pg_dir, s.postgres.embedded_port, s.postgres.database)
            self.start_postgres()
        if plan.smtp_local:
            say(f"starting SMTP sink on {s.smtp.host}:{s.smtp.port} ...")
            self.start_smtp()

        await asyncio.gather(self.temporal_ready(), self.postgres_ready(), self.smtp_ready())
        say(f"Temporal, PostgreSQL and SMTP ready after {time.monotonic() - t0:.1f} s")

        self.start_worker()
        self.start_api()
        self.start_oidc()
        await self.oidc_ready()
        self.start_web()
        await asyncio.gather(self.worker_ready(), self.api_ready(), self.web_ready())
        await self.ensure_schedule()
        self.write_stack_file()
        self.ready = True
        self.banner(time.monotonic() - t0)

    def start_temporal(self) -> None:
        self.spawn("temporal", self.temporal_argv(), env=self.temporal_env())

    def start_postgres(self) -> None:
        assert self.pg is not None
        self._pg_start = self._pg_thread.submit(self.pg.start)

    def start_smtp(self) -> None:
        plan, s = self.plan, self.plan.settings
        self.spawn(
            "smtp",
            [
                plan.python,
                "-m",
                "devstack.smtp_sink",
                "--dir",
                str(plan.mail_dir),
                "--host",
                s.smtp.host,
                "--port",
                str(s.smtp.port),
            ],
        )

    def start_api(self) -> None:
        self.spawn("api", [self.plan.python, "-m", "starter.api"])

    def start_oidc(self) -> None:
        """The dev stack's OpenID provider (devstack/oidc_provider.py): the web application
        signs people in through it exactly as through the department's."""
        plan = self.plan
        self.spawn(
            "oidc",
            [
                plan.python,
                "-m",
                "devstack.oidc_provider",
                "--port",
                str(plan.settings.web.dev_provider_port),
                "--client-id",
                oidc_provider.DEV_CLIENT_ID,
                "--client-secret-file",
                str(oidc_provider.client_secret_file(plan.state)),
                "--redirect-uri",
                f"{plan.web_url}{CALLBACK}",
            ],
        )

    def start_web(self) -> None:
        env = self.child_env()
        env["ODB_WEB__OIDC_ISSUER"] = self.plan.oidc_url
        env["ODB_WEB__OIDC_CLIENT_ID"] = oidc_provider.DEV_CLIENT_ID
        env["ODB_WEB__OIDC_CLIENT_SECRET"] = oidc_provider.client_secret(self.plan.state)
        self.spawn("web", [self.plan.python, "-m", "starter.web"], env=env)

    async def oidc_ready(self) -> None:
        await self._answers("oidc", f"{self.plan.oidc_url}/.well-known/openid-configuration")

    async def web_ready(self) -> None:
        await self._answers("web", f"{self.plan.web_url}/health")

    async def _answers(self, name: str, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while http_status(url, timeout=1.0) != 200:
            self.check_alive(name)
            if time.monotonic() > deadline:
                raise StackError(
                    f"{name} did not answer on {url}; see {rel(self.plan.log_dir / f'{name}.log')}"
                )
            await asyncio.sleep(0.1)

    def temporal_argv(self) -> list[str]:
        t = self.plan.settings.temporal
        argv = [
            str(self.plan.temporal_bin),
            "server",
            "start-dev",
            "--db-filename",
            str(self.plan.temporal_db),
            "--namespace",
            t.namespace,
            "--ip",
            t.host,
            "--port",
            str(t.port),
            "--ui-port",
            str(t.ui_port),
            "--metrics-port",
            str(t.server_metrics_port),
            "--ui-disable-news-fetch",
            # The case workflow takes every decision as an Update.
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
            "--log-format",
            "json",
        ]
        for pragma, value in t.sqlite_pragmas.items():
            argv += ["--sqlite-pragma", f"{pragma}={value}"]
        for name, kind in t.search_attributes.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        return argv

    def temporal_env(self) -> dict[str, str]:
        # The CLI reads TEMPORAL_* itself; they describe where clients connect, not this server.
        return {k: v for k, v in self.child_env().items() if not k.startswith("TEMPORAL_")}

    async def temporal_ready(self) -> None:
        s = self.plan.settings
        deadline = time.monotonic() + READY_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive("temporal")
            try:
                if self.client is None:
                    self.client = await connect(s)
                await self.client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=s.temporal.namespace)
                )
                break
            except Exception as exc:  # not up yet, or the namespace is still being created
                last = exc
                await asyncio.sleep(0.2)
        else:
            raise StackError(
                f"Temporal at {s.temporal.address} did not answer within "
                f"{READY_TIMEOUT:.0f} s: {last}"
            )
        if self.plan.temporal_local:
            # The dev server registers its --search-attribute flags only when it creates its
            # database: one added since is registered by setup's step (one home for it).
            step = await setup.search_attributes(self.client, s, cloud=False)
            if step.status == setup.Status.REFUSED:
                raise StackError(step.detail)
            if step.changes:
                say(
                    "registered search attributes new since this state folder: "
                    + ", ".join(step.changes)
                )
            while http_status(self.plan.ui_url) != 200:
                self.check_alive("temporal")
                if time.monotonic() > deadline:
                    raise StackError(f"the Temporal Web UI did not answer on {self.plan.ui_url}")
                await asyncio.sleep(0.1)

    async def postgres_ready(self) -> None:
        if self._pg_start is not None:
            try:
                await asyncio.wrap_future(self._pg_start)
            except Exception as exc:
                self._track_failed_postgres()
                raise StackError(f"PostgreSQL did not start: {exc}") from exc
            assert self.pg is not None and self.pg.pid is not None
            # Tracked for `devstack stop` after a killed supervisor; stopped with SIGINT (fast
            # shutdown), which is what pg_ctl -m fast does. Its Popen gives the exit code.
            pg = procs.Tracked(
                "postgres",
                self.pg.pid,
                procs.started_at(self.pg.pid),
                self.plan.run_dir / "postgres.pid",
                stop_signal=signal.SIGINT,
                stop_timeout=30.0,
                popen=self.pg.process,
            )
            pg.write_pid_file()
            self.children["postgres"] = pg
        try:
            step = await setup.migrations(self.plan.settings, dsn=self.plan.database_url)
        except setup.SetupRefused as exc:
            raise StackError(str(exc)) from exc
        if step.changes:
            say(f"migrations applied: {', '.join(step.changes)}")

    def _track_failed_postgres(self) -> None:
        """A restarted server that died while starting replaces the crashed one it follows,
        so the next crash message gives its exit code. No pid file: it names a dead pid."""
        failed = self.pg.process if self.pg is not None else None
        tracked = self.children.get("postgres")
        if failed is not None and tracked is not None and tracked.pid != failed.pid:
            self.children["postgres"] = dataclasses.replace(
                tracked, pid=failed.pid, started=None, popen=failed
            )

    async def smtp_ready(self) -> None:
        if not self.plan.smtp_local:
            return
        s = self.plan.settings.smtp
        deadline = time.monotonic() + READY_TIMEOUT
        while not await tcp_answers(s.host, s.port):
            self.check_alive("smtp")
            if time.monotonic() > deadline:
                raise StackError(f"the SMTP sink did not answer on {s.host}:{s.port}")
            await asyncio.sleep(0.1)

    def start_worker(self) -> None:
        self.spawn(
            "worker",
            [self.plan.python, str(PROJECT_ROOT / "worker.py")],
            stop_timeout=self.plan.settings.worker.graceful_shutdown_seconds + 5,
        )

    async def worker_ready(self, within: float = READY_TIMEOUT) -> None:
        """Ready when the server sees a poller from this very worker process."""
        deadline = time.monotonic() + within
        while True:
            worker = self.check_alive("worker")
            # Temporal itself may be restarting (its restart drops the client until the new
            # server answers): keep asking until the deadline.
            client = self.client
            if client is not None and await worker_polls(client, self.plan.settings, worker.pid):
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"the worker did not start polling; see {rel(self.plan.log_dir / 'worker.log')}"
                )
            await asyncio.sleep(0.2)

    async def api_ready(self) -> None:
        url = f"{self.plan.api_url}/health"
        deadline = time.monotonic() + READY_TIMEOUT
        while http_status(url, timeout=1.0) != 200:
            self.check_alive("api")
            if time.monotonic() > deadline:
                raise StackError(
                    f"the HTTP API did not answer on {url}; see "
                    f"{rel(self.plan.log_dir / 'api.log')}"
                )
            await asyncio.sleep(0.1)

    async def ensure_schedule(self) -> None:
        assert self.client is not None
        await setup.schedule(self.client, self.plan.settings)
        await setup.retention(self.client, self.plan.settings)  # the nightly purge

    def check_alive(self, name: str) -> procs.Tracked:
        child = self.children.get(name)
        if child is None:
            raise StackError(f"{name} is not running")
        if not child.alive():
            log = self.log_of(name)
            raise StackError(
                f"{name} exited ({exit_text(child.exit_code())}) while starting; last lines "
                f"of {rel(log)}:\n{tail(log)}"
            )
        return child

    def log_of(self, name: str) -> Path:
        if name == "postgres" and self.pg is not None:
            return self.pg.log_path
        return self.plan.log_dir / f"{name}.log"

    # ---- running ----

    async def supervise(self) -> int:
        """Until a signal cancels us: restart whatever crashed, within bounds."""
        try:
            while True:
                await asyncio.sleep(SUPERVISE_EVERY)
                if (failure := self._failed_restart()) is not None:
                    say(failure)
                    return 1
                for name, child in list(self.children.items()):
                    if name in self._restarting or child.alive():
                        continue
                    if not self._restart_crashed(name, child):
                        return 1
        finally:
            # Ctrl-C or giving up: no restart may start a process after stop() has run.
            restarting = list(self._restarting.values())
            for task in restarting:
                task.cancel()
            await asyncio.gather(*restarting, return_exceptions=True)

    def _restart_crashed(self, name: str, child: procs.Tracked) -> bool:
        """Starts the restart of a crashed child; False when it crashed too often."""
        now = time.monotonic()
        recent = [t for t in self._restarts.get(name, []) if now - t < RESTART_WINDOW]
        how = exit_text(child.exit_code())
        if len(recent) >= RESTARTS:
            log = self.log_of(name)
            say(
                f"{name} exited ({how}) after {RESTARTS} restarts within "
                f"{RESTART_WINDOW:.0f} s; stopping the dev stack. Last lines of "
                f"{rel(log)}:\n{tail(log)}"
            )
            return False
        self._restarts[name] = [*recent, now]
        say(
            f"{name} exited ({how}); restarting it (attempt {len(recent) + 1} of {RESTARTS} "
            f"within {RESTART_WINDOW:.0f} s)"
        )
        self._restarting[name] = asyncio.create_task(self._restart(name, child), name=name)
        return True

    def _failed_restart(self) -> str | None:
        """Forgets finished restarts. One whose process died again is left to the crash
        handling (and its count); one whose process runs but never got ready stops all."""
        for name, task in list(self._restarting.items()):
            if not task.done():
                continue
            del self._restarting[name]
            exc = None if task.cancelled() else task.exception()
            if exc is None:
                continue
            say(f"{name} did not come back: {exc}")
            if not self.children[name].alive():
                continue
            return f"{name} runs but does not answer; stopping the dev stack"
        return None

    async def _restart(self, name: str, crashed: procs.Tracked) -> None:
        t0 = time.monotonic()
        if crashed.group:
            # What the crashed process started (same group) must not keep its ports.
            await asyncio.to_thread(procs.wait_group_gone, crashed.pid, 2.0)
        if name == "worker":
            # A worker started while its servers are down would crash again at once, and
            # count: wait for their restarts first.
            await self._restarts_done("temporal", "postgres")
        match name:
            case "temporal":
                self.start_temporal()
                self.client = None  # a fresh connection to the new server
                await self.temporal_ready()
                await self._worker_reconnected()
            case "postgres":
                self.start_postgres()
                await self.postgres_ready()  # the migration runner: idempotent, usually no-op
            case "smtp":
                self.start_smtp()
                await self.smtp_ready()
            case "worker":
                self.start_worker()  # replaces the pid file in one step
                await self.worker_ready()
            case "api":
                self.start_api()
                await self.api_ready()
            case "oidc":
                self.start_oidc()
                await self.oidc_ready()
            case "web":
                self.start_web()
                await self.web_ready()
            case _:
                raise StackError(f"{name}: no way to restart it")
        self.write_stack_file()
        say(f"{name} is back after {time.monotonic() - t0:.1f} s")

    async def _restarts_done(self, *names: str) -> None:
        for name in names:
            task = self._restarting.get(name)
            if task is not None:
                await asyncio.wait([task])

    async def _worker_reconnected(self) -> None:
        """The worker reconnects to a restarted Temporal by itself; if it has not polled again
        within RECONNECT_TIMEOUT, it is restarted (not counted as a crash)."""
        worker = self.children.get("worker")
        if worker is None or "worker" in self._restarting or not worker.alive():
            return  # not started yet, or its own crash handling restarts it
        try:
            await self.worker_ready(within=RECONNECT_TIMEOUT)
            return
        except StackError:
            if not worker.alive():
                return
        say(
            f"the worker did not poll Temporal again within {RECONNECT_TIMEOUT:.0f} s of its "
            f"return; restarting the worker"
        )
        # Its own restart task, so the crash handling does not also restart it once stopped.
        self._restarting["worker"] = asyncio.create_task(self._replace_worker(worker))

    async def _replace_worker(self, worker: procs.Tracked) -> None:
        t0 = time.monotonic()
        await asyncio.to_thread(procs.stop_all, [worker])
        self.start_worker()
        await self.worker_ready()
        self.write_stack_file()
        say(f"worker is back after {time.monotonic() - t0:.1f} s")

    # ---- stopping ----

    def stop(self) -> None:
        """Dependents first (API, worker drain their work), then the servers."""
        if self._pg_start is not None and not self._pg_start.done():
            say("waiting for PostgreSQL to finish starting, to stop it cleanly ...")
            with contextlib.suppress(Exception):
                self._pg_start.result(timeout=120)
        first = [c for n, c in self.children.items() if n in ("api", "web", "worker")]
        rest = [c for n, c in self.children.items() if n not in ("api", "web", "worker")]
        tracked_pg = self.children.get("postgres")
        if (
            self.pg is not None
            and self.pg.pid is not None
            and (tracked_pg is None or tracked_pg.pid != self.pg.pid)
        ):
            # Started (or restarted) but not yet tracked (interrupted between the two): stop
            # it all the same.
            rest = [c for c in rest if c.name != "postgres"]
            rest.append(
                procs.Tracked(
                    "postgres",
                    self.pg.pid,
                    None,
                    self.plan.run_dir / "postgres.pid",
                    stop_signal=signal.SIGINT,
                    stop_timeout=30.0,
                    popen=self.pg.process,
                )
            )
        for phase in (first, rest):
            if phase:
                say("stopping " + ", ".join(c.name for c in phase) + " ...")
                killed = procs.stop_all(phase)
                if killed:
                    say(f"had to kill {', '.join(killed)} (did not stop in time)")
        if self.pg is not None:
            self.pg.stop()
        self.children.clear()

    # ---- reporting ----

    def write_stack_file(self) -> None:
        s = self.plan.settings
        info = {
            "ui": self.plan.workflows_url,
            "temporal_address": s.temporal.address,
            "namespace": s.temporal.namespace,
            "task_queue": s.temporal.task_queue,
            "database_url": self.plan.database_url,
            "smtp": f"{s.smtp.host}:{s.smtp.port}",
            "mail_dir": str(self.plan.mail_dir) if self.plan.smtp_local else None,
            "api": self.plan.api_url,
            "web": self.plan.web_url,
            "oidc": self.plan.oidc_url,
            "worker_metrics": (
                f"http://127.0.0.1:{s.worker.metrics_port}/metrics"
                if s.worker.metrics_port
                else None
            ),
            "pids": {n: c.pid for n, c in self.children.items()},
        }
        (self.plan.state / "stack.json").write_text(json.dumps(info, indent=2))

    def banner(self, seconds: float) -> None:
        plan, s = self.plan, self.plan.settings
        pg = (
            f"{plan.database_url}  (embedded, data in {rel(plan.pg_dir)})"
            if plan.postgres_embedded
            else "DATABASE_URL (external)"
        )
        smtp = (
            f"{s.smtp.host}:{s.smtp.port}  (sink: every message is a file in {rel(plan.mail_dir)}/)"
            if plan.smtp_local
            else f"{s.smtp.host}:{s.smtp.port} (external)"
        )
        lines = [
            "",
            f"{READY_LINE} in {seconds:.1f} s  (state folder: {rel(plan.state)})",
            f"  Temporal Web UI  {plan.workflows_url}",
            f"  Temporal gRPC    {s.temporal.address}  namespace {s.temporal.namespace}, "
            f"task queue {s.temporal.task_queue}",
            f"  PostgreSQL       {pg}",
            f"  SMTP             {smtp}",
            f"  HTTP API         {plan.api_url}  (OpenAPI docs: {plan.api_url}/docs)",
            f"  Web application  {plan.web_url}  (staff and providers; docs/web.md)",
            f"                   signs in at the dev OpenID provider {plan.oidc_url} as:",
            *(f"                     - {p.label}" for p in oidc_provider.PERSONAS.values()),
            f"  Worker metrics   http://127.0.0.1:{s.worker.metrics_port}/metrics",
            f"  Screening        schedule {s.screening.schedule_id}: every year on "
            f"{s.screening.day}/{s.screening.month} {s.screening.hour:02d}:"
            f"{s.screening.minute:02d} {s.screening.timezone}",
            f"  Logs             {rel(plan.log_dir)}/",
            "Ctrl-C stops everything. From another terminal: make status, make stop.",
            "",
        ]
        say("\n".join(lines))


def exit_text(code: int | None) -> str:
    """Popen's return code in words: a negative one is the signal that ended the process."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"code {code}"


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def run_up(plan: Plan) -> int:
    stack = Stack(plan)
    stack.lock()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    interrupted: list[int] = []

    def on_signal(sig: int) -> None:
        if not interrupted:
            interrupted.append(sig)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    code = 0
    try:
        await stack.start()
        code = await stack.supervise()
    except asyncio.CancelledError:
        if not interrupted:
            raise
        why = "Ctrl-C" if interrupted[0] == signal.SIGINT else "stop requested"
        say(f"\n{why}: stopping the dev stack ...")
        code = 0 if stack.ready else 130
    except StackError:
        say("start-up failed: stopping what was started ...")
        raise
    finally:
        try:
            stack.stop()
        finally:
            stack.unlock()
        say("dev stack stopped")
        sys.stdout.flush()
    return code

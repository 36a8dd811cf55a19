"""A private dev stack for tests: its own state folder and free ports, driven through the
same `python -m devstack` commands a person uses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.ports import free_port, http_status, worker_polls
from devstack.supervisor import READY_LINE
from runtime.settings import PROJECT_ROOT, Settings, load_settings
from runtime.temporal import connect
from starter.auth import make_dev_secret

# Variables that would point the stack at outside services instead of starting its own.
OUTSIDE = ("DATABASE_URL", "SMTP_", "TEMPORAL_", "ODB_")


@dataclass
class StackConfig:
    state: Path
    ports: dict[str, int] = field(default_factory=dict)
    # More settings sections on top of the ports, e.g. {"events": {"subscriptions": {...}}}.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fresh(cls, state: Path, **extra: Any) -> StackConfig:
        keys = (
            "temporal",
            "ui",
            "server_metrics",
            "postgres",
            "smtp",
            "worker_metrics",
            "api",
            "web",
            "oidc",
        )
        return cls(state=state, ports={key: free_port() for key in keys}, extra=extra)

    def overrides(self) -> dict[str, Any]:
        p = self.ports
        return {
            "state_dir": str(self.state),
            "temporal": {
                "address": f"127.0.0.1:{p['temporal']}",
                "ui_port": p["ui"],
                "server_metrics_port": p["server_metrics"],
            },
            "postgres": {"url": None, "embedded_port": p["postgres"]},
            "smtp": {"host": "127.0.0.1", "port": p["smtp"]},
            "worker": {"metrics_port": p["worker_metrics"], "graceful_shutdown_seconds": 5},
            "api": {"port": p["api"]},
            "web": {"port": p["web"], "dev_provider_port": p["oidc"]},
            **self.extra,
        }

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
        for section, values in self.overrides().items():
            if not isinstance(values, dict):
                env[f"ODB_{section.upper()}"] = values
                continue
            for key, value in values.items():
                if isinstance(value, dict | list):
                    env[f"ODB_{section.upper()}__{key.upper()}"] = json.dumps(value)
                elif value is not None:
                    env[f"ODB_{section.upper()}__{key.upper()}"] = str(value)
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return load_settings(**self.overrides())


def devstack(
    config: StackConfig, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m devstack <args>` to completion, as a second terminal would."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=PROJECT_ROOT,
        env=config.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class RunningStack:
    """`python -m devstack up` in the background, its output collected line by line."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "up"],
            cwd=PROJECT_ROOT,
            env=config.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own group, like a shell job: a signal we send reaches only the supervisor.
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._eof = True
            self._seen.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self._seen:
            while not any(text in line for line in self.lines):
                if self._eof:
                    code = self.proc.wait()
                    raise AssertionError(f"devstack exited ({code}):\n{self.output}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line {text!r} within {timeout} s:\n{self.output}")
                self._seen.wait(min(left, 0.5))

    def wait_ready(self, timeout: float = 60) -> None:
        self.wait_for_line(READY_LINE, timeout)

    def interrupt(self) -> None:
        """What Ctrl-C in its terminal does: SIGINT to the whole foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """Ctrl-C, then a kill if it does not stop within a minute."""
        if self.proc.poll() is None:
            self.interrupt()
            try:
                self.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def ready_stack(config: StackConfig, timeout: float = 90) -> Iterator[RunningStack]:
    """A stack started on `config`, ready, and stopped afterwards whatever happened."""
    running = RunningStack(config)
    try:
        running.wait_ready(timeout=timeout)
        yield running
    finally:
        running.stop()


def processes_of(state: Path) -> list[str]:
    """Every process whose command line or environment names this stack's state folder:
    the supervisor, its children and anything they started."""
    token = str(state).encode()
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            status = (entry / "stat").read_text()
        except OSError:
            continue
        if status.split(")")[-1].split()[0] == "Z":
            continue  # finished, waiting to be reaped: not running
        if token in cmdline or token in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def wait_no_processes(state: Path, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := processes_of(state)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


class ExtraProcess:
    """One more worker or API process beside a running stack, as a second host would run
    it: the stack's settings with its own port, its own process group, not supervised (a
    SIGKILL leaves it dead). Its output goes to `log`."""

    def __init__(self, config: StackConfig, name: str, log: Path, port: int, **env: str) -> None:
        self.name = name
        self.config = config
        self.log = log
        self.port = port  # the API's, or the worker's metrics port
        command = {
            "worker": [sys.executable, str(PROJECT_ROOT / "worker.py")],
            "api": [sys.executable, "-m", "starter.api"],
        }[name]
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=config.env(**env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @classmethod
    def worker(cls, config: StackConfig, log: Path, metrics_port: int) -> ExtraProcess:
        return cls(config, "worker", log, metrics_port, ODB_WORKER__METRICS_PORT=str(metrics_port))

    @classmethod
    def api(cls, config: StackConfig, log: Path, port: int) -> ExtraProcess:
        """A second API of the dev stack: in dev mode, with the stack's own secret (as the
        supervisor starts its API), so one token is good on both."""
        secret = make_dev_secret(config.state)
        return cls(
            config,
            "api",
            log,
            port,
            ODB_API__PORT=str(port),
            ODB_DEV_MODE="1",
            ODB_AUTH__DEV_SECRET=secret,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, within: float = 60) -> None:
        """An API answers /health; a worker polls the task queue (Temporal sees this pid)."""
        settings = self.config.settings()
        client = await connect(settings) if self.name == "worker" else None
        deadline = time.monotonic() + within
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}); see {self.log}")
            if client is not None:
                if await worker_polls(client, settings, self.pid):
                    return
            elif http_status(f"http://127.0.0.1:{self.port}/health", timeout=1.0) == 200:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready within {within:.0f} s; see {self.log}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to its whole group: a host that dies."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a worker drains), a SIGKILL if it has not stopped within `timeout`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

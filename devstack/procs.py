"""Child processes of the dev stack: each in its own process group, with a pid file and a log.

A pid file records the pid and the process's start time, so a pid reused by an unrelated
program after a crash is never mistaken for ours (and never signalled). Process lookups and
start times come from psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runtime.settings import PROJECT_ROOT

# Every child carries the run folder of its stack in its environment: a child whose pid file
# was never written (the supervisor killed between fork and pid file) is still found as ours.
RUN_MARKER = "ODB_DEVSTACK_RUN_DIR"

# psutil gives a start time in seconds since the epoch, derived from the boot time; that moves
# when the wall clock is stepped, so two readings of one process may differ slightly. A pid is
# never reused within a second, so this tolerance cannot mistake another process for ours.
_SAME_START = 1.0


def started_at(pid: int) -> float | None:
    """When the process started (seconds since the epoch), or None when it does not run.
    A zombie counts as not running: it has finished, only its exit status is left."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        # It runs, but we may not read it (another user's process): not ours to adopt.
        return 0.0


def _legacy_started(ticks: object) -> float | None:
    """Pid files written before psutil recorded clock ticks since boot; psutil computes its
    start time from the same ticks, so a stack started by the older code is still found."""
    if not isinstance(ticks, int):
        return None
    return psutil.boot_time() + ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Tracked:
    """A process we started (or adopted from a pid file) and must stop."""

    name: str
    pid: int
    started: float | None  # None: any process with this pid is taken for ours
    pid_file: Path
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    group: bool = True  # signal the whole process group (the pid leads it)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        # Polling reaps our own child, so it does not linger as a zombie.
        if self.popen is not None and self.popen.poll() is not None:
            return False
        now = started_at(self.pid)
        if now is None:
            return False
        return self.started is None or abs(now - self.started) < _SAME_START

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def wait(self, timeout: float) -> bool:
        """Whether the process is gone within timeout seconds. Our own child is waited for
        through its Popen, which keeps the exit code (psutil's wait would reap it and lose
        the code); an adopted one is polled, a finished but unreaped zombie counting as gone
        (psutil's wait would count it as running until its parent reaps it)."""
        if self.popen is not None:
            try:
                self.popen.wait(timeout=max(timeout, 0.0))
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def signal(self, sig: int) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)

    def write_pid_file(self) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "name": self.name,
            "pid": self.pid,
            "started": self.started,
            "stop_signal": int(self.stop_signal),
            "stop_timeout": self.stop_timeout,
            "group": self.group,
        }
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_file)

    def forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    run_dir: Path,
    log_dir: Path,
    env: Mapping[str, str],
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 10.0,
) -> Tracked:
    """Start argv in a new session (so a terminal's Ctrl-C reaches only the supervisor, which
    then stops children in order), output appended to log_dir/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    env = {**env, RUN_MARKER: str(run_dir.resolve())}
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=dict(env),
            start_new_session=True,
        )
    child = Tracked(
        name=name,
        pid=popen.pid,
        started=started_at(popen.pid),
        pid_file=run_dir / f"{name}.pid",
        stop_signal=stop_signal,
        stop_timeout=stop_timeout,
        popen=popen,
    )
    child.write_pid_file()
    return child


def adopt(pid_file: Path) -> Tracked | None:
    """The process a pid file names, if that very process still runs; else None."""
    try:
        record = json.loads(pid_file.read_text())
        started = record["started"] if "started" in record else _legacy_started(record.get("ticks"))
        tracked = Tracked(
            name=str(record["name"]),
            pid=int(record["pid"]),
            started=None if started is None else float(started),
            pid_file=pid_file,
            stop_signal=int(record.get("stop_signal", signal.SIGTERM)),
            stop_timeout=float(record.get("stop_timeout", 10.0)),
            group=bool(record.get("group", True)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tracked if tracked.alive() else None


def untracked(run_dir: Path, known: Iterable[int]) -> list[Tracked]:
    """Children of a stack on run_dir that no pid file names: session leaders (as spawn makes
    them) whose environment carries the stack's marker."""
    marker = str(run_dir.resolve())
    skip = {os.getpid(), *known}
    found = []
    # An attribute we may not read (another user's process) comes back as None.
    for proc in psutil.process_iter(["environ", "cmdline", "status", "create_time"]):
        info = proc.info
        if proc.pid in skip or (info["environ"] or {}).get(RUN_MARKER) != marker:
            continue
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getsid(proc.pid) != proc.pid:  # only session leaders: spawn's children
                continue
        except OSError:
            continue  # gone meanwhile
        argv = info["cmdline"] or []
        found.append(
            Tracked(
                " ".join(Path(a).name for a in argv[:3] if a),
                proc.pid,
                info["create_time"],
                run_dir / f"untracked-{proc.pid}.pid",
            )
        )
    return found


def stop_all(children: Iterable[Tracked]) -> list[str]:
    """Signal every child at once, wait for each up to its own timeout, then kill the rest.

    Returns the names that needed SIGKILL. Pid files are removed either way.
    """
    children = list(children)
    for child in children:
        child.signal(child.stop_signal)
    started = time.monotonic()
    killed: list[str] = []
    # Shortest timeout first: a stuck child is killed on time while the others still drain.
    for child in sorted(children, key=lambda c: c.stop_timeout):
        if not child.wait(started + child.stop_timeout - time.monotonic()):
            child.signal(signal.SIGKILL)
            killed.append(child.name)
            child.wait(5.0)
    for child in children:
        if child.group:
            wait_group_gone(child.pid, 2.0)
        child.forget()
    return killed


def group_running(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, finished but not yet reaped
    by their parent, do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # Something of the group exists; psutil has no process group, so ask the kernel per pid.
    for proc in psutil.process_iter(["status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == pgid:
                return True
    return False


def wait_group_gone(pgid: int, timeout: float) -> None:
    """Grandchildren share the group; give them a moment after SIGTERM/SIGKILL (or after the
    leader crashed) to leave it, then kill what is left."""
    deadline = time.monotonic() + timeout
    while group_running(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.05)

"""Child processes of the dev stack: each in its own process group, with a pid file and a log.

A pid file records the pid and the process's start time, so a pid reused by an unrelated
program after a crash is never mistaken for ours (and never signalled).
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

from runtime.settings import PROJECT_ROOT

# Every child carries the run folder of its stack in its environment: a child whose pid file
# was never written (the supervisor killed between fork and pid file) is still found as ours.
RUN_MARKER = "ODB_DEVSTACK_RUN_DIR"


def _stat_fields(stat: str) -> list[str]:
    """/proc/<pid>/stat after the command: state, ppid, pgrp, session, ... (field 3 on).
    The command may hold spaces and parentheses: split after its last ')'."""
    return stat[stat.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None if not _exists(pid) else 0
    fields = _stat_fields(stat)
    if fields[0] == "Z":  # a zombie has finished; only its exit status is left
        return None
    return int(fields[19])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Tracked:
    """A process we started (or adopted from a pid file) and must stop."""

    name: str
    pid: int
    ticks: int | None
    pid_file: Path
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    group: bool = True  # signal the whole process group (the pid leads it)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        # Polling reaps our own child, so it does not linger as a zombie.
        if self.popen is not None and self.popen.poll() is not None:
            return False
        now = start_ticks(self.pid)
        return now is not None and (self.ticks is None or now == self.ticks)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

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
            "ticks": self.ticks,
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
        ticks=start_ticks(popen.pid),
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
        tracked = Tracked(
            name=str(record["name"]),
            pid=int(record["pid"]),
            ticks=record.get("ticks"),
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
    marker = f"{RUN_MARKER}={run_dir.resolve()}".encode()
    skip = {os.getpid(), *known}
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue  # gone meanwhile, or not ours to read
        fields = _stat_fields(stat)
        if fields[0] == "Z" or int(fields[3]) != pid:  # only session leaders: spawn's children
            continue
        found.append(
            Tracked(
                " ".join(Path(a).name for a in argv[:3] if a),
                pid,
                int(fields[19]),
                run_dir / f"untracked-{pid}.pid",
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
    pending = [c for c in children if c.alive()]
    while pending:
        elapsed = time.monotonic() - started
        for child in [c for c in pending if elapsed > c.stop_timeout]:
            child.signal(signal.SIGKILL)
            killed.append(child.name)
        pending = [c for c in pending if c.alive() and c.name not in killed]
        if pending:
            time.sleep(0.05)
    for child in children:
        if child.name in killed:
            _wait_gone(child, 5.0)
        if child.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=1.0)
        if child.group:
            _wait_group_gone(child.pid, 2.0)
        child.forget()
    return killed


def _wait_gone(child: Tracked, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while child.alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def group_running(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, finished but not yet reaped
    by their parent, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = _stat_fields(stat)[:3]
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def _wait_group_gone(pgid: int, timeout: float) -> None:
    # Grandchildren share the group; give them a moment after SIGTERM/SIGKILL to leave it.
    deadline = time.monotonic() + timeout
    while group_running(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.05)

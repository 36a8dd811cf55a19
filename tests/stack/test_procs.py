"""devstack.procs on real (small) processes: pid files, start times, the run marker,
process groups and stopping, as the supervisor, `devstack stop` and the next `up` use them."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack import procs

SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
# Starts a grandchild in the same process group, then exits: the group outlives its leader.
FORKER = (
    "import subprocess, sys; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('ready', flush=True)"
)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "run", tmp_path / "logs"


def start(name: str, code: str, dirs: tuple[Path, Path], **kw: float) -> procs.Tracked:
    run_dir, log_dir = dirs
    child = procs.spawn(
        name,
        [sys.executable, "-c", code],
        run_dir=run_dir,
        log_dir=log_dir,
        env=dict(os.environ),
        **kw,  # type: ignore[arg-type]
    )
    log = log_dir / f"{name}.log"
    deadline = time.monotonic() + 20
    while "ready" not in log.read_text().splitlines():  # the first line quotes the code
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return child


def test_a_spawned_child_is_adopted_from_its_pid_file_and_stopped(
    dirs: tuple[Path, Path],
) -> None:
    child = start("sleeper", SLEEPER, dirs)
    try:
        adopted = procs.adopt(child.pid_file)
        assert adopted is not None
        assert adopted.pid == child.pid
        assert adopted.started == pytest.approx(psutil.Process(child.pid).create_time())
        assert procs.stop_all([child]) == []
        assert not child.alive()
        assert child.exit_code() == -signal.SIGTERM  # the Popen kept it: nothing else reaped
        assert not child.pid_file.exists()
    finally:
        child.signal(signal.SIGKILL)


def test_a_pid_file_naming_a_reused_pid_is_not_ours(dirs: tuple[Path, Path]) -> None:
    run_dir, _ = dirs
    run_dir.mkdir(parents=True)
    me = psutil.Process(os.getpid())
    other = run_dir / "worker.pid"
    other.write_text(json.dumps({"name": "worker", "pid": me.pid, "started": 1_000.0}))
    assert procs.adopt(other) is None  # this test's own process must never be signalled
    # A pid file from before psutil (clock ticks since boot) still finds its process.
    ticks = round((me.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    legacy = run_dir / "legacy.pid"
    legacy.write_text(json.dumps({"name": "legacy", "pid": me.pid, "ticks": ticks}))
    adopted = procs.adopt(legacy)
    assert adopted is not None and adopted.pid == me.pid
    legacy.write_text(json.dumps({"name": "legacy", "pid": me.pid, "ticks": 1}))
    assert procs.adopt(legacy) is None


def test_a_child_without_pid_file_is_found_by_its_run_marker(dirs: tuple[Path, Path]) -> None:
    run_dir, _ = dirs
    child = start("sleeper", SLEEPER, dirs)
    try:
        child.forget()
        found = procs.untracked(run_dir, known=[])
        assert [t.pid for t in found] == [child.pid]
        assert procs.untracked(run_dir, known=[child.pid]) == []
        assert procs.untracked(run_dir.parent / "elsewhere", known=[]) == []
    finally:
        procs.stop_all([child])


def test_a_child_ignoring_sigterm_is_killed_after_its_timeout(dirs: tuple[Path, Path]) -> None:
    child = start("stubborn", STUBBORN, dirs, stop_timeout=0.5)
    started = time.monotonic()
    assert procs.stop_all([child]) == ["stubborn"]
    assert time.monotonic() - started < 5
    assert child.exit_code() == -signal.SIGKILL


def test_what_a_crashed_leader_left_in_its_group_is_killed(dirs: tuple[Path, Path]) -> None:
    leader = start("forker", FORKER, dirs)
    assert leader.popen is not None
    leader.popen.wait(10)
    assert procs.group_running(leader.pid)  # its grandchild lives on in the group
    procs.wait_group_gone(leader.pid, 0.2)
    deadline = time.monotonic() + 5
    while procs.group_running(leader.pid):
        assert time.monotonic() < deadline, "the group's grandchild was not killed"
        time.sleep(0.05)

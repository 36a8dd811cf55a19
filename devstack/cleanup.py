"""Finding and stopping what a dev stack left running, from its pid files. Kept apart from
the supervisor so `devstack stop` and `status` answer without its heavy imports."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import psutil

from devstack import procs
from devstack.plan import Plan

SUPERVISOR = "devstack"


def say(msg: str) -> None:
    print(msg, flush=True)


def sweep_leftovers(plan: Plan, report: Callable[[str], None] = say) -> None:
    """Stop what a killed run left running (by its pid files) and remove stale pid files."""
    leftovers = []
    for pid_file in sorted(plan.run_dir.glob("*.pid")):
        if pid_file.stem == SUPERVISOR:
            pid_file.unlink(missing_ok=True)
            continue
        child = procs.adopt(pid_file)
        if child is None:
            pid_file.unlink(missing_ok=True)
        else:
            leftovers.append(child)
    postmaster = _stale_postmaster(plan)
    if postmaster is not None and all(c.pid != postmaster.pid for c in leftovers):
        leftovers.append(postmaster)
    leftovers += procs.untracked(plan.run_dir, known=[c.pid for c in leftovers])
    if leftovers:
        report(
            "stopping what an earlier run left behind: "
            + ", ".join(f"{c.name} (pid {c.pid})" for c in leftovers)
        )
        procs.stop_all(leftovers)


def _stale_postmaster(plan: Plan) -> procs.Tracked | None:
    """A PostgreSQL server still running on our data folder though nothing tracks it (the
    supervisor was killed while it started): found by its own postmaster.pid."""
    try:
        pid = int((plan.pg_dir / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        started = proc.create_time()
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    if (
        not cmdline
        or Path(cmdline[0]).name != "postgres"
        or str(plan.pg_dir.resolve()) not in cmdline
    ):
        return None
    return procs.Tracked(
        "postgres",
        pid,
        started,
        plan.run_dir / "postgres.pid",
        stop_signal=signal.SIGINT,
        stop_timeout=30.0,
        group=False,
    )

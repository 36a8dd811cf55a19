"""Session fixtures live in tests/fixtures/ (one module per real server).

`make test` runs the suite on several processes (pytest-xdist); why, and how the work is
cut, is below and in docs/tests.md."""

from __future__ import annotations

import fcntl
import getpass
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.temporal",
    "tests.fixtures.api",
    "tests.fixtures.web",
]

# Each run keeps its temporary folders in a folder of its own, outside pytest's
# /tmp/pytest-of-<user>: every pytest that starts on the machine resets that folder to mode
# 0700 (and an xdist run there removes older runs' folders it takes for finished), and the
# embedded PostgreSQL servers, running as an unprivileged user, would lose their data
# directory under a running suite. A run holds a lock beside its folder while it lives; the
# next run removes finished runs' folders but the newest RUNS_KEPT.
RUNS_ROOT = Path(tempfile.gettempdir()) / f"odb-tests-of-{getpass.getuser()}"
RUNS_KEPT = 3
_run_lock: IO[str] | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _run_lock
    if hasattr(config, "workerinput") or config.option.basetemp:
        return  # an xdist worker (its controller chose), or a folder given by hand
    RUNS_ROOT.mkdir(mode=0o755, exist_ok=True)
    run = RUNS_ROOT / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    _run_lock = run.with_suffix(".lock").open("w")
    fcntl.flock(_run_lock, fcntl.LOCK_EX)
    _forget_old_runs()
    config.option.basetemp = str(run)


def _forget_old_runs() -> None:
    finished = []
    for lock in sorted(RUNS_ROOT.glob("run-*.lock")):
        with lock.open() as held:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a run that still lives
            finished.append(lock)
    for lock in finished[:-RUNS_KEPT]:
        shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
        lock.unlink(missing_ok=True)


def pytest_report_header(config: pytest.Config) -> str | None:
    if hasattr(config, "workerinput"):
        return None
    return f"temporary folders: {config.option.basetemp}"


# Most of the suite's time is spent waiting on real clocks (a retry's backoff, a process
# starting, a lease running out), not on the CPU: several workers overlap those waits. Each
# module runs whole on one worker (its module fixtures are set up once); the modules that
# start a whole dev stack run one after the other on one worker, so that two stacks never
# fight for the two cores within their own time limits. The ten simulated years, the
# longest module, start first, beside everything else.
LONGEST_FIRST = ("tests/bench/test_decade.py",)
STARTS_A_STACK = ("tests/stack/", "tests/events/test_faults.py")


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its module, or the one unit of stack modules."""
    module = nodeid.split("::", 1)[0]
    return "whole dev stacks" if module.startswith(STARTS_A_STACK) else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("stack") and work_unit(item.nodeid) != "whole dev stacks":
            # A failing test rather than an error at collection: pytest-xdist shows a
            # worker's collection error only as an INTERNALERROR without its message.
            item.runtest = _not_listed(item.nodeid.split("::")[0])  # type: ignore[method-assign]
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONGEST_FIRST)


def _not_listed(module: str) -> Callable[[], None]:
    def refuse() -> None:
        pytest.fail(
            f"{module} starts a dev stack (marked `stack`) but is not in STARTS_A_STACK of "
            "tests/conftest.py: add it there so that it runs one at a time",
            pytrace=False,
        )

    return refuse


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)

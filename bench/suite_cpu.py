"""Where the suite's time goes: a pytest plugin that charges each test (setup, call and
teardown) with the wall time and the CPU time the test process and every process under it
used meanwhile (the servers its fixtures started, the subprocesses it ran), and writes them
as CSV at the end. A test whose wall time is far above its CPU time / cores is waiting on a
clock, not working.

    .venv/bin/python -m pytest -p bench.suite_cpu --suite-cpu-csv /tmp/cpu.csv
    .venv/bin/python -m bench.suite_cpu /tmp/cpu.csv   # the 40 largest, by CPU and by idle
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import psutil
import pytest


def _tree_cpu() -> float:
    """CPU seconds of this process and every live descendant, with the children each has
    reaped (a postmaster's ended backends, a finished subprocess)."""
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class SuiteCpu:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, list[float]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, None]:
        wall, cpu = time.monotonic(), _tree_cpu()
        yield
        self.rows[item.nodeid] = [time.monotonic() - wall, _tree_cpu() - cpu]

    def pytest_sessionfinish(self) -> None:
        with self.path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["test", "wall_s", "cpu_s"])
            for nodeid, (wall, cpu) in self.rows.items():
                out.writerow([nodeid, f"{wall:.2f}", f"{cpu:.2f}"])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--suite-cpu-csv", default="suite-cpu.csv", help="bench.suite_cpu CSV")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SuiteCpu(Path(config.getoption("--suite-cpu-csv"))))


def summary(path: Path, top: int = 40) -> None:
    with path.open() as f:
        rows = [(r["test"], float(r["wall_s"]), float(r["cpu_s"])) for r in csv.DictReader(f)]
    cores = os.cpu_count() or 1
    wall, cpu = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{len(rows)} tests, wall {wall:.0f} s, CPU {cpu:.0f} s ({cores} cores)")
    by_module: dict[str, list[float]] = {}
    for name, w, c in rows:
        m = by_module.setdefault(name.split("::")[0], [0.0, 0.0])
        m[0] += w
        m[1] += c
    print("\nmodules by wall time:  wall  cpu  idle(wall - cpu/cores)")
    for name, (w, c) in sorted(by_module.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{w:7.1f} {c:7.1f} {w - c / cores:7.1f}  {name}")
    print("\ntests by idle time:")
    for name, w, c in sorted(rows, key=lambda r: -(r[1] - r[2] / cores))[: top // 2]:
        print(f"{w:7.1f} {c:7.1f} {w - c / cores:7.1f}  {name}")


if __name__ == "__main__":
    summary(Path(sys.argv[1]))

"""Session fixtures live in tests/fixtures/ (one module per real server).

`make test` runs the suite on several processes (pytest-xdist); why, and how the work is
cut, is below and in docs/tests.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.temporal",
    "tests.fixtures.api",
    "tests.fixtures.web",
]

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

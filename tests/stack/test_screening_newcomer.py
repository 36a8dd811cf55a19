"""The newcomer's path, as the README gives it: `make run` (the dev stack), then
`python -m starter demo`, then `python -m starter screen now --follow`, which must end with
the report within seconds and show every outcome, the not yet due, and their e-mails."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from runtime.settings import PROJECT_ROOT
from tests.stack.harness import RunningStack, StackConfig, ready_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with ready_stack(StackConfig.fresh(tmp_path_factory.mktemp("stack") / "state")) as running:
        yield running


def starter(stack: RunningStack, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter", *args],
        cwd=PROJECT_ROOT,
        env=stack.config.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_demo_then_screening_ends_with_a_report(stack: RunningStack) -> None:
    demo = starter(stack, "demo", timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "due for screening" in demo.stdout

    run = starter(stack, "screen", "now", "--follow", timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "passed 1, failed 1, incomplete 1" in out, out
    assert "cases told 3; e-mails 3" in out, out
    assert "not yet due" in out, out  # the demo's cases approved today

    conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{stack.config.ports['postgres']}/odb"
    )
    try:
        sent = await conn.fetchval(
            """SELECT count(*) FROM notifications
               WHERE kind = 'screening_result' AND status = 'sent'"""
        )
    finally:
        await conn.close()
    assert sent == 3

    # A second `screen now` screens nothing twice and still shows the report.
    again = starter(stack, "screen", "now", "--follow", timeout=60)
    assert again.returncode == 0 and "already ran" in again.stdout, again.stdout + again.stderr

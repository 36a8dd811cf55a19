"""A tiny workflow run by the real worker code (`worker.main`) to prove a worker restart
loses nothing: step one runs, the worker dies, step two runs on the next worker.

`python -m tests.stack.probe` runs that worker (settings from the environment).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="stack_probe.step")
async def probe_step(name: str) -> str:
    return f"{name} by worker {os.getpid()}"


@workflow.defn(name="StackProbe")
class ProbeWorkflow:
    def __init__(self) -> None:
        self._go = False
        self._steps: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        self._steps.append(await self._step("first"))
        await workflow.wait_condition(lambda: self._go)
        self._steps.append(await self._step("second"))
        return self._steps

    async def _step(self, name: str) -> str:
        return await workflow.execute_activity(
            probe_step, name, start_to_close_timeout=timedelta(seconds=10)
        )

    @workflow.signal
    def proceed(self) -> None:
        self._go = True

    @workflow.query
    def steps(self) -> list[str]:
        return self._steps


if __name__ == "__main__":
    import worker

    # Imported by module name, not as __main__: the workflow sandbox re-imports it by name.
    from tests.stack import probe

    asyncio.run(
        worker.main(extra_workflows=[probe.ProbeWorkflow], extra_activities=[probe.probe_step])
    )

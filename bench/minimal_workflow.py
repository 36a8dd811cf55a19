"""The engine's ceiling for the case benchmark: start -> one signal -> one activity -> done.
Kept in its own module with few imports, as a workflow module should be."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.touch")
async def touch(value: str) -> str:
    return value


@workflow.defn(name="BenchMinimal")
class BenchMinimal:
    def __init__(self) -> None:
        self._go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._go)
        result: str = await workflow.execute_activity(
            touch, "x", start_to_close_timeout=timedelta(seconds=30)
        )
        return result

    @workflow.signal
    def go(self) -> None:
        self._go = True

"""A deploy with a new patch, as the simulation plays it: the case workflow under the same
name, with one `workflow.patched("decade-deploy-<n>")` more for every deploy so far.

A real deploy adds a patched branch; what matters to the running cases is the same: the new
worker (empty cache) replays each case on its next task with code that asks for a patch its
history does not have, and records the marker from then on. The deploy number lives in a
module passed through the sandbox (`deploy_state`), set before the new worker starts: one
worker at a time runs in a shard, so every task of a worker sees one number.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bench.decade import deploy_state
    from models.case import CaseInput, CaseStatus
    from workflows.application import ApplicationWorkflow


@workflow.defn(name="ApplicationWorkflow")
class DeployedApplicationWorkflow(ApplicationWorkflow):
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseStatus:
        return await super().run(inp)

    def _publish(self) -> None:
        for n in range(1, deploy_state.deployed + 1):
            workflow.patched(f"decade-deploy-{n}")
        super()._publish()

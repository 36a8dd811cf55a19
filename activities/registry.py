"""Registry activities: record what the case workflow decided, once, and send its e-mails.

INTERFACE STUB — implemented by the registry work (issue 3). The workflow depends only on
the method names and their pydantic input/output models below.
"""

from __future__ import annotations

from temporalio import activity

from models.steps import StepInput, StepResult


class RegistryActivities:
    @activity.defn(name="registry.record_step")
    async def record_step(self, step: StepInput) -> StepResult:
        raise NotImplementedError

"""STUB: the application workflow is being written (issue 4). Names below are final."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import (
        AppealInput,
        BecDecisionInput,
        CaseInput,
        CaseStatus,
        CorrectReceiptInput,
        HearingInput,
        ReviewDecisionInput,
        RevokeInput,
        ScreeningOutcome,
        StopInput,
        WithdrawInput,
    )


@workflow.defn(name="ApplicationWorkflow")
class ApplicationWorkflow:
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseStatus: ...

    @workflow.query
    def status(self) -> CaseStatus: ...

    @workflow.signal
    async def screening_outcome(self, outcome: ScreeningOutcome) -> None: ...

    @workflow.update
    async def review_decision(self, inp: ReviewDecisionInput) -> CaseStatus: ...

    @workflow.update
    async def file_appeal(self, inp: AppealInput) -> CaseStatus: ...

    @workflow.update
    async def record_hearing(self, inp: HearingInput) -> CaseStatus: ...

    @workflow.update
    async def bec_decision(self, inp: BecDecisionInput) -> CaseStatus: ...

    @workflow.update
    async def stop(self, inp: StopInput) -> CaseStatus: ...

    @workflow.update
    async def revoke(self, inp: RevokeInput) -> CaseStatus: ...

    @workflow.update
    async def withdraw(self, inp: WithdrawInput) -> CaseStatus: ...

    @workflow.update
    async def correct_receipt_date(self, inp: CorrectReceiptInput) -> CaseStatus: ...

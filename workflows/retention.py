"""The nightly purge: applies the retention table (retention.yaml) as of one instant.

Started by a Temporal Schedule (`retention` settings, `python -m starter setup`), or by
`python -m ops retention --run`. It reads the table once (carried to the end, so an edit
during a run changes nothing of it), writes the archive of every ended dossier that has
none, then takes each kind's due records in bounded batches: one activity, one transaction
and one `retention_batches` row each. A batch is named run/kind/number, so a retried batch
changes nothing twice. The run continues as new after `batches_per_run` batches (or when
the server suggests it), carrying its progress; its history stays small whatever the
number of records.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from models.retention import (
        ArchiveMissingInput,
        FinishInput,
        Kind,
        PurgeBatchInput,
        PurgeBatchResult,
        RetentionInput,
        RetentionProgress,
        RetentionReport,
        RetentionTable,
        StartInput,
    )

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidRetentionTable", "RetentionDefect"],
)
KINDS = list(Kind)


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    def __init__(self) -> None:
        self._p: RetentionProgress | None = None
        self._batches = 0  # in this run

    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionReport:
        if inp.carried is not None:
            self._p = inp.carried.model_copy(update={"runs": inp.carried.runs + 1})
        else:
            scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
            as_of = inp.as_of or scheduled or workflow.now()
            # The workflow id and its first run: a new run under an id used before (a
            # manual run started twice) never mistakes the earlier run's batches for its own.
            info = workflow.info()
            run_id = f"{info.workflow_id}#{info.run_id[:8]}"
            table = await workflow.execute_activity(
                "retention.start",
                StartInput(run_id=run_id, as_of=as_of),
                result_type=RetentionTable,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RETRY,
                summary="read the retention table",
            )
            self._p = RetentionProgress(run_id=run_id, as_of=as_of, table=table)
        p = self._p
        self._show()
        while p.phase == "archive":
            self._budget(inp)
            n = await workflow.execute_activity(
                "retention.archive_missing",
                ArchiveMissingInput(limit=inp.batch_size),
                result_type=int,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RETRY,
                summary="archive ended dossiers without an archive",
            )
            self._batches += 1
            p.archived += n
            if n < inp.batch_size:
                p.phase = "purge"
            self._show()
        while p.phase == "purge":
            if p.kind_index >= len(KINDS):
                p.phase = "done"
                break
            kind = KINDS[p.kind_index]
            rule = p.table.rule(kind)
            if rule.period is None:  # kept for good
                p.kind_index += 1
                continue
            self._budget(inp)
            result = await workflow.execute_activity(
                "retention.purge_batch",
                PurgeBatchInput(
                    run_id=p.run_id,
                    batch_key=f"{p.run_id}/{kind.value}/{p.batch_no}",
                    kind=kind,
                    rule=rule,
                    table_version=p.table.version,
                    as_of=p.as_of,
                    limit=inp.batch_size,
                ),
                result_type=PurgeBatchResult,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
                summary=f"{kind.value}: {rule.text()}",
            )
            self._batches += 1
            p.batch_no += 1
            p.taken[kind.value] = p.taken.get(kind.value, 0) + result.count
            if result.count < inp.batch_size:
                p.kind_index += 1
            self._show()
        await workflow.execute_activity(
            "retention.finish",
            FinishInput(run_id=p.run_id, taken=p.taken, archived=p.archived),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
            summary="close the run",
        )
        return RetentionReport(
            run_id=p.run_id,
            as_of=p.as_of,
            table_version=p.table.version,
            archived=p.archived,
            taken=p.taken,
            batches=p.batch_no,
        )

    def _budget(self, inp: RetentionInput) -> None:
        """Continues as new once this run did its share of batches (or the server asks)."""
        if self._batches >= inp.batches_per_run or workflow.info().is_continue_as_new_suggested():
            workflow.continue_as_new(inp.model_copy(update={"carried": self._p}))

    @workflow.query(description="How far this purge run is: phase, kind, what it took so far.")
    def progress(self) -> RetentionProgress | None:
        return self._p

    def _show(self) -> None:
        p = self._p
        if p is None:
            return
        lines = [
            f"## Retention purge as of {p.as_of.isoformat()}",
            f"Table **{p.table.version}**; phase **{p.phase}**; run {p.runs}",
            "",
            f"- archives written: {p.archived}",
        ]
        lines += [f"- {kind}: {n}" for kind, n in p.taken.items()]
        workflow.set_current_details("\n".join(lines))

"""The webhook delivery of one subscription (id `events-<subscription>`): a long-lived loop
of delivery activity runs, continued as new every RUNS_PER_RUN runs.

The work itself (paging undelivered events from the registry, one lane per dossier, backoff)
is the activity `events.deliver`; its state lives in the registry, so this workflow holds
none and its history stays small. It ends only when its subscription left the settings (the
worker starts it again at its next start when it is configured again). A paused subscription
(410 Gone, or ops) keeps its workflow running: the activity sends nothing until the resume,
which is a registry write (`python -m starter events resume`), so it needs no signal here.
Runs before that change (the activity stopped on 410) ended with `gone`; the worker starts
a new one at its start.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.events import DeliveryInput, DeliveryRun

DELIVER = "events.deliver"
RUNS_PER_RUN = 100
# A database or worker outage is retried until it is over.
DELIVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)


@workflow.defn(name="EventDeliveryWorkflow")
class EventDeliveryWorkflow:
    @workflow.run
    async def run(self, inp: DeliveryInput) -> str:
        runs = inp.runs
        while True:
            result = await workflow.execute_activity(
                DELIVER,
                inp,
                result_type=DeliveryRun,
                # The run returns after events.run_seconds (≤ 1 h) and one request timeout.
                start_to_close_timeout=timedelta(hours=1, minutes=5),
                # A worker killed mid-delivery is noticed after this.
                heartbeat_timeout=timedelta(seconds=15),
                retry_policy=DELIVER_RETRY,
                summary=f"deliver events to {inp.subscription}",
            )
            if result.stop is not None:
                workflow.logger.warning(
                    "events.delivery.stopped",
                    extra={"subscription": inp.subscription, "why": result.stop},
                )
                return str(result.stop)
            runs += 1
            if runs >= RUNS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(DeliveryInput(subscription=inp.subscription))

"""The nightly purge's Temporal Schedule (settings.retention): every day at hour:minute in
its time zone it starts RetentionWorkflow, as of the scheduled time. `python -m starter
setup` (and the dev stack) create it, or bring it in line with the settings keeping an
operator's pause; overlap SKIP: a purge still running when the next is due is not doubled.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from models.retention import RetentionInput
from runtime.settings import ConfigError, Settings
from workflows.retention import RetentionWorkflow

NOTE = "Bewaartermijnen: nachtelijke opschoning volgens retention.yaml"


def check_settings(settings: Settings) -> None:
    try:
        ZoneInfo(settings.retention.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"retention.timezone: {settings.retention.timezone!r} is not a time zone "
            "(e.g. Europe/Brussels)"
        ) from exc


def build_schedule(settings: Settings) -> Schedule:
    r = settings.retention
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionInput(batch_size=r.batch_size, batches_per_run=r.batches_per_run),
            id=r.schedule_id,  # the server appends the scheduled time
            task_queue=settings.temporal.task_queue,
            static_summary="Bewaartermijnen toepassen",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(0)],
                    minute=[ScheduleRange(r.minute)],
                    hour=[ScheduleRange(r.hour)],
                    comment="nightly retention purge",
                )
            ],
            time_zone_name=r.timezone,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            # A night missed (server down) is caught up within the day; older ones are not
            # needed: the next run takes everything due by then.
            catchup_window=timedelta(days=1),
        ),
        state=ScheduleState(note=NOTE),
    )


async def ensure_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    check_settings(settings)
    wanted = build_schedule(settings)
    try:
        return await client.create_schedule(settings.retention.schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(settings.retention.schedule_id)

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        wanted.state = current.description.schedule.state  # ops' pause stays
        return ScheduleUpdate(schedule=wanted)

    await handle.update(keep_state)
    return handle

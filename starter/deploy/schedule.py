"""The yearly screening's Temporal Schedule and its ops commands.

`ensure_schedule` creates the schedule from settings.screening, or updates it to match them
(keeping whether ops paused it); the dev stack calls it at start-up, so running it twice
changes nothing. Commands: `python -m starter screen now|pause|unpause|backfill|follow|
status|check-rubric|schedule`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.rubric_loader import load_rubric
from models.rubric import RubricError
from models.screening import ScreeningReport, ScreeningTrigger
from models.screening import screening_workflow_id as workflow_id_for
from runtime.settings import ConfigError, Settings, load_settings
from runtime.temporal import connect
from workflows.screening import ScreeningScheduleWorkflow, ScreeningWorkflow

NOTE = "Jaarlijkse screening van de geregistreerde opleidingen"


def check_settings(settings: Settings) -> None:
    """A date that never comes or an unknown zone would make a schedule that never fires."""
    s = settings.screening
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"screening.timezone: {s.timezone!r} is not a time zone (e.g. Europe/Brussels)"
        ) from exc
    try:
        date(2001, s.month, s.day)  # not a leap year: 29 February would fire one year in four
    except ValueError as exc:
        raise ConfigError(
            f"screening.day: {s.month}/{s.day} does not exist every year; pick a day that does"
        ) from exc


def build_schedule(settings: Settings) -> Schedule:
    s = settings.screening
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScreeningScheduleWorkflow.run,
            ScreeningTrigger(),
            id=s.schedule_id,  # the server appends the scheduled time
            task_queue=settings.temporal.task_queue,
            static_summary="Jaarlijkse screening",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(0)],
                    minute=[ScheduleRange(s.minute)],
                    hour=[ScheduleRange(s.hour)],
                    day_of_month=[ScheduleRange(s.day)],
                    month=[ScheduleRange(s.month)],
                    comment="yearly screening",
                )
            ],
            time_zone_name=s.timezone,
        ),
        policy=SchedulePolicy(
            # Never two screenings at once: a firing while one runs is dropped.
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=s.catchup_window_days),
        ),
        state=ScheduleState(note=NOTE),
    )


async def ensure_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    """Creates the schedule, or brings an existing one in line with the settings."""
    check_settings(settings)
    wanted = build_schedule(settings)
    try:
        return await client.create_schedule(settings.screening.schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(settings.screening.schedule_id)

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Ops may have paused it (with a note saying why): an update must not undo that.
        wanted.state = current.description.schedule.state
        return ScheduleUpdate(schedule=wanted)

    await handle.update(keep_state)
    return handle


def firing_time(settings: Settings, year: int) -> datetime:
    s = settings.screening
    return datetime(year, s.month, s.day, s.hour, s.minute, tzinfo=ZoneInfo(s.timezone))


async def backfill_year(client: Client, settings: Settings, year: int) -> None:
    """Runs the firing of `year` that was missed (e.g. the server was down past the
    catch-up window). It waits for a screening that is running; a year screened before
    is not screened again (its workflow id is taken)."""
    at = firing_time(settings, year)
    await client.get_schedule_handle(settings.screening.schedule_id).backfill(
        ScheduleBackfill(
            start_at=at - timedelta(minutes=1),
            end_at=at + timedelta(minutes=1),
            overlap=ScheduleOverlapPolicy.BUFFER_ALL,
        )
    )


# ---- command line ----


def register(sub: Any) -> None:
    screen = sub.add_parser("screen", help="the yearly screening: schedule, run, follow")
    cmds = screen.add_subparsers(dest="screen_command", required=True, metavar="action")

    p = cmds.add_parser("schedule", help="create or update the schedule from settings")
    p.set_defaults(run=_cmd_schedule)
    p = cmds.add_parser("now", help="trigger the schedule now (screens this year once)")
    p.add_argument("--follow", action="store_true", help="then follow it with a progress bar")
    p.set_defaults(run=_cmd_now)
    p = cmds.add_parser("pause", help="pause the schedule")
    p.add_argument("--note", default="gepauzeerd door ops", help="why (shown in the UI)")
    p.set_defaults(run=_cmd_pause)
    p = cmds.add_parser("unpause", help="resume the schedule")
    p.set_defaults(run=_cmd_unpause)
    p = cmds.add_parser("backfill", help="run the missed screening of a year")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--follow", action="store_true")
    p.set_defaults(run=_cmd_backfill)
    p = cmds.add_parser("follow", help="show a screening's progress until it ends")
    p.add_argument("--year", type=int, help="default: this year")
    p.set_defaults(run=_cmd_follow)
    p = cmds.add_parser("status", help="the schedule and a year's screening report")
    p.add_argument("--year", type=int, help="default: this year")
    p.set_defaults(run=_cmd_status)
    p = cmds.add_parser("check-rubric", help="validate a rubric file (default: settings)")
    p.add_argument("path", nargs="?", type=Path)
    p.set_defaults(run=_cmd_check_rubric)


def _this_year(settings: Settings) -> int:
    return datetime.now(ZoneInfo(settings.screening.timezone)).year


def _out(text: str) -> None:
    from starter.cli.main import out

    out(text)


async def _client(settings: Settings) -> Client:
    return await connect(settings)


async def _cmd_schedule(args: argparse.Namespace) -> int:
    settings = load_settings()
    handle = await ensure_schedule(await _client(settings), settings)
    _out(_describe(await handle.describe(), settings))
    return 0


async def _cmd_now(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = await _client(settings)
    handle = await ensure_schedule(client, settings)
    year = _this_year(settings)
    before = await _announce(client, year)
    await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
    _out(f"triggered; screening {year} runs as workflow {workflow_id_for(year)}")
    return await follow(client, year, not_run=before) if args.follow else 0


async def _announce(client: Client, year: int) -> str | None:
    """Says what a trigger for `year` will do; returns the run id a new run will replace
    (a failed one, resumed), so following waits for the new run rather than report the old
    failure."""
    handle = client.get_workflow_handle(workflow_id_for(year))
    try:
        info = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    if info.status == WorkflowExecutionStatus.COMPLETED:
        _out(f"screening {year} already ran; a trigger screens nothing twice")
        return None
    if info.status == WorkflowExecutionStatus.RUNNING:
        _out(f"screening {year} is running; following it")
        return None
    _out(
        f"screening {year} ended {info.status.name if info.status else '?'}: it resumes "
        f"where it stopped (the population stays frozen; no notice is sent twice)"
    )
    return info.run_id


async def _cmd_pause(args: argparse.Namespace) -> int:
    settings = load_settings()
    await (
        (await _client(settings))
        .get_schedule_handle(settings.screening.schedule_id)
        .pause(note=args.note)
    )
    _out(f"schedule {settings.screening.schedule_id} paused: {args.note}")
    return 0


async def _cmd_unpause(args: argparse.Namespace) -> int:
    settings = load_settings()
    await (
        (await _client(settings))
        .get_schedule_handle(settings.screening.schedule_id)
        .unpause(note=NOTE)
    )
    _out(f"schedule {settings.screening.schedule_id} running again")
    return 0


async def _cmd_backfill(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = await _client(settings)
    await ensure_schedule(client, settings)
    before = await _announce(client, args.year)
    await backfill_year(client, settings, args.year)
    _out(
        f"backfill of {firing_time(settings, args.year).isoformat()} requested; "
        f"workflow {workflow_id_for(args.year)}"
    )
    return await follow(client, args.year, not_run=before) if args.follow else 0


async def _cmd_follow(args: argparse.Namespace) -> int:
    settings = load_settings()
    return await follow(await _client(settings), args.year or _this_year(settings))


async def _cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = await _client(settings)
    try:
        desc = await client.get_schedule_handle(settings.screening.schedule_id).describe()
        _out(_describe(desc, settings))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        _out("no schedule yet: run `python -m starter screen schedule`")
    year = args.year or _this_year(settings)
    handle = client.get_workflow_handle(workflow_id_for(year), result_type=ScreeningReport)
    try:
        info = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        _out(f"screening {year}: not run")
        return 0
    _out(f"screening {year}: {info.status.name if info.status else '?'}")
    if info.status == WorkflowExecutionStatus.COMPLETED:
        _out(summary(await handle.result()))
    return 0


def _describe(desc: ScheduleDescription, settings: Settings) -> str:
    s = settings.screening
    state = desc.schedule.state
    nxt = desc.info.next_action_times[:1]
    lines = [
        f"schedule {desc.id}: every {s.day}/{s.month} at {s.hour:02d}:{s.minute:02d} "
        f"{s.timezone}, {'PAUSED' if state.paused else 'active'}"
        + (f" ({state.note})" if state.paused and state.note else ""),
        f"next run: {nxt[0].astimezone(ZoneInfo(s.timezone)).isoformat() if nxt else '-'}",
    ]
    for action in desc.info.recent_actions[-3:]:
        started = action.action
        if isinstance(started, ScheduleActionExecutionStartWorkflow):
            lines.append(f"ran {action.scheduled_at.isoformat()} -> {started.workflow_id}")
    return "\n".join(lines)


async def _cmd_check_rubric(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = settings.resolve(args.path or settings.screening.rubric)
    try:
        rubric = load_rubric(path)
    except RubricError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    _out(
        f"{path}: rubric {rubric.version} is valid ({len(rubric.criteria)} criteria, "
        f"pass at {rubric.pass_threshold:g}/100)"
    )
    return 0


# ---- following a run ----


def bar(done: int, total: int, width: int = 30) -> str:
    share = done / total if total else 1.0
    filled = int(width * share)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {share:6.1%}"


def summary(report: ScreeningReport) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    lines = [
        f"screening {report.year} (rubric {report.rubric_version}): {report.total} trainings; "
        f"{counts}; cases told {report.signalled}; e-mails {report.emails_sent}",
        "scores: " + " ".join(f"{k}:{v}" for k, v in report.distribution.items()),
    ]
    if report.case_ended:
        lines.append(f"cases that had ended (not told): {', '.join(report.case_ended)}")
    if report.not_yet_due:
        by_year = sorted(report.not_yet_due_by_first_year.items())
        firsts = ", ".join(f"{n} in {y}" for y, n in by_year)
        lines.append(
            f"not yet due (registered after 1 January {report.year - 1}; no notice): "
            f"{report.not_yet_due}, first screened: {firsts}"
        )
    for n in report.negatives[:20]:
        lines.append(f"  {n.dossier} {n.outcome.value}: {n.remarks}")
    if len(report.negatives) > 20:
        lines.append(f"  ... and {len(report.negatives) - 20} more (screen status --year)")
    return "\n".join(lines)


async def follow(
    client: Client, year: int, poll_seconds: float = 1.0, *, not_run: str | None = None
) -> int:
    """Draws the run's progress on stderr until it ends; prints the report. Exit code 0
    when it completed, 1 when it failed. `not_run`: a failed run a trigger is replacing
    (wait for the new one)."""
    handle = client.get_workflow_handle(workflow_id_for(year), result_type=ScreeningReport)
    for _ in range(60):  # a trigger starts the run a moment later
        try:
            if (await handle.describe()).run_id != not_run:
                break
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(poll_seconds)
    tty = sys.stderr.isatty()
    while True:
        info = await handle.describe()
        if info.status != WorkflowExecutionStatus.RUNNING:
            break
        try:
            p = await handle.query(ScreeningWorkflow.progress)
        except RPCError:
            p = None
        if p is not None:
            line = (
                f"screening {year} {p.phase.value:<10} scored {bar(p.scored, p.total)}  "
                f"told {p.delivered}/{p.total}"
            )
            sys.stderr.write(("\r" + line) if tty else line + "\n")
            sys.stderr.flush()
        await asyncio.sleep(poll_seconds)
    if tty:
        sys.stderr.write("\n")
    if info.status == WorkflowExecutionStatus.COMPLETED:
        _out(summary(await handle.result()))
        return 0
    _out(f"screening {year} ended: {info.status.name if info.status else '?'}")
    try:
        await handle.result()
    except Exception as exc:
        cause = getattr(exc, "cause", None)
        _out(f"reason: {cause or exc}")
    return 1

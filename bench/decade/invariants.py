"""Every promise, checked each simulated day, each violation with its dossier and day.

Run just past midnight (the day's deadlines have passed), against the registry and the
portal API, with the oracle and the simulation's own account (world.py) as the reference:

- notices: every decision's notice is in the outbox and was sent (the sink has its
  Message-ID), or is listed by `mail list` (registry.notifications.unsent) while the mail
  server was away; the dates a refusal or a negative screening notice quotes are the
  oracle's;
- appeals: none accepted after the oracle's last day, none refused before it (checked as
  each appeal is made, shard.py); the BEC's deadline the oracle's;
- the BEC: a decision within 60 days, or the case flagged overdue from the day after the
  oracle's last day (flagged at the end of that day, by its timer);
- removals: a negative screening ends the registration at the end of the oracle's day
  unless reversed or replaced; the system's own transitions come in their window;
- the register: at most one registration per training per day; the open-data export of the
  day equals the as-of answers and the simulation's account (and so does a past day's);
- health: no case failed or stuck past a deadline, no activity past its 5th attempt
  (unless the mail server is away), every run's history under 2,000 events;
- workflow state and registry agree (bench/decade/agree.py, a sample each day).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.decade import agree, oracle
from bench.decade.concurrency import at_most
from bench.decade.world import ENDED, Dossier
from registry import activity_watch
from registry import notifications as outbox

if TYPE_CHECKING:
    from bench.decade.shard import Shard

HISTORY_LIMIT = 2000
# As ops define it (ops/searches.py: failed-or-stuck): a running case still showing a
# deadline this long after it passed is not being processed.
STUCK_AFTER = timedelta(hours=1)
REFUSAL_GRACE_DAYS = 4
MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december"]  # fmt: skip
_DATE = r"(\d{1,2}) (" + "|".join(MONTHS) + r") (\d{4})"
APPEAL_DEADLINE = re.compile(r"uiterlijk op " + _DATE)
REMOVAL_DATE = re.compile(r"tot en met " + _DATE)
FAILED = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED,
}
ALLOWED_RETRYING = {"notifications.send", "screening.deliver_page"}
# Reads of one kind in flight at once (as-of answers, descriptions): the time-skipping server
# times out under hundreds at once, not under a few.
READS_AT_ONCE = 6


@dataclass(frozen=True)
class _Samples:
    as_of: list[str]
    past_day: date | None
    described: list[str]
    agreed: list[str]


def quoted(pattern: re.Pattern[str], body: str) -> date | None:
    found = pattern.search(" ".join(body.split()))
    if found is None:
        return None
    day, month, year = found.groups()
    return date(int(year), MONTHS.index(month) + 1, int(day))


class Checks:
    def __init__(self, shard: Shard) -> None:
        self.s = shard
        self.unsent_before: set[str] = set()
        self.exports: dict[date, frozenset[str]] = {}
        self.runs: dict[str, tuple[str, int]] = {}  # workflow id -> (run id, events)
        self.year_largest: tuple[int, str] = (0, "")
        self.failures_seen = 0
        self.settled: set[str] = set()  # ended, and the registry says so

    # ------------------------------------------------------------------ each day

    async def day(self, day: date) -> None:
        s = self.s
        s.count("days_checked")
        with s.timed("check_notices"):
            await self.observe_refusal_notices()
        with s.timed("check_states"):
            rows = await self.states(day)
            await self.overdue(day, rows)
        # The rest only reads, and nothing moves while it does (the clock jumps only when
        # told): the reads go at once, so a day costs about its slowest check, not their sum.
        # What each looks at is drawn first, in a fixed order, so the same seed checks the
        # same cases whichever answer comes back first.
        pick = self.samples(day)
        with s.timed("check_reads (open data, notices, health, histories, agreement)"):
            registered, *_ = await asyncio.gather(
                self.open_data(day, pick.as_of),
                self.past_day(pick.past_day),
                self.notices(day),
                self.health(day, rows),
                self.describe(pick.described),
                self.agree(pick.agreed),
            )
        s.stats.registered_by_day.append(len(registered))
        s.year_touched |= s.touched
        s.touched.clear()
        s.smtp_down_at_check = not s.sink.up

    def samples(self, day: date) -> _Samples:
        """Which cases the day's reads look at: the ones that changed (up to a dozen) and a
        few drawn from the rest."""
        s = self.s
        touched = sorted(s.touched)
        everyone = sorted(s.world.dossiers)
        live = [n for n in everyone if s.world.dossiers[n].state != ENDED]
        as_of = set(touched[:12])
        as_of.update(s.rng_checks.sample(everyone, min(s.p.as_of_sample, len(everyone))))
        # A past day's register does not change afterwards: once a (simulated) week, a day
        # drawn from the past is exported again.
        past = sorted(d for d in self.exports if d < day)
        past_day = s.rng_checks.choice(past) if past and day.weekday() == 6 else None
        described = set(touched[:12])
        described.update(s.rng_checks.sample(live, min(s.p.history_sample, len(live))))
        # Each query replays the case (no workflow cache here): one case that changed that
        # day and `agree_sample` drawn; every live case is compared at the end (final).
        agreed = set(s.rng_checks.sample(touched, min(1, len(touched))))
        agreed.update(s.rng_checks.sample(live, min(s.p.agree_sample, len(live))))
        return _Samples(sorted(as_of), past_day, sorted(described), sorted(agreed))

    async def observe_refusal_notices(self) -> None:
        """A refusal's window runs from the day its notice went out (the outbox says when)."""
        s = self.s
        if not s.awaiting_refusal_notice:
            return
        rows = await s.pool.fetch(
            # A correction (accepted after the day its text assumed) has the last word.
            """SELECT n.dossier, n.sent_at, COALESCE(c.body, n.body) AS body
               FROM notifications n
               LEFT JOIN notifications c ON c.dossier = n.dossier AND c.step = n.step
                    AND c.kind = 'notice_corrected' AND c.status = 'sent'
               WHERE n.kind = 'refusal' AND n.status = 'sent'
                 AND n.dossier = ANY($1::text[])""",
            list(s.awaiting_refusal_notice),
        )
        for row in rows:
            d = s.world.dossiers[row["dossier"]]
            s.awaiting_refusal_notice.discard(d.number)
            if d.window is None or d.state != "refused":
                continue
            notice_on = oracle.brussels_day(row["sent_at"])
            s.window_known(d, notice_on)
            assert d.window is not None
            shown = quoted(APPEAL_DEADLINE, row["body"])
            if shown != d.window.last_day:
                s.violation(
                    "notice-dates", d.number,
                    f"the refusal sent {notice_on} quotes appeal until {shown}; the oracle: "
                    f"{d.window.last_day}",
                )  # fmt: skip

    def negative_notice(self, d: Dossier, removal: date) -> None:
        """Checked once the screening's notices are out: see notice_dates."""
        self.s.negative_notices.append((d.number, removal))

    async def states(self, day: date) -> dict[str, Any]:
        """The registry's current-state rows against the simulation's account; the system's
        own transitions in their window, applied when they show."""
        s = self.s
        now = s.clock.now()
        # An ended case (the registry agreeing) stays ended: the rest is compared each day.
        watched = [n for n, d in s.world.dossiers.items() if n not in self.settled]
        rows = {
            r["dossier"]: r
            for r in await s.pool.fetch(
                """SELECT dossier, state, end_reason, overdue, next_deadline_at, removal_on
                   FROM case_rows WHERE dossier = ANY($1::text[])""",
                watched,
            )
        }
        for number in watched:
            d = s.world.dossiers[number]
            row = rows.get(number)
            if row is None:
                s.violation("registry-row", number, "no current-state row")
                continue
            got = (row["state"], row["end_reason"])
            while d.pending and got == (d.pending[0].state, d.pending[0].end_reason):
                p = d.pending[0]
                if now < p.not_before:
                    s.violation(
                        "timer-early", number,
                        f"{p.what}: shows {got[0]}/{got[1]} before "
                        f"{p.not_before.astimezone(oracle.BRUSSELS):%Y-%m-%d %H:%M}",
                    )  # fmt: skip
                await self.applied(d, p)
            if got == (d.state, d.end_reason):
                if d.state == ENDED and not d.pending:
                    self.settled.add(number)
                first = d.pending[0] if d.pending else None
                if first is not None and now > first.not_after and not first.reported:
                    first.reported = True
                    p = first
                    s.violation(
                        "timer-late", number,
                        f"{p.what}: still {got[0]}/{got[1]} after "
                        f"{p.not_after.astimezone(oracle.BRUSSELS):%Y-%m-%d %H:%M}",
                    )  # fmt: skip
                continue
            s.violation(
                "state",
                number,
                f"registry {got[0]}/{got[1]}, expected {d.state}/{d.end_reason}"
                + (f" (or {d.pending[0].state}/{d.pending[0].end_reason})" if d.pending else ""),
            )
            d.state, d.end_reason = got  # follow the system, so it is reported once
        return rows

    async def applied(self, d: Dossier, p: Any) -> None:
        """The system made a transition of its own: when exactly (its audit step)?"""
        s = self.s
        d.state, d.end_reason = p.state, p.end_reason
        d.pending.pop(0)
        if p.end is not None:
            d.end = p.end
        s.touched.add(d.number)
        steps = {"removed": "removal", "finally_refused": "refusal-final"}
        step = steps.get(p.end_reason or "")
        if step is None:
            if p.end_reason == "replaced":
                s.count("replaced")
            return
        at = await s.pool.fetchval(
            "SELECT at FROM audit WHERE dossier = $1 AND step = $2", d.number, step
        )
        if at is None or not p.not_before <= at <= p.not_after:
            s.violation("timer-time", d.number, f"{p.what} recorded at {at}, expected "
                        f"{p.not_before.isoformat()} .. {p.not_after.isoformat()}")  # fmt: skip
        if p.end_reason == "removed":
            s.count("removed")
            s.expect_notice(d.number, "removal", queued=(p.not_before, p.not_after))
        else:
            s.count("refusals_final")
            s.expect_notice(d.number, "final_refusal", queued=(p.not_before, p.not_after))

    async def overdue(self, day: date, rows: dict[str, Any]) -> None:
        """An appeal the BEC has not decided by the end of the oracle's last day shows
        overdue from then on (the check of that day runs just after its end)."""
        s = self.s
        for dossier in s.world.dossiers.values():
            d = dossier
            appeal = d.open_appeal
            if appeal is None or d.number not in rows:
                continue
            want = day >= appeal.bec_last_day
            got = bool(rows[d.number]["overdue"])
            if want == got:
                if want and not appeal.flag_seen:
                    appeal.flag_seen = True
                    s.count("bec_flagged")
                    due = oracle.end_of(appeal.bec_last_day)
                    # Flagged within the hour after the BEC's last day (checked below).
                    s.expect_notice(d.number, "bec_overdue", 2,
                                    queued=(due, due + timedelta(hours=1)))  # fmt: skip
                    at = await s.pool.fetchval(
                        "SELECT at FROM audit WHERE dossier = $1 AND step = $2",
                        d.number, f"appeal-{appeal.number}-overdue",
                    )  # fmt: skip
                    if at is None or not due <= at <= due + timedelta(hours=1):
                        s.violation("bec-overdue", d.number, f"flagged at {at}, due {due}")
                continue
            if want:
                s.violation(
                    "bec-overdue", d.number,
                    f"appeal {appeal.number} undecided after {appeal.bec_last_day} (received "
                    f"{appeal.received_on}) and not flagged overdue",
                )  # fmt: skip
            else:
                s.violation(
                    "bec-overdue", d.number,
                    f"appeal {appeal.number} flagged overdue before the end of "
                    f"{appeal.bec_last_day}",
                )  # fmt: skip

    async def open_data(self, day: date, as_of: list[str]) -> frozenset[str]:
        """The export of the day against the simulation's account, one registration per
        training, and the as-of answers of the dossiers that changed plus a sample."""
        s = self.s
        got = await s.api.open_data(day)
        self.exports[day] = got
        self.compare_register(day, got)
        per_training = Counter(s.world.dossiers[n].training for n in got if n in s.world.dossiers)
        for training, n in per_training.items():
            if n > 1:
                names = sorted(x for x in got if s.world.dossiers[x].training == training)
                s.violation("one-registration", names[0],
                            f"{n} registrations of one training on {day}: {names}")  # fmt: skip
        answers = await at_most(READS_AT_ONCE, (s.api.registered(n, day) for n in as_of))
        for number, registered in zip(as_of, answers, strict=True):
            if registered != (number in got):
                s.violation("as-of", number, f"the as-of answer for {day} and the export differ")
            s.count("as_of_checked")
        return got

    def compare_register(self, day: date, got: frozenset[str]) -> None:
        s = self.s
        want = s.world.registered_on(day)
        for number in sorted(want - got):
            d = s.world.dossiers[number]
            s.violation("register", number,
                        f"not in the open data of {day}; expected registered ({d.state}, "
                        f"from {d.start}, end {d.end}, removal {d.removal_on})",
                        day)  # fmt: skip
        for number in sorted(got - want):
            other = s.world.dossiers.get(number)
            what = (
                f"{other.state}, from {other.start}, end {other.end}, removal {other.removal_on}"
                if other
                else "?"
            )
            s.violation("register", number,
                        f"in the open data of {day}, expected not ({what})", day)  # fmt: skip

    async def past_day(self, earlier: date | None) -> None:
        """A past day's register does not change afterwards (as-of answers are for good)."""
        if earlier is None:
            return
        got = await self.s.api.open_data(earlier)
        if got != self.exports[earlier]:
            changed = sorted(got ^ self.exports[earlier])[:5]
            self.s.violation("register-history", changed[0] if changed else "",
                             f"the export of {earlier} changed since: {changed}")  # fmt: skip
        self.compare_register(earlier, got)

    async def notices(self, day: date) -> None:
        s = self.s
        unsent = {n.message_id: n for n in await outbox.unsent(s.pool, 100_000)}
        if s.expected_notices:
            pairs = {(d, k) for d, k, _ in s.expected_notices}
            rows = await s.pool.fetch(
                """SELECT dossier, kind, message_id, status, body FROM notifications
                   WHERE (dossier, kind) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
                [d for d, _ in pairs], [k for _, k in pairs],
            )  # fmt: skip
            found: dict[tuple[str, str], list[Any]] = {}
            for row in rows:
                found.setdefault((row["dossier"], row["kind"]), []).append(row)
            keep: list[tuple[str, str, int]] = []
            for dossier, kind, n in s.expected_notices:
                mine = found.get((dossier, kind), [])
                if len(mine) < n:
                    s.violation("notice", dossier, f"no {kind} notice in the outbox")
                    continue
                waiting = [r for r in mine if r["status"] != "sent"]
                for row in waiting:
                    if row["message_id"] not in unsent:
                        s.violation("notice", dossier, f"{kind} unsent and not listed")
                if waiting:
                    keep.append((dossier, kind, n))
                    continue
                for row in mine:
                    if not s.sink.has(row["message_id"]):
                        s.violation(
                            "notice", dossier, f"{kind} marked sent, not received by the sink"
                        )
                s.count("notices_checked")
            s.expected_notices = keep
        for dossier, removal in s.negative_notices:
            body = await s.pool.fetchval(
                """SELECT body FROM notifications WHERE dossier = $1 AND kind =
                   'screening_result' AND status = 'sent' ORDER BY id DESC LIMIT 1""",
                dossier,
            )
            d = s.world.dossiers[dossier]
            if body is None:
                continue
            # A correction (accepted after the day its text assumed) has the last word.
            fixed = await s.pool.fetchval(
                """SELECT body FROM notifications WHERE dossier = $1 AND kind =
                   'notice_corrected' AND status = 'sent' ORDER BY id DESC LIMIT 1""",
                dossier,
            )
            shown = (fixed and quoted(REMOVAL_DATE, fixed)) or quoted(REMOVAL_DATE, body)
            if shown != removal:
                s.violation("notice-dates", dossier,
                            f"the negative screening notice quotes removal after {shown}; "
                            f"the oracle: {removal}")  # fmt: skip
            window_shown = quoted(APPEAL_DEADLINE, body)
            if d.negative_years and window_shown is None:
                s.violation("notice-dates", dossier, "the negative notice quotes no appeal date")
        s.negative_notices = []
        # Unsent at two checks in a row while the mail server was up all along: stuck.
        now_unsent = {m for m, n in unsent.items() if n.status != "failed"}
        if s.sink.up and not s.smtp_down_at_check:
            for message_id in sorted(now_unsent & self.unsent_before):
                stale = unsent[message_id]
                s.violation(
                    "notice",
                    stale.dossier or "",
                    f"{stale.kind} still unsent a day later with the mail server up",
                )
        for record in unsent.values():
            if record.status == "failed":
                s.violation("notice", record.dossier or "",
                            f"{record.kind} refused for good: {record.last_error}")  # fmt: skip
        self.unsent_before = now_unsent

    async def health(self, day: date, rows: dict[str, Any]) -> None:
        s = self.s
        now = s.clock.now()
        for number, row in rows.items():
            at = row["next_deadline_at"]
            if row["state"] == ENDED or at is None:
                continue
            if row["state"] == "refused":
                # A refusal becomes final some days after its window closed (docs/case.md: 4),
                # room for an appeal e-mailed in time: the case waits on purpose till then.
                at += timedelta(days=REFUSAL_GRACE_DAYS)
            if at < now - STUCK_AFTER:
                s.violation("stuck", number, f"its deadline passed at {at:%Y-%m-%d %H:%M} UTC")
        for stuck in await activity_watch.listing(s.pool):
            if stuck.stale:
                continue
            if stuck.activity_type in ALLOWED_RETRYING and (not s.sink.up or s.smtp_down_at_check):
                s.count("retrying_during_outage")
                continue
            s.violation("activity-retrying", stuck.workflow_id,
                        f"{stuck.activity_type} at attempt {stuck.attempt}: "
                        f"{stuck.last_error[:200]}")  # fmt: skip
        failures = s.failures.seen[self.failures_seen :]
        self.failures_seen = len(s.failures.seen)
        for workflow_id, message in failures:
            s.violation("workflow-task-failed", workflow_id, message)

    async def raw_describe(
        self, workflow_id: str, run_id: str = ""
    ) -> DescribeWorkflowExecutionResponse:
        """The server's description as it is (the SDK's parsed one chokes on a search
        attribute the time-skipping server returns)."""
        return await self.s.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.s.env.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
        )

    async def describe(self, dossiers: list[str]) -> None:
        s = self.s
        answers = await at_most(READS_AT_ONCE, (self.try_describe(n) for n in dossiers))
        for number, desc in zip(dossiers, answers, strict=True):
            if isinstance(desc, RPCError):
                s.violation("failed", number, f"cannot describe its workflow: {desc}")
                continue
            s.count("described")
            info = desc.workflow_execution_info
            status = WorkflowExecutionStatus(info.status)
            await self.history(number, info.execution.run_id, int(info.history_length))
            if status in FAILED:
                s.violation("failed", number, f"its workflow is {status.name}")
            pending = desc.pending_workflow_task
            if desc.HasField("pending_workflow_task") and pending.attempt > 2:
                s.violation("stuck", number, f"workflow task at attempt {pending.attempt}")

    async def try_describe(self, number: str) -> DescribeWorkflowExecutionResponse | RPCError:
        try:
            return await self.raw_describe(number)
        except RPCError as exc:
            return exc

    async def history(self, workflow_id: str, run_id: str | None, events: int) -> None:
        seen = self.runs.get(workflow_id)
        if seen is not None and seen[0] != run_id:
            # A new run: the previous one has closed; its final length counts too.
            try:
                old = (await self.raw_describe(workflow_id, seen[0])).workflow_execution_info
                self.note(workflow_id, seen[0], int(old.history_length))
            except RPCError:
                pass
        self.runs[workflow_id] = (run_id or "", events)
        self.note(workflow_id, run_id or "", events)

    def note(self, workflow_id: str, run_id: str, events: int) -> None:
        s = self.s
        which = f"{workflow_id} run {run_id[:8]}"
        if events > self.year_largest[0]:
            self.year_largest = (events, which)
        if events > s.largest[0]:
            s.largest = (events, which)
        if events >= HISTORY_LIMIT:
            s.violation("history", workflow_id, f"run {run_id[:8]} has {events} events")

    async def agree(self, dossiers: list[str]) -> None:
        s = self.s
        if not dossiers:
            return
        for number, what in await agree.disagreements(s.env.client, s.pool, dossiers):
            s.violation("workflow-vs-registry", number, what)
        s.count("agreement_checked", len(dossiers))

    # ------------------------------------------------------------------ each year, the end

    async def year_end(self, year: int) -> None:
        """Every case of the shard described (history lengths, no failed run), and the
        year's screening run."""
        s = self.s
        self.year_largest = (0, "")
        live = {n for n, d in s.world.dossiers.items() if d.state != ENDED}
        await self.describe(sorted(live | s.year_touched))
        s.year_touched = set()
        for wid in (f"screening-{year}",):
            try:
                info = (await self.raw_describe(wid)).workflow_execution_info
            except RPCError:
                continue
            self.note(wid, info.execution.run_id, int(info.history_length))
            if WorkflowExecutionStatus(info.status) in FAILED:
                s.violation("failed", wid, "the screening run did not complete")
        sent = await s.pool.fetchval(
            """SELECT count(*) FROM notifications WHERE status = 'sent'
               AND sent_at >= $1 AND sent_at < $2""",
            oracle.at(date(year, 1, 1), 0, 0), oracle.at(date(year + 1, 1, 1), 0, 0),
        )  # fmt: skip
        s.count("notices_sent", int(sent))
        s.stats.counts["registered_end"] = len(s.world.registered_on(date(year, 12, 31)))

    async def final(self) -> None:
        """At the end: workflow state and registry agree for every case still running."""
        s = self.s
        live = sorted(n for n, d in s.world.dossiers.items() if d.state != ENDED)
        for i in range(0, len(live), 50):
            await self.agree(live[i : i + 50])

    @staticmethod
    def as_utc(moment: datetime) -> str:
        return moment.isoformat(timespec="minutes")

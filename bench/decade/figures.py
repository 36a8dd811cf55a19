"""The department's figures of a year, counted from the simulation's own account (world.py)
as it played, to be compared with the system's report (`GET /reports/{year}`).

Like the oracle, this module imports nothing of the project (no `registry`, `rules`,
`models`): each figure is worked out again here from the domain's words (docs/reports.md),
so a mistake in the report's SQL cannot hide behind the same mistake here
(tests/bench/test_decade_oracle.py checks the imports).

Notices are compared within bounds. When the mail server takes a message is the system's
own timing, but the simulation plans every SMTP outage (`World.outages`, [down, up)) and
worker stop, and knows when each notice it expects was queued (`World.notices`: an action's
step within a minute of the answer, a transition the system owes within its window). A
notice goes out within seconds of its queueing, or, queued while the mail server is away,
within seconds of its return (retried every 10 s). So, per year and body:
- `notices_sent` lies between the notices certainly sent in the year and those possibly
  sent in it: a notice whose possible sending moments straddle New Year counts in the
  upper bound of both years, and so does a correction (`notice_corrected`) it might owe
  when its sending might straddle a Brussels midnight;
- `notices_sent_late` (sent more than an hour after the step that queued it) lies in
  [certain, certain + ambiguous]. Certain: queued during an outage that came back more
  than 1 h + MARGIN after the latest moment it can have been queued. Ambiguous: not
  certain, but possibly late: an outage came back within MARGIN of an hour after it (or
  later) from some moment it may have been queued, or a worker stopped while it may have
  been waiting to go out.
A report figure outside its bounds is a difference like any other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from bench.decade import oracle
from bench.decade.world import World

ALL = "all"
SERVICE_NORM_DAYS = 60  # the domain's default review service norm
# The figures the simulation knows for itself (the notices: within bounds, BOUNDED).
COMPARED = [
    "received", "decisions", "approved", "refused", "decision_days_median",
    "decision_days_p90", "decision_days_max", "decided_within_norm", "appeals_received",
    "appeals_against_refusal", "appeals_against_screening", "appeals_granted",
    "appeals_rejected", "appeals_overdue", "bec_days_median", "bec_days_p90", "screened",
    "screening_passed", "screening_failed", "screening_incomplete", "removals",
    "resubmissions", "resubmitted_after_refusal", "resubmitted_after_screening",
    "resubmissions_approved", "resubmissions_refused", "resubmissions_withdrawn",
    "resubmissions_open", "withdrawals", "stops", "revocations", "refusals_final",
    "registered_first_day", "registered_last_day",
]  # fmt: skip
# A notice counts as sent late when it left more than this after its step (docs/reports.md).
LATE_AFTER = timedelta(hours=1)
# How long after its queueing (or the mail server's return) a notice may take to go out: a
# retry every 10 s, the worker's own seconds, the clock read rather than asked.
MARGIN = timedelta(minutes=2)
# The figures compared within bounds: body -> figure -> (lowest, highest).
BOUNDED = ["notices_sent", "notices_sent_late"]
DAYS = {
    "decision_days": ("decision_days_median", "decision_days_p90", "decision_days_max"),
    "bec_days": ("bec_days_median", "bec_days_p90"),
}


def percentile(values: list[int], fraction: float) -> int | None:
    """The smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.days: dict[str, list[int]] = {"decision_days": [], "bec_days": []}

    def add(self, figure: str, n: int = 1) -> None:
        self.counts[figure] = self.counts.get(figure, 0) + n

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: self.counts.get(f, 0) for f in COMPARED}
        decision_days, bec_days = self.days["decision_days"], self.days["bec_days"]
        out["decision_days_median"] = percentile(decision_days, 0.5)
        out["decision_days_p90"] = percentile(decision_days, 0.9)
        out["decision_days_max"] = max(decision_days) if decision_days else None
        out["bec_days_median"] = percentile(bec_days, 0.5)
        out["bec_days_p90"] = percentile(bec_days, 0.9)
        return out


def expected(world: World, year: int, last_day: date) -> dict[str, dict[str, Any]]:
    """Body -> figure -> value for `year` up to `last_day`, `all` for every body together."""
    tallies: dict[str, _Tally] = {ALL: _Tally()}

    def count(body: str, figure: str, n: int = 1) -> None:
        for key in (body, ALL):
            tallies.setdefault(key, _Tally()).add(figure, n)

    def days(body: str, kind: str, value: int) -> None:
        for key in (body, ALL):
            tallies.setdefault(key, _Tally()).days[kind].append(value)

    first_day = date(year, 1, 1)

    def within(day: date | None) -> bool:
        return day is not None and first_day <= day <= last_day

    for d in world.dossiers.values():
        body = d.body
        tallies.setdefault(body, _Tally())
        submitted_on = oracle.brussels_day(d.submitted_at)
        if within(submitted_on):
            count(body, "received")
            if d.predecessor is not None:
                _resubmission(world, d, lambda f, b=body: count(b, f))
        if within(d.reviewed_on) and d.review is not None and d.reviewed_on is not None:
            count(body, "decisions")
            count(body, d.review)
            waited = (d.reviewed_on - submitted_on).days
            days(body, "decision_days", waited)
            if waited <= SERVICE_NORM_DAYS:
                count(body, "decided_within_norm")
        for a in d.appeals:
            if within(a.received_on):
                count(body, "appeals_received")
                count(body, f"appeals_against_{a.subject}")
            if within(a.decided_on) and a.decided_on is not None:
                count(body, "appeals_granted" if a.granted else "appeals_rejected")
                days(body, "bec_days", (a.decided_on - a.received_on).days)
            if a.overdue_from is not None and within(a.bec_last_day):
                count(body, "appeals_overdue")
        outcome = d.screenings.get(year)
        if outcome is not None:
            count(body, "screened")
            count(body, f"screening_{outcome}")
        if within(d.removal_on) and d.end_reason in (None, "removed"):
            count(body, "removals")
        if within(d.withdrawn_on):
            count(body, "withdrawals")
        if d.end_reason in ("stopped", "revoked") and within(d.end):
            count(body, "stops" if d.end_reason == "stopped" else "revocations")
        refusal_appealed = any(a.subject == "refusal" for a in d.appeals)
        if within(d.refusal_last_day) and not refusal_appealed:
            count(body, "refusals_final")
        if d.start is not None:
            if d.registered_on(first_day):
                count(body, "registered_first_day")
            if d.registered_on(last_day):
                count(body, "registered_last_day")
    return {body: t.figures() for body, t in tallies.items()}


def _resubmission(world: World, d: Any, count: Any) -> None:
    count("resubmissions")
    pred = world.dossiers.get(d.predecessor or "")
    if pred is not None and pred.negative_years:
        count("resubmitted_after_screening")
    elif pred is not None and pred.review == "refused":
        count("resubmitted_after_refusal")
    if d.start is not None:
        count("resubmissions_approved")
    elif d.review == "refused":
        count("resubmissions_refused")
    elif d.withdrawn_on is not None:
        count("resubmissions_withdrawn")
    elif d.review is None:
        count("resubmissions_open")


def differences(
    want: dict[str, dict[str, Any]], report: dict[str, Any]
) -> Iterable[tuple[str, str, Any, Any]]:
    """(body, figure, the report's value, the simulation's) for each figure that differs."""
    got = {b["body"]: b for b in report.get("bodies", [])}
    for body in sorted(set(want) | set(got)):
        mine, theirs = want.get(body, {}), got.get(body, {})
        for figure in COMPARED:
            zero = None if figure in DAYS["decision_days"] + DAYS["bec_days"] else 0
            a, b = theirs.get(figure, zero), mine.get(figure, zero)
            if a != b:
                yield body, figure, a, b


def notice_bounds(world: World, year: int) -> dict[str, dict[str, tuple[int, int]]]:
    """Body -> figure -> (lowest, highest) of the notices sent in `year`, and of those
    sent late, from when each was queued and the outages (see the module's docstring)."""
    bounds: dict[str, dict[str, list[int]]] = {}

    def add(body: str, figure: str, low: int, high: int) -> None:
        for key in (body, ALL):
            mine = bounds.setdefault(key, {f: [0, 0] for f in BOUNDED})
            mine[figure][0] += low
            mine[figure][1] += high

    for d in world.dossiers.values():
        bounds.setdefault(d.body, {f: [0, 0] for f in BOUNDED})
    bounds.setdefault(ALL, {f: [0, 0] for f in BOUNDED})
    for n in world.notices:
        first = _sending(world.outages, n.queued_from)
        last = _sending(world.outages, n.queued_until) + MARGIN
        years = {oracle.brussels_day(first).year, oracle.brussels_day(last).year}
        if year not in years:
            continue
        sure_year = years == {year}
        least, most = _lateness(world.outages, n.queued_from, n.queued_until)
        late = least > LATE_AFTER + MARGIN
        maybe_late = (
            late
            or most + MARGIN > LATE_AFTER
            or any(first - MARGIN <= stop <= last + MARGIN for stop in world.worker_stops)
        )
        add(n.body, "notices_sent", n.copies if sure_year else 0, n.copies)
        add(n.body, "notices_sent_late", n.copies if late and sure_year else 0,
            n.copies if maybe_late else 0)  # fmt: skip
        midnight = oracle.at(oracle.brussels_day(first) + timedelta(days=1), 0, 0)
        if first < midnight <= last:
            # Its text may be dated by the day before it was taken: a correction follows,
            # counted against the same step.
            add(n.body, "notices_sent", 0, n.copies)
            add(n.body, "notices_sent_late", 0, n.copies if maybe_late else 0)
    return {b: {f: (v[0], v[1]) for f, v in figs.items()} for b, figs in bounds.items()}


def _sending(outages: list[tuple[datetime, datetime]], queued: datetime) -> datetime:
    """The earliest a notice queued at `queued` can go out: then, or when the mail server
    came back from the outage it was queued in."""
    for down, up in outages:
        if down <= queued < up:
            return up
    return queued


def _lateness(
    outages: list[tuple[datetime, datetime]], queued_from: datetime, queued_until: datetime
) -> tuple[timedelta, timedelta]:
    """The least and the most a notice queued within [queued_from, queued_until] waits for
    the mail server (besides the seconds of its sending)."""
    most = timedelta(0)
    least: timedelta | None = None
    for down, up in outages:
        if down < queued_until and queued_from < up:
            most = max(most, up - max(queued_from, down))
            if down <= queued_from and queued_until < up:
                least = up - queued_until
    return least or timedelta(0), most


def out_of_bounds(
    bounds: dict[str, dict[str, tuple[int, int]]], report: dict[str, Any]
) -> Iterable[tuple[str, str, Any, tuple[int, int]]]:
    """(body, figure, the report's value, the simulation's bounds) for each bounded figure
    outside its bounds."""
    got = {b["body"]: b for b in report.get("bodies", [])}
    for body in sorted(set(bounds) | set(got)):
        mine, theirs = bounds.get(body, {}), got.get(body, {})
        for figure in BOUNDED:
            low, high = mine.get(figure, (0, 0))
            value = theirs.get(figure, 0)
            if not low <= value <= high:
                yield body, figure, value, (low, high)

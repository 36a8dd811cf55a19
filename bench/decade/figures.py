"""The department's figures of a year, counted from the simulation's own account (world.py)
as it played, to be compared with the system's report (`GET /reports/{year}`).

Like the oracle, this module imports nothing of the project (no `registry`, `rules`,
`models`): each figure is worked out again here from the domain's words (docs/reports.md),
so a mistake in the report's SQL cannot hide behind the same mistake here
(tests/bench/test_decade_oracle.py checks the imports).

Notices are not compared: when the mail server takes a message is the system's own timing
(the daily checks already find each expected notice sent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

from bench.decade import oracle
from bench.decade.world import World

ALL = "all"
SERVICE_NORM_DAYS = 60  # the domain's default review service norm
# The figures the simulation knows for itself; the report's other figures are not compared.
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

"""The department's figures: every figure of models/report.py counted here, once, in SQL.

Per calendar year in Europe/Brussels and per competent body (the application's), with the
total of all bodies from the same rows (GROUPING SETS). Every query of a report runs in one
REPEATABLE READ, read-only transaction: the figures are one consistent snapshot of the
registry, never Temporal's visibility. A year not over counts up to `now` ("so far").

Days are calendar days in Brussels (the day of the later act minus the day of the earlier
one); percentiles are percentile_disc (a value that occurred: the median of 4, 6, 9, 11 is 6).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from models.report import (
    ALL_BODIES,
    CSV_COLUMNS,
    FIGURES,
    BodyFigures,
    DaysBucket,
    YearReport,
)
from registry.db import Conn
from registry.errors import InvalidInput
from rules import reports as rules

BRUSSELS = ZoneInfo("Europe/Brussels")
TZ = "'Europe/Brussels'"
# A notice counts as sent late when it left this long after its step queued it.
LATE_NOTICE = "interval '1 hour'"


def _year(column: str) -> str:
    return f"extract(year FROM {column} AT TIME ZONE {TZ})::int"


def _day(column: str) -> str:
    return f"({column} AT TIME ZONE {TZ})::date"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BRUSSELS).astimezone(UTC)


# Each query: $1, $2 the instants [from, until) it counts; rows of (yr, body, figures...),
# body NULL for the total of all bodies.
_GROUPS = "GROUP BY GROUPING SETS ((yr, body), (yr))"

_RECEIVED = f"""
    SELECT {_year("a.submitted_at")} AS yr, a.competent_body AS body,
           count(*) AS received
    FROM applications a
    WHERE a.submitted_at >= $1 AND a.submitted_at < $2
    {_GROUPS}"""

_RESUBMISSIONS = f"""
    SELECT yr, body,
           count(*) AS resubmissions,
           count(*) FILTER (WHERE negative) AS resubmitted_after_screening,
           count(*) FILTER (WHERE NOT negative AND refused) AS resubmitted_after_refusal,
           count(*) FILTER (WHERE registered) AS resubmissions_approved,
           count(*) FILTER (WHERE NOT registered AND review = 'refused')
               AS resubmissions_refused,
           count(*) FILTER (WHERE withdrawn) AS resubmissions_withdrawn,
           count(*) FILTER (WHERE review IS NULL AND NOT withdrawn) AS resubmissions_open
    FROM (
        SELECT {_year("a.submitted_at")} AS yr, a.competent_body AS body,
               EXISTS (SELECT 1 FROM screening_results s
                       WHERE s.dossier = a.predecessor_dossier AND s.outcome <> 'passed')
                   AS negative,
               EXISTS (SELECT 1 FROM decisions d WHERE d.dossier = a.predecessor_dossier
                       AND d.kind = 'review' AND d.outcome = 'refused') AS refused,
               EXISTS (SELECT 1 FROM registration_periods p WHERE p.dossier = a.dossier)
                   AS registered,
               (SELECT d.outcome FROM decisions d WHERE d.dossier = a.dossier
                AND d.kind = 'review' ORDER BY d.decided_at DESC LIMIT 1) AS review,
               EXISTS (SELECT 1 FROM audit x WHERE x.dossier = a.dossier
                       AND x.step = 'withdrawn') AS withdrawn
        FROM applications a
        WHERE a.predecessor_dossier IS NOT NULL
          AND a.submitted_at >= $1 AND a.submitted_at < $2) q
    {_GROUPS}"""

_DECISIONS = f"""
    SELECT yr, body,
           count(*) AS decisions,
           count(*) FILTER (WHERE outcome = 'approved') AS approved,
           count(*) FILTER (WHERE outcome = 'refused') AS refused,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY days) AS decision_days_median,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY days) AS decision_days_p90,
           max(days) AS decision_days_max,
           count(*) FILTER (WHERE days <= $3) AS decided_within_norm
    FROM (
        SELECT {_year("d.decided_at")} AS yr, a.competent_body AS body, d.outcome,
               {_day("d.decided_at")} - {_day("a.submitted_at")} AS days
        FROM decisions d JOIN applications a USING (dossier)
        WHERE d.kind = 'review' AND d.decided_at >= $1 AND d.decided_at < $2) q
    {_GROUPS}"""

_APPEALS = f"""
    SELECT yr, body,
           count(*) AS appeals_received,
           count(*) FILTER (WHERE subject = 'refusal') AS appeals_against_refusal,
           count(*) FILTER (WHERE subject = 'screening') AS appeals_against_screening
    FROM (
        SELECT {_year("coalesce(ap.received_at, ap.filed_at)")} AS yr,
               a.competent_body AS body, ap.subject
        FROM appeals ap JOIN applications a USING (dossier)
        WHERE coalesce(ap.received_at, ap.filed_at) >= $1
          AND coalesce(ap.received_at, ap.filed_at) < $2) q
    {_GROUPS}"""

_BEC = f"""
    SELECT yr, body,
           count(*) FILTER (WHERE outcome = 'granted') AS appeals_granted,
           count(*) FILTER (WHERE outcome = 'rejected') AS appeals_rejected,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY days) AS bec_days_median,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY days) AS bec_days_p90
    FROM (
        SELECT {_year("d.decided_at")} AS yr, a.competent_body AS body, d.outcome,
               {_day("d.decided_at")} - {_day("coalesce(ap.received_at, ap.filed_at)")} AS days
        FROM decisions d
        JOIN appeals ap ON ap.decision_id = d.id
        JOIN applications a ON a.dossier = d.dossier
        WHERE d.kind = 'appeal' AND d.decided_at >= $1 AND d.decided_at < $2) q
    {_GROUPS}"""

# Date-based figures: $1, $2 the first and last day counted.
_OVERDUE = f"""
    SELECT extract(year FROM ap.decision_last_day)::int AS yr, a.competent_body AS body,
           count(*) AS appeals_overdue
    FROM appeals ap JOIN applications a USING (dossier)
    WHERE ap.overdue AND ap.decision_last_day BETWEEN $1 AND $2
    {_GROUPS}"""

_REMOVALS = f"""
    SELECT extract(year FROM p.ends_on)::int AS yr, a.competent_body AS body,
           count(*) AS removals
    FROM registration_periods p JOIN applications a USING (dossier)
    WHERE p.end_reason = 'removed' AND p.ends_on BETWEEN $1 AND $2
    {_GROUPS}"""

# By the day the refusal's appeal window closed (the case keeps that deadline's last day).
_FINAL = f"""
    SELECT extract(year FROM w.last_day)::int AS yr, a.competent_body AS body,
           count(*) AS refusals_final
    FROM audit x
    JOIN deadlines w ON w.dossier = x.dossier AND w.kind = 'appeal_window'
    JOIN applications a ON a.dossier = x.dossier
    WHERE x.step = 'refusal-final' AND w.last_day BETWEEN $1 AND $2
    {_GROUPS}"""

_SCREENING = f"""
    SELECT s.year AS yr, a.competent_body AS body,
           count(*) AS screened,
           count(*) FILTER (WHERE s.outcome = 'passed') AS screening_passed,
           count(*) FILTER (WHERE s.outcome = 'failed') AS screening_failed,
           count(*) FILTER (WHERE s.outcome = 'incomplete') AS screening_incomplete
    FROM screening_results s JOIN applications a USING (dossier)
    WHERE s.year BETWEEN extract(year FROM $1::date) AND extract(year FROM $2::date)
    {_GROUPS}"""

# Ends the case records as a step of its own (registry/steps.py audit rows).
_ENDS = f"""
    SELECT {_year("x.at")} AS yr, a.competent_body AS body,
           count(*) FILTER (WHERE x.step = 'withdrawn') AS withdrawals,
           count(*) FILTER (WHERE x.step = 'stop') AS stops,
           count(*) FILTER (WHERE x.step = 'revoke') AS revocations
    FROM audit x JOIN applications a USING (dossier)
    WHERE x.step IN ('withdrawn', 'stop', 'revoke')
      AND x.at >= $1 AND x.at < $2
    {_GROUPS}"""

_NOTICES = f"""
    SELECT yr, body, count(*) AS notices_sent,
           count(*) FILTER (WHERE late) AS notices_sent_late
    FROM (
        SELECT {_year("n.sent_at")} AS yr, a.competent_body AS body,
               n.sent_at > (SELECT x.at FROM audit x
                            WHERE x.dossier = n.dossier AND x.step = n.step) + {LATE_NOTICE}
                   AS late
        FROM notifications n
        JOIN applications a ON a.dossier = n.dossier
        WHERE n.status = 'sent' AND n.sent_at >= $1 AND n.sent_at < $2) q
    {_GROUPS}"""


# Registered on each day asked: one pass over the periods, a count per day ($1, $2, ...).
# A dossier has at most one period on a day (one open at a time, each closed before the
# next opens), so counting periods counts trainings.
def _registered(days: int) -> str:
    counts = ",\n".join(
        f"count(*) FILTER (WHERE p.starts_on <= ${i} AND (p.ends_on IS NULL OR p.ends_on >= ${i})"
        f" AND (a.removal_on IS NULL OR a.removal_on >= ${i})) AS d{i}"
        for i in range(1, days + 1)
    )
    return f"""
    SELECT a.competent_body AS body, {counts}
    FROM registration_periods p JOIN applications a ON a.dossier = p.dossier
    GROUP BY GROUPING SETS ((a.competent_body), ())"""


# The decisions' days in buckets: $3 the buckets' lower bounds, ascending, from 0.
_DISTRIBUTION = f"""
    SELECT {_year("d.decided_at")} AS yr,
           width_bucket({_day("d.decided_at")} - {_day("a.submitted_at")}, $3::int[]) AS bucket,
           count(*) AS decisions
    FROM decisions d JOIN applications a USING (dossier)
    WHERE d.kind = 'review' AND d.decided_at >= $1 AND d.decided_at < $2
    GROUP BY 1, 2"""
BUCKET_DAYS = 10
BUCKETS_UP_TO = 180


def bucket_bounds(norm_days: int) -> list[int]:
    """Lower bounds of the day buckets: every 10 days up to 180, and the day after the norm,
    so that no bucket holds days on both sides of it."""
    return sorted(set(range(0, BUCKETS_UP_TO + 1, BUCKET_DAYS)) | {norm_days + 1})


_FIRST_YEAR = f"""
    SELECT least((SELECT {_year("min(submitted_at)")} FROM applications),
                 (SELECT extract(year FROM min(starts_on))::int FROM registration_periods))"""


async def first_year(conn: Conn, today: date) -> int:
    """The register's first year: of its earliest submission or registration (this year
    when it holds none)."""
    found = await conn.fetchval(_FIRST_YEAR)
    return int(found) if found is not None else today.year


async def year_report(conn: Conn, year: int, now: datetime, norm_days: int) -> YearReport:
    """The figures of `year` as of `now`; InvalidInput (422) for a year before the register
    or not yet begun."""
    return (await year_reports(conn, [year], now, norm_days))[0]


async def year_reports(
    conn: Conn, years: Iterable[int] | None, now: datetime, norm_days: int
) -> list[YearReport]:
    """The figures of each of `years` (None: every year of the register, up to this one),
    ascending, each query once over all of them, in one snapshot."""
    today = now.astimezone(BRUSSELS).date()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # Ten years of the register group in memory rather than on disk.
        await conn.execute("SET LOCAL work_mem = '64MB'")
        start = await first_year(conn, today)
        wanted = sorted(set(range(start, today.year + 1) if years is None else years))
        problems = [(f"year {y}", p) for y in wanted if (p := rules.year_problem(y, start, today))]
        if problems or not wanted:
            raise InvalidInput(problems or [("year", "name at least one year")])
        periods = [rules.period(y, today) for y in wanted]
        lo = _start_of(periods[0].first_day)
        hi = min(now, _start_of(date(wanted[-1] + 1, 1, 1)))
        first, last = periods[0].first_day, periods[-1].last_day
        bodies = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT competent_body FROM applications ORDER BY 1"
        )]  # fmt: skip
        rows: list[Any] = []
        for query, args in (
            (_RECEIVED, (lo, hi)),
            (_RESUBMISSIONS, (lo, hi)),
            (_DECISIONS, (lo, hi, norm_days)),
            (_APPEALS, (lo, hi)),
            (_BEC, (lo, hi)),
            (_ENDS, (lo, hi)),
            (_NOTICES, (lo, hi)),
            (_OVERDUE, (first, last)),
            (_REMOVALS, (first, last)),
            (_FINAL, (first, last)),
            (_SCREENING, (first, last)),
        ):
            rows.extend(await conn.fetch(query, *args))
        days = [d for period in periods for d in (period.first_day, period.last_day)]
        for row in await conn.fetch(_registered(len(days)), *days):
            for i, period in enumerate(periods):
                rows.append({
                    "yr": period.year, "body": row["body"],
                    "registered_first_day": row[f"d{2 * i + 1}"],
                    "registered_last_day": row[f"d{2 * i + 2}"],
                })  # fmt: skip
        bounds = bucket_bounds(norm_days)
        spread = await conn.fetch(_DISTRIBUTION, lo, hi, bounds)
    figures: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        key = (int(row["yr"]), row["body"] or ALL_BODIES)
        found = {k: v for k, v in row.items() if k not in ("yr", "body")}
        figures.setdefault(key, {}).update(found)
    return [
        YearReport(
            year=p.year,
            complete=p.complete,
            first_day=p.first_day,
            last_day=p.last_day,
            period=p.words,
            service_norm_days=norm_days,
            computed_at=now,
            bodies=[_body(body, figures.get((p.year, body), {})) for body in [ALL_BODIES, *bodies]],
            decision_days=_buckets(
                bounds,
                norm_days,
                {int(r["bucket"]): int(r["decisions"]) for r in spread if r["yr"] == p.year},
            ),
        )
        for p in periods
    ]


def _buckets(bounds: list[int], norm_days: int, counts: dict[int, int]) -> list[DaysBucket]:
    # width_bucket numbers the bucket starting at bounds[i] i + 1.
    return [
        DaysBucket(
            from_day=low,
            to_day=bounds[i + 1] - 1 if i + 1 < len(bounds) else None,
            decisions=counts.get(i + 1, 0),
            within_norm=i + 1 < len(bounds) and bounds[i + 1] - 1 <= norm_days,
        )
        for i, low in enumerate(bounds)
    ]


def _body(body: str, found: dict[str, Any]) -> BodyFigures:
    values = {name: found.get(name) for name in FIGURES}
    for name, value in values.items():
        if value is None and name not in _MAY_BE_NONE:
            values[name] = 0
    decisions = values["decisions"]
    values["within_norm_share"] = (
        round(values["decided_within_norm"] / decisions, 3) if decisions else None
    )
    return BodyFigures(body=body, **values)


_MAY_BE_NONE = {
    "decision_days_median",
    "decision_days_p90",
    "decision_days_max",
    "within_norm_share",
    "bec_days_median",
    "bec_days_p90",
}


def as_csv(reports: Iterable[YearReport]) -> str:
    """One line per year and body (the total first): open data, no personal data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for b in report.bodies:
            row = b.model_dump()
            writer.writerow(
                [report.year, str(report.complete).lower(), report.last_day.isoformat()]
                + ["" if row[c] is None else row[c] for c in CSV_COLUMNS[3:]]
            )
    return out.getvalue()

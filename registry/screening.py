"""All SQL of the yearly screening: freezing who is screened, scoring a page of trainings
in one statement, delivery bookkeeping and the run report.

Scoring is set-based: a page of trainings is measured, scored against every criterion of
the rubric (passed in as JSON, so the SQL never changes with the rubric) and written in a
single INSERT .. SELECT. Re-running a page writes nothing twice: results are keyed by
(dossier, step 'screening-<year>'). A row the case wrote first (an outcome signalled to it
directly) is kept as it was told; the run only fills what it lacks (criteria, remarks).

Who is screened follows rules/screening.py (through the SQL function
odb_first_screening_year): registered on the screening date, registration (continued from a
registered predecessor) started on or before 1 January of the data year.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from models.rubric import Rubric
from models.screening import NegativeEntry, Outcome, ResultRow, screening_step
from registry.db import Conn, Db


@dataclass(frozen=True)
class Run:
    year: int
    screening_date: date
    activity_year: int
    rubric: Rubric
    total: int
    resumed: bool
    delivered: int
    not_yet_due: int


async def start_run(
    conn: Conn,
    *,
    year: int,
    screening_date: date,
    rubric: Rubric,
    workflow_id: str,
) -> Run:
    """Creates the year's run and freezes its population, once. A second call (a retried or
    resumed start) returns the run as it was frozen, with the rubric it was frozen with."""
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO screening_runs (year, screening_date, activity_year,
                   rubric_version, rubric, workflow_id)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (year) DO NOTHING""",
            year,
            screening_date,
            year - 1,
            rubric.version,
            rubric.model_dump(mode="json"),
            workflow_id,
        )
        row = await conn.fetchrow("SELECT * FROM screening_runs WHERE year = $1 FOR UPDATE", year)
        assert row is not None
        resumed = row["population_frozen_at"] is not None
        if not resumed:
            total, later = await _freeze_population(conn, year, row["screening_date"])
            await conn.execute(
                """UPDATE screening_runs SET population_frozen_at = now(), total = $2
                   WHERE year = $1""",
                year,
                total,
            )
        else:
            total = row["total"]
            later = await conn.fetchval(
                "SELECT count(*) FROM screening_not_yet_due WHERE year = $1", year
            )
        delivered = await conn.fetchval(
            """SELECT count(*) FROM screening_population
               WHERE year = $1 AND delivery <> 'pending'""",
            year,
        )
    return Run(
        year=year,
        screening_date=row["screening_date"],
        activity_year=row["activity_year"],
        rubric=Rubric.model_validate(row["rubric"]),
        total=int(total),
        resumed=resumed,
        delivered=int(delivered),
        not_yet_due=int(later),
    )


# Registered on the screening date ($2: an open or a later-closed period covers it) and the
# case has not ended since, nor is its removal already scheduled by an earlier year (it
# leaves the register at the end of its removal day whatever a new screening would say, so a
# second notice would only promise a later removal, a new appeal deadline or an extension
# the case does not keep; a removal scheduled by this year's outcome, told to the case
# before the run, stays in so the run completes that row); then split on the registration's start,
# continued through registered predecessors (rules.screening.registration_start: the
# earliest start of the chain; depth-bounded against a cycle in bad data).
_FREEZE = """
WITH RECURSIVE candidates AS (
    SELECT DISTINCT rp.dossier
    FROM registration_periods rp
    JOIN applications a ON a.dossier = rp.dossier
    WHERE rp.starts_on <= $2
      AND (rp.ends_on IS NULL OR rp.ends_on >= $2)
      AND a.state <> 'ended'
      AND (a.state <> 'removal_scheduled' OR EXISTS (
          SELECT 1 FROM screening_results r WHERE r.dossier = a.dossier AND r.year = $1))
),
own AS (
    SELECT dossier, min(starts_on) AS starts_on FROM registration_periods GROUP BY dossier
),
chain AS (
    SELECT c.dossier, a.predecessor_dossier AS prev, o.starts_on, 1 AS depth
    FROM candidates c
    JOIN applications a ON a.dossier = c.dossier
    JOIN own o ON o.dossier = c.dossier
    UNION ALL
    SELECT chain.dossier, p.predecessor_dossier, o.starts_on, chain.depth + 1
    FROM chain
    JOIN applications p ON p.dossier = chain.prev
    JOIN own o ON o.dossier = p.dossier
    WHERE chain.depth < 50
),
started AS (
    SELECT dossier, min(starts_on) AS registered_from,
           odb_first_screening_year(min(starts_on)) AS first_year
    FROM chain GROUP BY dossier
),
due AS (
    INSERT INTO screening_population (year, dossier)
    SELECT $1::int, dossier FROM started WHERE first_year <= $1
    ON CONFLICT DO NOTHING
    RETURNING 1
),
later AS (
    INSERT INTO screening_not_yet_due (year, dossier, registered_from, first_year)
    SELECT $1::int, dossier, registered_from, first_year FROM started WHERE first_year > $1
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM due) AS due, (SELECT count(*) FROM later) AS later
"""


async def _freeze_population(conn: Conn, year: int, screening_date: date) -> tuple[int, int]:
    row = await conn.fetchrow(_FREEZE, year, screening_date)
    assert row is not None
    return int(row["due"]), int(row["later"])


async def first_screening_years(db: Db, days: list[date]) -> list[int]:
    """The SQL rule applied to `days` (tests check it agrees with rules.screening)."""
    rows = await db.fetch(
        """SELECT odb_first_screening_year(d) AS y
           FROM unnest($1::date[]) WITH ORDINALITY AS t(d, i) ORDER BY i""",
        days,
    )
    return [int(r["y"]) for r in rows]


# The measures, one JSON object per training. Each key is a models.rubric.Measure; a JSON
# null means "unknown" and makes the criterion that reads it incomplete.
_SCORE_PAGE = """
WITH run AS (
    SELECT year, screening_date, activity_year, rubric FROM screening_runs WHERE year = $1
),
page AS (
    SELECT p.dossier FROM screening_population p
    WHERE p.year = $1 AND p.dossier > $2
    ORDER BY p.dossier
    LIMIT $3
),
measured AS (
    SELECT page.dossier, jsonb_build_object(
        'sessions_past_year', act.sessions,
        'participants_past_year', act.participants,
        'completion_rate',
            CASE WHEN act.participants = 0 THEN 0::float8
                 ELSE act.completions::float8 / act.participants END,
        'occupations_in_demand', (
            SELECT count(*)
            FROM jsonb_array_elements_text(
                     COALESCE(app.payload -> 'occupation_codes', '[]'::jsonb)) AS c(code)
            JOIN occupations_in_demand o ON o.year = run.year AND o.code = c.code),
        'recognised_certification',
            CASE WHEN EXISTS (
                SELECT 1 FROM recognised_certifications rc
                WHERE rc.name_key = lower(btrim(app.payload ->> 'certification'))
                  AND rc.recognised_from <= run.screening_date
                  AND (rc.recognised_until IS NULL
                       OR rc.recognised_until >= run.screening_date))
            THEN 1 ELSE 0 END
    ) AS vals
    FROM page
    CROSS JOIN run
    JOIN applications app ON app.dossier = page.dossier
    LEFT JOIN training_activity act
        ON act.dossier = page.dossier AND act.year = run.activity_year
),
criteria AS (
    SELECT c.ord, c.value ->> 'id' AS id, c.value ->> 'label' AS label,
           c.value ->> 'measure' AS measure,
           (c.value ->> 'weight')::float8 AS weight,
           COALESCE((c.value ->> 'knockout')::boolean, false) AS knockout,
           c.value -> 'scoring' ->> 'rule' AS rule,
           (c.value -> 'scoring' ->> 'min')::float8 AS min,
           (c.value -> 'scoring' ->> 'zero_at')::float8 AS zero_at,
           (c.value -> 'scoring' ->> 'full_at')::float8 AS full_at
    FROM run, jsonb_array_elements(run.rubric -> 'criteria') WITH ORDINALITY AS c(value, ord)
),
points AS (
    SELECT m.dossier, c.ord, c.id, c.label, c.measure, c.weight, c.knockout, v.value,
           CASE WHEN v.value IS NULL THEN NULL
                WHEN c.rule = 'at_least' THEN
                    CASE WHEN v.value >= c.min THEN c.weight ELSE 0 END
                ELSE c.weight * LEAST(GREATEST(
                    (v.value - c.zero_at) / (c.full_at - c.zero_at), 0), 1)
           END AS points
    FROM measured m
    CROSS JOIN criteria c
    CROSS JOIN LATERAL (SELECT (m.vals ->> c.measure)::float8 AS value) v
),
scored AS (
    SELECT dossier,
           round(sum(points)::numeric, 2)::float8 AS score,
           jsonb_object_agg(id, jsonb_build_object(
               'label', label, 'measure', measure, 'value', value,
               'points', round(points::numeric, 2), 'weight', weight)) AS criteria,
           string_agg(label, '; ' ORDER BY ord) FILTER (WHERE points IS NULL) AS missing,
           string_agg(label, '; ' ORDER BY ord)
               FILTER (WHERE knockout AND points = 0) AS knocked_out,
           string_agg(label || ' (' || round(points::numeric, 1) || '/' || weight || ')',
                      '; ' ORDER BY ord)
               FILTER (WHERE points < weight AND NOT (knockout AND points = 0)) AS short
    FROM points
    GROUP BY dossier
),
judged AS (
    SELECT s.*, run.year, run.activity_year, run.rubric ->> 'version' AS rubric_version,
           (run.rubric ->> 'pass_threshold')::float8 AS threshold,
           CASE WHEN s.missing IS NOT NULL THEN 'incomplete'
                WHEN s.knocked_out IS NOT NULL
                     OR s.score < (run.rubric ->> 'pass_threshold')::float8 THEN 'failed'
                ELSE 'passed' END AS outcome
    FROM scored s CROSS JOIN run
),
written AS (
    INSERT INTO screening_results (dossier, step, year, passed, score, rubric_version,
                                   criteria, remarks, outcome)
    SELECT dossier, $4, year, outcome = 'passed',
           CASE WHEN outcome = 'incomplete' THEN NULL ELSE score END,
           rubric_version, criteria,
           CASE outcome
               WHEN 'incomplete' THEN
                   'Onvolledige gegevens over ' || activity_year || ': ' || missing
                   || '. Zonder deze gegevens kan de opleiding niet positief gescreend worden.'
               WHEN 'failed' THEN
                   'Score ' || score || '/100, drempel ' || threshold || '.'
                   || COALESCE(' Uitsluitend criterium niet gehaald: ' || knocked_out || '.', '')
                   || COALESCE(' Niet (volledig) gehaald: ' || short || '.', '')
               ELSE 'Score ' || score || '/100, drempel ' || threshold || '.'
           END,
           outcome
    FROM judged
    -- The case wrote this row first (its outcome was signalled to it directly): that outcome
    -- was told and stays; only what the case could not know is filled in.
    ON CONFLICT (dossier, step) DO UPDATE
    SET criteria = CASE WHEN screening_results.criteria = '{}'::jsonb
                        THEN EXCLUDED.criteria ELSE screening_results.criteria END,
        remarks = CASE WHEN screening_results.remarks = ''
                       THEN EXCLUDED.remarks ELSE screening_results.remarks END
    WHERE screening_results.criteria = '{}'::jsonb OR screening_results.remarks = ''
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM page) AS count,
       (SELECT max(dossier) FROM page) AS last,
       (SELECT count(*) FROM written WHERE inserted) AS written
"""


async def score_page(db: Db, year: int, after: str, limit: int) -> tuple[int, str, int]:
    """Scores the next `limit` trainings after dossier `after`: (count, last, newly written)."""
    row = await db.fetchrow(_SCORE_PAGE, year, after, limit, screening_step(year))
    assert row is not None
    return int(row["count"]), row["last"] or "", int(row["written"])


@dataclass(frozen=True)
class Delivery:
    dossier: str
    result_id: int
    outcome: str
    passed: bool
    score: float | None
    rubric_version: str
    remarks: str
    criteria: dict[str, Any]
    notified_on: date | None
    case_state: str
    title: str
    provider_name: str
    contact_email: str


async def pending_deliveries(db: Db, year: int, after: str, upto: str) -> list[Delivery]:
    """Results of one page (after, upto] whose case has not been told yet."""
    rows = await db.fetch(
        """SELECT p.dossier, r.id AS result_id, r.outcome, r.passed, r.score,
                  r.rubric_version, r.remarks, r.criteria, r.notified_on,
                  a.state AS case_state, a.title, a.provider_name, a.contact_email
           FROM screening_population p
           JOIN screening_results r ON r.dossier = p.dossier AND r.step = $4
           JOIN applications a ON a.dossier = p.dossier
           WHERE p.year = $1 AND p.dossier > $2 AND p.dossier <= $3
             AND p.delivery = 'pending'
           ORDER BY p.dossier""",
        year,
        after,
        upto,
        screening_step(year),
    )
    return [Delivery(**dict(r)) for r in rows]


async def set_notified_on_from_sending(db: Db, year: int, dossiers: list[str]) -> None:
    """The notice day is the Brussels day its e-mail was accepted by SMTP (receipt of the
    decision): the appeal window and the removal date run from it. Set once; a day the case
    recorded first is kept."""
    await db.execute(
        """UPDATE screening_results r
           SET notified_on = (n.sent_at AT TIME ZONE 'Europe/Brussels')::date
           FROM notifications n
           WHERE r.step = $1 AND r.dossier = ANY($2::text[]) AND r.notified_on IS NULL
             AND n.dossier = r.dossier AND n.step = r.step
             AND n.kind = 'screening_result' AND n.status = 'sent'""",
        screening_step(year),
        dossiers,
    )


async def notified_on(db: Db, year: int, dossiers: list[str]) -> dict[str, date]:
    rows = await db.fetch(
        """SELECT dossier, notified_on FROM screening_results
           WHERE step = $1 AND dossier = ANY($2::text[]) AND notified_on IS NOT NULL""",
        screening_step(year),
        dossiers,
    )
    return {r["dossier"]: r["notified_on"] for r in rows}


async def mark_delivered(db: Db, year: int, dossiers: list[str], delivery: str) -> None:
    await db.execute(
        """UPDATE screening_population SET delivery = $3, delivered_at = now()
           WHERE year = $1 AND dossier = ANY($2::text[]) AND delivery = 'pending'""",
        year,
        dossiers,
        delivery,
    )


async def delivery_counts(db: Db, year: int) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT delivery, count(*) AS n FROM screening_population WHERE year = $1 GROUP BY 1",
        year,
    )
    return {r["delivery"]: int(r["n"]) for r in rows}


@dataclass(frozen=True)
class ReportFacts:
    year: int
    screening_date: date
    rubric_version: str
    total: int
    counts: dict[str, int]
    distribution: dict[str, int]
    delivery: dict[str, int]
    case_ended: list[str]
    negatives: list[NegativeEntry]
    emails_sent: int
    not_yet_due: dict[int, int]


async def report_facts(db: Db, year: int) -> ReportFacts:
    """Everything the run report says, computed from the registry (so a resumed run reports
    the whole run, not only what its last attempt did)."""
    step = screening_step(year)
    run = await db.fetchrow("SELECT * FROM screening_runs WHERE year = $1", year)
    assert run is not None
    counts = await db.fetch(
        """SELECT r.outcome, count(*) AS n FROM screening_population p
           JOIN screening_results r ON r.dossier = p.dossier AND r.step = $2
           WHERE p.year = $1 GROUP BY 1""",
        year,
        step,
    )
    buckets = await db.fetch(
        """SELECT LEAST(floor(r.score / 10), 9)::int AS bucket, count(*) AS n
           FROM screening_population p
           JOIN screening_results r ON r.dossier = p.dossier AND r.step = $2
           WHERE p.year = $1 AND r.score IS NOT NULL GROUP BY 1 ORDER BY 1""",
        year,
        step,
    )
    negatives = await db.fetch(
        """SELECT r.dossier, r.outcome, r.passed, r.score, r.rubric_version, r.remarks
           FROM screening_population p
           JOIN screening_results r ON r.dossier = p.dossier AND r.step = $2
           WHERE p.year = $1 AND NOT r.passed ORDER BY r.dossier""",
        year,
        step,
    )
    ended = await db.fetch(
        """SELECT dossier FROM screening_population
           WHERE year = $1 AND delivery = 'case_ended' ORDER BY dossier""",
        year,
    )
    sent = await db.fetchval(
        """SELECT count(*) FROM notifications n
           JOIN screening_population p ON p.dossier = n.dossier AND p.year = $1
           WHERE n.step = $2 AND n.kind = 'screening_result' AND n.status = 'sent'""",
        year,
        step,
    )
    later = await db.fetch(
        """SELECT first_year, count(*) AS n FROM screening_not_yet_due WHERE year = $1
           GROUP BY 1 ORDER BY 1""",
        year,
    )
    distribution = {f"{b * 10}-{b * 10 + 9 if b < 9 else 100}": 0 for b in range(10)}
    for r in buckets:
        b = int(r["bucket"])
        distribution[f"{b * 10}-{b * 10 + 9 if b < 9 else 100}"] = int(r["n"])
    return ReportFacts(
        year=year,
        screening_date=run["screening_date"],
        rubric_version=run["rubric_version"],
        total=int(run["total"] or 0),
        counts={o.value: 0 for o in Outcome} | {r["outcome"]: int(r["n"]) for r in counts},
        distribution=distribution,
        delivery=await delivery_counts(db, year),
        case_ended=[r["dossier"] for r in ended],
        negatives=[_negative(step, r) for r in negatives],
        emails_sent=int(sent or 0),
        not_yet_due={int(r["first_year"]): int(r["n"]) for r in later},
    )


def _negative(step: str, r: asyncpg.Record) -> NegativeEntry:
    # Checked first: a bad row fails the report naming its dossier, not as a bare
    # validation error of the report model.
    row = ResultRow.check(step, **dict(r))
    return NegativeEntry(
        dossier=row.dossier, outcome=row.outcome, score=row.score, remarks=row.remarks
    )


async def store_report(db: Db, year: int, report: dict[str, Any]) -> None:
    await db.execute(
        """UPDATE screening_runs SET report = $2, finished_at = COALESCE(finished_at, now())
           WHERE year = $1""",
        year,
        report,
    )


async def stored_report(db: Db, year: int) -> dict[str, Any] | None:
    value = await db.fetchval("SELECT report FROM screening_runs WHERE year = $1", year)
    return None if value is None else dict(value)


async def criteria_of(db: Db, dossier: str, provider: str) -> dict[int, dict[str, float]]:
    """Each year's score per criterion of one organisation's dossier (none for another's),
    so its page can say why a screening came out as it did."""
    rows = await db.fetch(
        """SELECT s.year, s.criteria FROM screening_results s
           JOIN applications a ON a.dossier = s.dossier
           WHERE s.dossier = $1 AND a.provider = $2 ORDER BY s.year""",
        dossier,
        provider,
    )
    found: dict[int, dict[str, float]] = {}
    for row in rows:
        value = row["criteria"]
        scores = json.loads(value) if isinstance(value, str) else dict(value or {})
        found[int(row["year"])] = {
            str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)
        }
    return found


# ---- the department's pages: the runs and each training's outcome ----


@dataclass(frozen=True)
class RunProgress:
    year: int
    screening_date: date
    rubric_version: str
    started_at: datetime
    finished_at: datetime | None
    total: int | None  # None until the population is frozen
    scored: int
    told: int  # the case was told (or had ended: reported, not told)
    passed: int
    failed: int
    incomplete: int


async def runs(db: Db) -> list[RunProgress]:
    """Every screening run, the latest year first, with how far it got."""
    rows = await db.fetch(
        """SELECT r.year, r.screening_date, r.rubric_version, r.started_at, r.finished_at,
                  r.total,
                  count(s.dossier) AS scored,
                  count(p.dossier) FILTER (WHERE p.delivery <> 'pending') AS told,
                  count(*) FILTER (WHERE s.outcome = 'passed') AS passed,
                  count(*) FILTER (WHERE s.outcome = 'failed') AS failed,
                  count(*) FILTER (WHERE s.outcome = 'incomplete') AS incomplete
           FROM screening_runs r
           LEFT JOIN screening_population p ON p.year = r.year
           LEFT JOIN screening_results s
                  ON s.dossier = p.dossier AND s.step = 'screening-' || r.year
           GROUP BY r.year ORDER BY r.year DESC"""
    )
    return [RunProgress(**dict(r)) for r in rows]


@dataclass(frozen=True)
class TrainingOutcome:
    dossier: str
    title: str
    provider_name: str
    outcome: str | None  # None: not scored yet
    score: float | None
    remarks: str
    notified_on: date | None
    delivery: str


async def outcomes_page(
    db: Db, year: int, after: str, limit: int
) -> tuple[int, list[TrainingOutcome], bool]:
    """The trainings of `year`'s run after dossier `after`, by dossier number: (how many in
    all, this page, whether more follow)."""
    total = await db.fetchval(
        "SELECT count(*) FROM screening_population WHERE year = $1", year
    )
    rows = await db.fetch(
        """SELECT p.dossier, a.title, a.provider_name, s.outcome, s.score,
                  COALESCE(s.remarks, '') AS remarks, s.notified_on, p.delivery
           FROM screening_population p
           JOIN applications a ON a.dossier = p.dossier
           LEFT JOIN screening_results s ON s.dossier = p.dossier AND s.step = $4
           WHERE p.year = $1 AND p.dossier > $2
           ORDER BY p.dossier LIMIT $3""",
        year,
        after,
        limit + 1,
        screening_step(year),
    )
    return (
        int(total or 0),
        [TrainingOutcome(**dict(r)) for r in rows[:limit]],
        len(rows) > limit,
    )

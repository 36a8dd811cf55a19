"""Demo data for the screening: registered trainings with plausible activity facts, the
year's occupations in demand and recognised certificates. Used by `python -m starter demo`,
bench/seed.py and tests; never by the running system (which is why it lives in starter/,
not registry/).

Dossier numbers come from the registry's own counter, so demo dossiers never collide with
real ones. The mix is roughly that of the first real screening (2021: 4,915 screened,
756 negative): about 15% negative, a few incomplete.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from models.application import TrainingApplication, VolumeUnit
from models.case import CaseInput, CaseState, CaseStatus
from models.case_row import CaseRow
from registry import applications, case_rows
from registry.db import Conn
from rules import case_view

IN_DEMAND = [
    ("2512", "Softwareontwikkelaar"),
    ("3221", "Verpleegkundige"),
    ("7126", "Loodgieter"),
    ("7411", "Elektricien"),
    ("8332", "Vrachtwagenchauffeur"),
    ("2144", "Ingenieur werktuigbouw"),
    ("5120", "Kok"),
    ("2341", "Leerkracht lager onderwijs"),
]
OTHER_OCCUPATIONS = ["4110", "5223", "9112", "4311", "2431"]
RECOGNISED = ["VCA-basis", "Heftruckattest", "Cisco CCNA", "Lasser EN ISO 9606"]
UNRECOGNISED = ["Intern certificaat", "Deelnameattest"]


def enterprise_number(i: int) -> str:
    base = 2_000_000 + i  # 8 digits with a leading 0: a valid 10-digit number
    return f"{base:08d}{97 - base % 97:02d}"


async def seed_reference(conn: Conn, year: int) -> None:
    """The year's occupations in demand and the recognised certificates (idempotent)."""
    await conn.executemany(
        """INSERT INTO occupations_in_demand (year, code, label) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        [(year, code, label) for code, label in IN_DEMAND],
    )
    await conn.executemany(
        """INSERT INTO recognised_certifications (name_key, name, recognised_from)
           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
        [(name.lower(), name, date(2015, 1, 1)) for name in RECOGNISED],
    )


async def seed_registered(
    conn: Conn,
    n: int,
    *,
    year: int,
    seed: int = 1,
    providers: int = 40,
    email_domain: str = "example.be",
) -> list[str]:
    """Creates `n` trainings registered since before the screening date of `year`, each
    with an activity report for `year - 1` (some incomplete or empty). Returns the dossiers."""
    rng = random.Random(seed)
    await seed_reference(conn, year)
    numbers = [enterprise_number(i) for i in range(providers)]
    await conn.executemany(
        """INSERT INTO providers (enterprise_number, name, contact_email) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        [
            (en, f"Opleidingscentrum {i + 1}", f"info{i + 1}@{email_domain}")
            for i, en in enumerate(numbers)
        ],
    )
    dossier_year = year - 2
    first = await applications.reserve_numbers(conn, dossier_year, n)
    submitted = datetime(dossier_year, 3, 1, 9, 0, tzinfo=UTC)
    imported: list[applications.Imported] = []
    activity: list[tuple[Any, ...] | None] = []
    rows: list[CaseRow] = []
    dossiers: list[str] = []
    for k in range(n):
        dossier = f"ODB-{dossier_year}-{first + k:06d}"
        dossiers.append(dossier)
        p = rng.randrange(providers)
        codes = [c for c, _ in IN_DEMAND] + OTHER_OCCUPATIONS
        occupations = rng.sample(codes, rng.choice([0, 1, 1, 2]))
        cert = rng.choice([*RECOGNISED, *UNRECOGNISED, None, None])
        application = TrainingApplication(
            provider=numbers[p],
            provider_name=f"Opleidingscentrum {p + 1}",
            contact_email=f"opleidingen{p + 1}@{email_domain}",
            title=f"Opleiding {first + k} ({rng.choice(['basis', 'gevorderd', 'expert'])})",
            start_date=date(dossier_year, 9, 1),
            volume_unit=VolumeUnit.CONTACT_HOURS,
            volume=Decimal(rng.choice([32, 40, 60, 120])),
            occupation_codes=tuple(occupations),
            certification=cert,
        )
        registered_from = submitted.date() + timedelta(days=rng.randint(60, 300))
        imported.append(
            applications.Imported(
                dossier, application, application.provider_name, f"demo-{dossier}",
                submitted, registered_from,
            )
        )  # fmt: skip
        rows.append(
            registered_row(
                dossier, application, submitted_at=submitted, registered_from=registered_from
            )
        )
        activity.append(_activity_row(rng, dossier, year - 1))
    async with conn.transaction():
        await applications.import_registered(conn, imported)
        await conn.executemany(
            """INSERT INTO training_activity (dossier, year, sessions, participants, completions)
               VALUES ($1, $2, $3, $4, $5)""",
            [a for a in activity if a is not None],
        )
        await case_rows.write_many(conn, rows)
    return dossiers


def _activity_row(rng: random.Random, dossier: str, year: int) -> tuple[Any, ...] | None:
    roll = rng.random()
    if roll < 0.02:
        return None  # no activity report: incomplete
    if roll < 0.03:
        return (dossier, year, rng.randint(1, 4), rng.randint(5, 30), None)  # completions unknown
    if roll < 0.10:
        return (dossier, year, 0, 0, 0)  # not organised: knockout
    sessions = rng.randint(1, 10)
    participants = rng.randint(3, 20) * sessions
    rate = rng.uniform(0.5, 1.0)
    return (dossier, year, sessions, participants, int(participants * rate))


async def set_activity(
    conn: Conn,
    dossier: str,
    year: int,
    sessions: int | None,
    participants: int | None,
    completions: int | None,
) -> None:
    """Sets one training's activity report (tests use it to make a case pass or fail)."""
    await conn.execute(
        """INSERT INTO training_activity (dossier, year, sessions, participants, completions)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (dossier, year) DO UPDATE SET sessions = EXCLUDED.sessions,
               participants = EXCLUDED.participants, completions = EXCLUDED.completions""",
        dossier,
        year,
        sessions,
        participants,
        completions,
    )


async def forget_activity(conn: Conn, dossier: str, year: int) -> None:
    await conn.execute(
        "DELETE FROM training_activity WHERE dossier = $1 AND year = $2", dossier, year
    )


# ---- the newcomer's demo: one training per outcome, registered long enough ago ----

# (title, sessions, participants, completions, occupations, certification): the activity
# report of the data year decides the outcome with the example rubric.
DUE_PROFILES: list[tuple[str, int | None, int | None, int | None, tuple[str, ...], str | None]] = [
    # organised often, well attended, completed, an occupation in demand, recognised: passed
    ("Heftruckchauffeur met VCA (sinds 2023)", 8, 96, 88, ("8332",), "VCA-basis"),
    # not organised in the data year: the knockout criterion fails it
    ("Keramiek voor beginners (sinds 2023)", 0, 0, 0, (), None),
    # no activity report for the data year: incomplete
    ("Bakkerij: brood en banket (sinds 2023)", None, None, None, ("5120",), None),
]


async def seed_due_trainings(
    conn: Conn, *, year: int, provider: str, provider_name: str, contact_email: str
) -> list[tuple[str, TrainingApplication, datetime, date]]:
    """Trainings of `provider` registered since 1 March of `year` - 3, so due in the
    screening of `year`, each with (or, for the incomplete one, without) its activity report
    of `year` - 1. Returns (dossier, application, submitted at, registered from) so the
    caller can start their cases. The caller's own fresh cases are the "not yet due" ones."""
    await seed_reference(conn, year)
    since = year - 3
    n = len(DUE_PROFILES)
    last = await conn.fetchval(
        """INSERT INTO dossier_counters (year, last_value) VALUES ($1, $2)
           ON CONFLICT (year) DO UPDATE SET last_value = dossier_counters.last_value + $2
           RETURNING last_value""",
        since,
        n,
    )
    submitted = datetime(since, 1, 10, 9, 0, tzinfo=UTC)
    registered_from = date(since, 3, 1)
    made: list[tuple[str, TrainingApplication, datetime, date]] = []
    async with conn.transaction():
        for k, (title, sessions, participants, completions, codes, cert) in enumerate(DUE_PROFILES):
            dossier = f"ODB-{since}-{int(last) - n + 1 + k:06d}"
            application = TrainingApplication(
                provider=provider,
                provider_name=provider_name,
                contact_email=contact_email,
                title=title,
                start_date=date(since, 4, 1),
                volume_unit=VolumeUnit.CONTACT_HOURS,
                volume=Decimal(60),
                occupation_codes=codes,
                certification=cert,
            )
            payload = application.model_dump(mode="json")
            digest = hashlib.sha256(
                json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            await conn.execute(
                """INSERT INTO applications (dossier, provider, idempotency_key,
                       payload_sha256, payload, title, provider_name, contact_email,
                       start_date, volume_unit, volume, competent_body, submitted_at, state)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                           'registered')""",
                dossier,
                provider,
                f"demo-{dossier}",
                digest,
                payload,
                title,
                provider_name,
                contact_email,
                application.start_date,
                application.volume_unit.value,
                application.volume,
                application.competent_body,
                submitted,
            )
            await conn.execute(
                """INSERT INTO registration_periods (dossier, starts_on, opened_step)
                   VALUES ($1, $2, 'review')""",
                dossier,
                registered_from,
            )
            row = registered_row(
                dossier, application, submitted_at=submitted, registered_from=registered_from
            )
            await case_rows.write(conn, row)
            if sessions is not None:
                await set_activity(conn, dossier, year - 1, sessions, participants, completions)
            made.append((dossier, application, submitted, registered_from))
    return made


def registered_status(
    dossier: str, application: TrainingApplication, *, submitted_at: datetime, registered_from: date
) -> CaseStatus:
    """A case as it stands after its approval: registered."""
    status = case_view.initial_status(dossier, application, submitted_at)
    status.state = CaseState.REGISTERED
    status.registered_from = registered_from
    status.waiting_for, status.next_step = case_view.who_and_what(status)
    return status


def registered_row(
    dossier: str, application: TrainingApplication, *, submitted_at: datetime, registered_from: date
) -> CaseRow:
    """The registry's current-state row of a seeded registered case, as its approval left it."""
    status = registered_status(
        dossier, application, submitted_at=submitted_at, registered_from=registered_from
    )
    approved_at = datetime.combine(registered_from, time(12), tzinfo=UTC)
    return case_view.case_row(status, step="review", at=approved_at)


def registered_case(
    dossier: str, application: TrainingApplication, *, submitted_at: datetime, registered_from: date
) -> CaseInput:
    """A case's input as if it had continued as new after its approval: registered."""
    status = registered_status(
        dossier, application, submitted_at=submitted_at, registered_from=registered_from
    )
    return CaseInput(
        dossier=dossier, application=application, submitted_at=submitted_at, carried=status
    )

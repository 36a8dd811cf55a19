"""The register as the simulation finds it: providers and registered trainings, each with
its live case asleep in the registered state (as a case that continued as new after its
approval: bench/seed.py), its registry rows and its current-state row; and, each year, the
activity reports the screening judges.

Seeded in bulk (the way bench/seed.py and the demo do) rather than through thousands of
submissions and reviews the simulation does not measure. Every registration starts on or
before 1 January of the year before the first simulated year, so the whole register is due
at the first screening, as in 2021.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio.client import Client

from bench.decade.world import REGISTERED, Dossier, World
from bench.seed import bounded, registered_input, seeded_row, start_registered_case
from models.application import TrainingApplication, VolumeUnit
from registry import applications, case_rows
from starter.cli import demo_data

BODIES = ["VOC"] * 6 + ["PC 200", "PC 124", "PC 118.03", "PC 302"]
KINDS = ["basis", "gevorderd", "expert", "opfrissing"]
SUBJECTS = ["Lassen", "Boekhouden", "Heftruck", "Verpleegkunde", "Python", "Elektriciteit",
            "Logistiek", "Koken", "Timmeren", "Leidinggeven"]  # fmt: skip


@dataclass(frozen=True)
class Provider:
    number: str
    name: str
    email: str


def enterprise_number(shard: int, i: int) -> str:
    base = 3_000_000 + shard * 40_000 + i  # 8 digits, leading 0: a valid 10-digit number
    return f"{base:08d}{97 - base % 97:02d}"


def providers_of(shard: int, count: int) -> list[Provider]:
    return [
        Provider(
            number=enterprise_number(shard, i),
            name=f"Opleider {shard}.{i + 1}",
            email=f"opleidingen{i + 1}@s{shard}.example.be",
        )
        for i in range(count)
    ]


def application(
    rng: random.Random,
    provider: Provider,
    title: str,
    start_date: date,
    predecessor: str | None = None,
) -> TrainingApplication:
    body = rng.choice(BODIES)
    return TrainingApplication(
        provider=provider.number,
        provider_name=provider.name,
        contact_email=provider.email,
        title=title,
        start_date=start_date,
        volume_unit=VolumeUnit.CONTACT_HOURS,
        volume=Decimal(rng.choice([32, 40, 60, 120])),
        joint_committee=None if body == "VOC" else body,
        predecessor_dossier=predecessor,
    )


def title(rng: random.Random, shard: int, n: int) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(KINDS)} (s{shard}-{n})"


def draw(
    rng: random.Random,
    *,
    shard: int,
    trainings: int,
    providers: list[Provider],
    first_year: int,
) -> list[tuple[TrainingApplication, datetime, date]]:
    """The register to seed: (application, submitted at, registered from) per training."""
    earliest = date(first_year - 7, 1, 1)
    latest = date(first_year - 1, 1, 1)  # due at the first simulated screening
    span = (latest - earliest).days
    made: list[tuple[TrainingApplication, datetime, date]] = []
    for k in range(trainings):
        provider = rng.choice(providers)
        starts_on = earliest + timedelta(days=rng.randint(0, span))
        submitted = datetime.combine(
            starts_on - timedelta(days=rng.randint(20, 90)), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=9)
        app = application(rng, provider, title(rng, shard, k), starts_on + timedelta(days=30))
        made.append((app, submitted, starts_on))
    return made


async def seed(
    pool: asyncpg.Pool[Any],
    client: Client,
    task_queue: str,
    world: World,
    rng: random.Random,
    *,
    shard: int,
    trainings: int,
    providers: list[Provider],
    first_year: int,
) -> list[str]:
    """Registers the providers and `trainings` registered trainings; starts their cases."""
    await pool.executemany(
        """INSERT INTO providers (enterprise_number, name, contact_email) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        [(p.number, p.name, p.email) for p in providers],
    )
    made = draw(rng, shard=shard, trainings=trainings, providers=providers, first_year=first_year)
    # Dossier numbers from the registry's own counters, per year of submission.
    by_year: dict[int, int] = {}
    for _, submitted, _ in made:
        by_year[submitted.year] = by_year.get(submitted.year, 0) + 1
    first: dict[int, int] = {}
    async with pool.acquire() as conn:
        for year, n in sorted(by_year.items()):
            first[year] = await applications.reserve_numbers(conn, year, n)
    imported: list[applications.Imported] = []
    dossiers: list[str] = []
    for app, submitted, starts_on in made:
        year = submitted.year
        dossier = f"ODB-{year}-{first[year]:06d}"
        first[year] += 1
        dossiers.append(dossier)
        provider_name = next(p.name for p in providers if p.number == app.provider)
        imported.append(
            applications.Imported(
                dossier, app, provider_name, f"seed-{dossier}", submitted, starts_on
            )
        )
        world.add(
            Dossier(
                number=dossier,
                training=world.new_training(),
                provider=app.provider,
                body=app.competent_body,
                submitted_at=submitted,
                state=REGISTERED,
                start=starts_on,
                chain_start=starts_on,
            )
        )
    async with pool.acquire() as conn, conn.transaction():
        await applications.import_registered(conn, imported)
    rows = {
        r["dossier"]: r
        for r in await pool.fetch(
            """SELECT a.dossier, a.payload, a.submitted_at, min(rp.starts_on) AS starts_on
               FROM applications a JOIN registration_periods rp ON rp.dossier = a.dossier
               WHERE a.dossier = ANY($1::text[]) GROUP BY a.dossier""",
            dossiers,
        )
    }
    inputs = [registered_input(d, rows[d]) for d in dossiers]
    async with pool.acquire() as conn, conn.transaction():
        for inp in inputs:
            await case_rows.write(conn, seeded_row(inp))

    async def start(i: int) -> None:
        await start_registered_case(client, task_queue, inputs[i])

    await bounded(range(len(inputs)), 16, start)
    return dossiers


# The activity report of a year decides the screening outcome with the example rubric:
# held and well attended and completed -> 70 points or more (passed); not held -> the
# knockout criterion fails it; no report -> incomplete (treated as negative).
PASSING = (6, 60, 54)
KNOCKOUT = (0, 0, 0)


async def write_activity(
    pool: asyncpg.Pool[Any], screening_year: int, verdicts: dict[str, str]
) -> None:
    """The reports of `screening_year - 1` (the year the screening judges) and the year's
    reference lists: `verdicts` maps a dossier to passed, failed or incomplete."""
    rows = [
        (dossier, screening_year - 1, *(PASSING if verdict == "passed" else KNOCKOUT))
        for dossier, verdict in verdicts.items()
        if verdict != "incomplete"
    ]
    async with pool.acquire() as conn, conn.transaction():
        await demo_data.seed_reference(conn, screening_year)
        await conn.executemany(
            """INSERT INTO training_activity (dossier, year, sessions, participants, completions)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (dossier, year) DO UPDATE SET sessions = EXCLUDED.sessions,
                   participants = EXCLUDED.participants, completions = EXCLUDED.completions""",
            rows,
        )

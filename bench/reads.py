"""Portal reads at the register's scale, through the real API process: the registry holds
`--cases` cases (`--review` of them waiting for the VOC's reviewers, the rest registered,
refused with a window open, in appeal at the BEC, removal scheduled), seeded straight into
PostgreSQL with the rows their steps would have written (rules.case_view.case_row). No
Temporal server runs at all: the reads need none.

It measures, per role, a worklist page of 20 (the first page, and pages deep into the list
by cursor); GET /dossiers/{d} sent at `--rate` requests per second for `--seconds`; and the
open-data CSV of the day. Targets (issue 21): worklist page p99 < 50 ms for every role,
GET /dossiers/{d} p99 < 20 ms at 100 requests/s, open-data CSV of 100,000 rows < 2 s.

    .venv/bin/python -m bench.reads                       # 100,000 cases, 5,000 for VOC
    .venv/bin/python -m bench.reads --cases 20000 --review 1000 --seconds 5   # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.registry_api import registry_api
from models.application import TrainingApplication, VolumeUnit
from models.case import Appeal, AppealSubject, CaseState, CaseStatus
from models.case_row import CaseRow
from registry import case_rows, db, migrate, providers
from rules import case_view, deadlines
from runtime.settings import load_settings

PROVIDERS = 200


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def enterprise_number(i: int) -> str:
    """A valid enterprise number (check digits 97 - first eight mod 97), one per i."""
    first8 = 10_000_000 + i
    return f"{first8:08d}{97 - first8 % 97:02d}"


def _status(
    kind: str, dossier: str, app: TrainingApplication, submitted: datetime, rng: random.Random
) -> CaseStatus:
    s = case_view.initial_status(dossier, app, submitted)
    today = date.today()
    if kind == "registered":
        s.state, s.registered_from = CaseState.REGISTERED, submitted.date() + timedelta(days=30)
    elif kind == "refused":
        s.state = CaseState.REFUSED
        s.appeal_window = deadlines.appeal_window(today - timedelta(days=rng.randint(0, 25)))
        s.appeal_window_subject = AppealSubject.REFUSAL
    elif kind == "in_appeal":
        received = today - timedelta(days=rng.randint(0, 70))
        s.state = CaseState.IN_APPEAL
        s.appeals = [
            Appeal(
                number=1,
                subject=AppealSubject.REFUSAL,
                filed_at=datetime.combine(received, datetime.min.time(), tzinfo=UTC),
                filed_by="x",
                motivation="beroep",
                deadline=deadlines.bec_decision_deadline(received),
                overdue=(today - received).days > 60,
                document_id=None if rng.random() < 0.3 else "d",
            )
        ]
    elif kind == "removal":
        notice = date(today.year - 1, 2, 1)
        s.state = CaseState.REMOVAL_SCHEDULED
        s.registered_from = submitted.date()
        s.removal = deadlines.removal_after_negative_screening(notice)
    return s


def _kinds(cases: int, review: int) -> list[str]:
    rest = cases - review
    mix = {"refused": 0.01, "in_appeal": 0.008, "removal": 0.02}
    kinds = ["under_review"] * review
    for kind, share in mix.items():
        kinds += [kind] * int(rest * share)
    kinds += ["registered"] * (cases - len(kinds))
    return kinds


async def seed(
    dsn: str, cases: int, review: int, seed_value: int, provider_count: int = PROVIDERS
) -> list[str]:
    rng = random.Random(seed_value)
    settings = load_settings(postgres={"url": dsn})
    conn = await db.connect(settings)
    try:
        await migrate.migrate(conn)
        numbers = [enterprise_number(i) for i in range(provider_count)]
        for i, number in enumerate(numbers):
            await providers.upsert(conn, number, f"Opleider {i}", f"info{i}@example.be")
        year = date.today().year
        await conn.execute(
            "INSERT INTO dossier_counters (year, last_value) VALUES ($1, $2)", year, cases
        )
        kinds = _kinds(cases, review)
        rng.shuffle(kinds)
        dossiers: list[str] = []
        for start in range(0, cases, 5000):
            apps, periods, rows = [], [], []
            for k in range(start, min(cases, start + 5000)):
                dossier = f"ODB-{year}-{k + 1:06d}"
                number = numbers[k % provider_count]
                submitted = datetime.now(UTC) - timedelta(days=rng.randint(1, 700), minutes=k)
                app = TrainingApplication(
                    provider=number,
                    contact_email="dossiers@example.be",
                    title=f"Opleiding {k}",
                    start_date=submitted.date() + timedelta(days=120),
                    volume_unit=VolumeUnit.CONTACT_HOURS,
                    volume=Decimal(40),
                )
                payload = app.model_dump(mode="json")
                digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
                status = _status(kinds[k], dossier, app, submitted, rng)
                apps.append((
                    dossier, number, f"bench-{dossier}", digest, payload, app.title,
                    f"Opleider {k % provider_count}", app.contact_email, app.start_date,
                    app.volume_unit.value, app.volume, app.competent_body, submitted,
                    status.state.value,
                ))  # fmt: skip
                if status.registered_from is not None:
                    periods.append((dossier, status.registered_from))
                row: CaseRow = case_view.case_row(status, step="bench", at=submitted)
                rows.append(row)
                dossiers.append(dossier)
            async with conn.transaction():
                await conn.executemany(
                    """INSERT INTO applications (dossier, provider, idempotency_key,
                           payload_sha256, payload, title, provider_name, contact_email,
                           start_date, volume_unit, volume, competent_body, submitted_at, state)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
                    apps,
                )
                await conn.executemany(
                    """INSERT INTO registration_periods (dossier, starts_on, opened_step)
                       VALUES ($1, $2, 'review')""",
                    periods,
                )
                await case_rows.write_many(conn, rows)
        await conn.execute("ANALYZE")
        return dossiers
    finally:
        await conn.close()


async def timed(http: httpx.AsyncClient, path: str, **kw: Any) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    answer = await http.get(path, **kw)
    return (time.perf_counter() - start) * 1000, answer


async def worklists(http: httpx.AsyncClient, tokens: dict[str, str], pages: int) -> None:
    for role, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        times: list[float] = []
        first = await http.get("/worklist", params={"limit": "20"}, headers=headers)
        assert first.status_code == 200, first.text
        counts = ", ".join(f"{p['list']}={p['count']}" for p in first.json()["lists"])
        for page in first.json()["lists"]:
            cursor: str | None = None
            for _ in range(pages):
                params = {"list": page["list"], "limit": "20"}
                if cursor:
                    params["cursor"] = cursor
                ms, answer = await timed(http, "/worklist", params=params, headers=headers)
                assert answer.status_code == 200, answer.text
                times.append(ms)
                # At the list's end (no next cursor) it starts from the first page again.
                cursor = answer.json()["lists"][0]["next_cursor"]
        print(
            f"worklist {role:<12} {len(times):>4} pages  p50 {pct(times, 0.5):6.1f} ms  "
            f"p99 {pct(times, 0.99):6.1f} ms  ({counts})",
            flush=True,
        )


async def dossier_reads(
    http: httpx.AsyncClient, token: str, dossiers: list[str], rate: float, seconds: float
) -> None:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    statuses: dict[int, int] = {}
    tasks: list[asyncio.Task[None]] = []

    async def one(dossier: str) -> None:
        ms, answer = await timed(http, f"/dossiers/{dossier}", headers=headers)
        times.append(ms)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    started = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(rng.choice(dossiers))))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    print(
        f"GET /dossiers/{{d}}  {n} requests at {n / elapsed:.0f}/s  p50 {pct(times, 0.5):6.1f} ms"
        f"  p99 {pct(times, 0.99):6.1f} ms  statuses {statuses}",
        flush=True,
    )


async def open_data(http: httpx.AsyncClient, token: str, runs: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    times, lines = [], 0
    for _ in range(runs):
        ms, answer = await timed(
            http,
            "/open-data/registered.csv",
            params={"on": date.today().isoformat()},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        times.append(ms)
        lines = answer.text.count("\n") - 1
    print(
        f"open data of the day: {lines} rows  max {max(times):7.0f} ms  "
        f"(runs {', '.join(f'{t:.0f}' for t in times)} ms)",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    dossiers: list[str] = []

    async def seeded(dsn: str) -> None:
        t0 = time.perf_counter()
        dossiers.extend(await seed(dsn, args.cases, args.review, args.seed))
        print(
            f"seeded {len(dossiers)} cases ({args.review} for VOC) in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="odb-bench-reads-") as tmp:
        async with registry_api(Path(tmp), seeded) as api:
            tokens = {
                "reviewer VOC": api.token("reviewer:VOC"),
                "BEC": api.token("bec"),
                "department": api.token("department"),
                "provider": api.token("provider", org=enterprise_number(3)),
            }
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(base_url=api.base, timeout=30, limits=limits) as http:
                await worklists(http, tokens, args.pages)
                await dossier_reads(http, tokens["department"], dossiers, args.rate, args.seconds)
                await open_data(http, tokens["department"], 3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--review", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=100.0, help="GET /dossiers/{d} per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pages", type=int, default=50, help="pages read per list and role")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))

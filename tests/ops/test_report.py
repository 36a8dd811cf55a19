"""`python -m ops report` as an operator runs it, against a registry of ten years (seeded as
bench/reports.py seeds it): the figures a year holds, as text and CSV; a year it has no
report of, or a registry that is down, named with the exit code of the house."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bench.reports import BRUSSELS, Register, seed
from devstack.ports import free_port
from runtime.settings import PROJECT_ROOT
from tests.fixtures.postgres import own_database


async def ops(dsn: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops", "report", *args,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
def register() -> Register:
    now = datetime.now(UTC)
    year = now.astimezone(BRUSSELS).year
    drawn = Register(300, list(range(year - 9, year + 1)), now, seed=30)
    drawn.draw()
    drawn.close()
    return drawn


@pytest.fixture(scope="module")
async def ten_years(pg_dsn: str, register: Register) -> AsyncIterator[str]:
    async with own_database(pg_dsn, "report") as dsn:
        await seed(dsn, register)
        yield dsn


async def test_a_past_year_prints_its_figures_per_body_as_csv(
    ten_years: str, register: Register
) -> None:
    year = register.years[-2]
    code, out, err = await ops(ten_years, "--year", str(year), "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    total = rows[0]
    assert total["body"] == "all" and total["year"] == str(year) and total["complete"] == "true"
    submitted = [a for a in register.apps if a[4].astimezone(BRUSSELS).year == year]
    assert int(total["received"]) == len(submitted)
    voc = next(r for r in rows if r["body"] == "VOC")
    assert int(voc["received"]) == sum(1 for a in submitted if a[2] == "VOC")
    screened = [s for s in register.screenings if s[2] == year]
    assert int(total["screened"]) == len(screened)
    assert int(total["screening_failed"]) == sum(1 for s in screened if s[7] == "failed")


async def test_this_year_says_so_far_until_today(ten_years: str) -> None:
    code, out, err = await ops(ten_years)
    assert code == 0, err
    today = datetime.now(BRUSSELS).date()
    assert out.startswith(f"figures of {today.year}, so far, until {today}")
    assert "received" in out and "decision_days_median" in out


async def test_a_year_it_has_no_report_of_is_named_with_exit_code_2(
    ten_years: str, register: Register
) -> None:
    first = register.years[0]
    code, _, err = await ops(ten_years, "--year", str(first - 1))
    assert code == 2 and f"the register starts in {first}" in err
    code, _, err = await ops(ten_years, "--year", str(register.years[-1] + 1))
    assert code == 2 and "has not begun" in err
    code, _, err = await ops(ten_years, "--year", "vorig")
    assert code == 2 and "'vorig' is not a year" in err


async def test_a_registry_that_is_down_is_said_with_exit_code_4() -> None:
    code, _, err = await ops(f"postgresql://postgres@127.0.0.1:{free_port()}/odb")
    assert code == 4 and "the registry is unavailable" in err

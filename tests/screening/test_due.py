"""Who is due for a screening: the pure rule (rules/screening.py) and the SQL that freezes a
year's population agree, day by day, and a resubmitted training keeps its history."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from registry import screening as repo
from rules.screening import first_screening_year, is_due, registration_start


@pytest.mark.parametrize(
    ("registered_from", "first"),
    [
        (date(2025, 1, 1), 2026),  # registered all of 2025: screened on 2025's data in 2026
        (date(2025, 1, 2), 2027),  # missed 1 January: 2025 was not a full year
        (date(2024, 12, 31), 2026),
        (date(2026, 11, 29), 2028),  # registered on a screening day of 2026
        (date(2024, 2, 29), 2026),
    ],
)
def test_first_screening_year(registered_from: date, first: int) -> None:
    assert first_screening_year(registered_from) == first
    assert is_due(registered_from, first) and not is_due(registered_from, first - 1)


def test_a_successor_continues_its_predecessors_history() -> None:
    assert registration_start(date(2026, 5, 1), date(2022, 3, 1)) == date(2022, 3, 1)
    assert registration_start(date(2026, 5, 1), None) == date(2026, 5, 1)


async def test_the_sql_rule_agrees_with_the_pure_rule_every_day(
    pg_pool: asyncpg.Pool[Any],
) -> None:
    start = date(1999, 12, 20)
    days = [start + timedelta(days=i) for i in range((date(2032, 1, 10) - start).days)]
    sql = await repo.first_screening_years(pg_pool, days)
    wrong = [(d, y) for d, y in zip(days, sql, strict=True) if y != first_screening_year(d)]
    assert wrong == []

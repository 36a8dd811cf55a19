"""Which years the department's report covers, and how far a year that is not over goes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Period:
    year: int
    first_day: date
    last_day: date  # 31 December, or today while the year is not over
    complete: bool

    @property
    def words(self) -> str:
        return str(self.year) if self.complete else f"{self.year}, so far, until {self.last_day}"


def year_problem(year: int, first_year: int, today: date) -> str | None:
    """Why `year` has no report, in words the asker can act on; None when it has one."""
    if year > today.year:
        return (
            f"{year} has not begun (today is {today}); ask for a year from {first_year} "
            f"to {today.year}"
        )
    if year < first_year:
        return (
            f"the register starts in {first_year}; ask for a year from {first_year} to {today.year}"
        )
    return None


def period(year: int, today: date) -> Period:
    """The days a report of `year` counts, as of `today` (Europe/Brussels)."""
    end = date(year, 12, 31)
    complete = today > end
    return Period(year, date(year, 1, 1), end if complete else today, complete)

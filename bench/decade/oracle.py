"""The legal promises, computed apart from the system: what the simulation expects.

Written from the domain text (docs: /work/shared/domain.md, the page's rules), not from the
system's code: this module imports nothing of the project (no `rules`, no `models`), only
the standard library and the `holidays` package, so a mistake in `rules/` cannot hide
behind the same mistake here (tests/bench/test_decade_oracle.py checks the imports).

- Belgian legal time limits (Gerechtelijk Wetboek art. 52-53): the day of the act that
  starts the period is not counted, the last day is; a last day on a Saturday, Sunday or
  Belgian legal holiday moves to the next day that is none of these; the period ends at the
  end of that day, Europe/Brussels.
- An appeal to the BEC: 30 days from receipt of the decision (an e-mail is received the day
  it was sent). The BEC decides within 60 days of receiving the appeal.
- A negative screening notice received in year N: the training is removed at the end of
  31 December of N + 1.
- The screening of year Y covers the trainings registered on its date whose registration
  (a resubmission: its predecessor's) started on or before 1 January of Y - 1.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

BRUSSELS = ZoneInfo("Europe/Brussels")
APPEAL_DAYS = 30
BEC_DAYS = 60


@functools.cache
def _legal_holidays(year: int) -> frozenset[date]:
    # The public (legal) holidays of Belgium: the package's default category.
    return frozenset(holidays.country_holidays("BE", years=year))


def legal_holiday(day: date) -> bool:
    return day in _legal_holidays(day.year)


def working_day(day: date) -> bool:
    """Neither a Saturday, a Sunday nor a Belgian legal holiday."""
    return day.weekday() < 5 and not legal_holiday(day)


def last_day(received_on: date, days: int) -> date:
    """Art. 52-53: counted from the day after receipt; a last day that is no working day
    moves to the next one that is."""
    day = received_on + timedelta(days=days)
    while not working_day(day):
        day += timedelta(days=1)
    return day


def appeal_last_day(notice_sent_on: date) -> date:
    return last_day(notice_sent_on, APPEAL_DAYS)


def bec_last_day(appeal_received_on: date) -> date:
    return last_day(appeal_received_on, BEC_DAYS)


def removal_day(negative_notice_on: date) -> date:
    """The last registered day after a negative screening notice."""
    return date(negative_notice_on.year + 1, 12, 31)


def end_of(day: date) -> datetime:
    """The instant `day` ends in Brussels (the next local midnight), as UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BRUSSELS).astimezone(UTC)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local Brussels time on `day`, as UTC (clock changes included)."""
    return datetime.combine(day, time(hour, minute), tzinfo=BRUSSELS).astimezone(UTC)


def brussels_day(instant: datetime) -> date:
    return instant.astimezone(BRUSSELS).date()


def in_time(moment: datetime, deadline_day: date) -> bool:
    """Whether an act at `moment` falls on or before `deadline_day` (Brussels)."""
    return moment < end_of(deadline_day)


def first_screening_year(registered_from: date) -> int:
    """The first year Y whose screening covers a registration that started that day: the
    one with 1 January of Y - 1 on or after the start."""
    year = registered_from.year
    while date(year - 1, 1, 1) < registered_from:
        year += 1
    return year


# ---- calendar facts, for the report (what the decade holds) ----


def leap_years(first: int, last: int) -> list[int]:
    return [y for y in range(first, last + 1) if _is_leap(y)]


def _is_leap(year: int) -> bool:
    try:
        date(year, 2, 29)
    except ValueError:
        return False
    return True


def clock_changes(first: int, last: int) -> list[datetime]:
    """The instants Brussels changes its UTC offset (summer time on and off), in UTC."""
    changes: list[datetime] = []
    probe = datetime(first, 1, 1, tzinfo=UTC)
    end = datetime(last + 1, 1, 1, tzinfo=UTC)
    offset = probe.astimezone(BRUSSELS).utcoffset()
    while probe < end:
        following = probe + timedelta(hours=1)
        now_offset = following.astimezone(BRUSSELS).utcoffset()
        if now_offset != offset:
            changes.append(following)
            offset = now_offset
        probe = following
    return changes


def easter_sundays(first: int, last: int) -> list[date]:
    found = []
    for year in range(first, last + 1):
        named = holidays.country_holidays("BE", years=year, language="en_US")
        for day, name in named.items():
            if "Easter Sunday" in str(name):
                found.append(day)
    return sorted(found)

"""Pure date rules: Belgian legal time limits and the 31 December removal rule.

Deterministic (no clock, no I/O), so the workflow can call them and they can be unit-tested
alone. Belgian public holidays come from the maintained `holidays` package.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from holidays.countries.belgium import Belgium

from models.case import Deadline, DeadlineKind
from models.dutch import dutch_date, dutch_long_date

BRUSSELS = ZoneInfo("Europe/Brussels")
APPEAL_DAYS = 30
BEC_DAYS = 60
# A deadline kind's legal time limit in days (StrEnum keys: looked up by the kind's text).
DAYS_OF: dict[str, int] = {
    DeadlineKind.APPEAL_WINDOW: APPEAL_DAYS,
    DeadlineKind.BEC_DECISION: BEC_DAYS,
}
_WEEKDAY_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


# Computed once at import, outside the workflow sandbox: the package reads its translations
# through gettext/locale, which a workflow may not call. Lookups are then plain dict reads.
_HOLIDAY_YEARS = range(2015, 2076)
_BELGIAN_HOLIDAYS: dict[date, str] = dict(
    Belgium(years=_HOLIDAY_YEARS, language="nl")  # type: ignore[no-untyped-call]
)


def _belgian_holidays(year: int) -> dict[date, str]:
    if year not in _HOLIDAY_YEARS:
        raise ValueError(f"no Belgian holiday calendar loaded for {year}")
    return _BELGIAN_HOLIDAYS


def why_not_working_day(day: date) -> str | None:
    """Why `day` is not a working day (weekend or Belgian public holiday), else None."""
    if day.weekday() >= 5:
        return f"{day.isoformat()} is een {_WEEKDAY_NL[day.weekday()]}"
    name = _belgian_holidays(day.year).get(day)
    if name:
        return f"{day.isoformat()} is een wettelijke feestdag ({name})"
    return None


def end_of_day(day: date) -> datetime:
    """The instant `day` ends in Brussels, in UTC (the moment a deadline passes)."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BRUSSELS)
    return next_midnight.astimezone(ZoneInfo("UTC"))


def start_of_day(day: date) -> datetime:
    """The instant `day` starts in Brussels, in UTC."""
    return datetime.combine(day, time(0), tzinfo=BRUSSELS).astimezone(ZoneInfo("UTC"))


def brussels_day(instant: datetime) -> date:
    """The calendar day in Brussels of an instant (e.g. the day an e-mail was sent)."""
    return instant.astimezone(BRUSSELS).date()


@dataclass(frozen=True)
class Count:
    """How a legal time limit was counted: the day `days` after `starts_on`, and the days
    that were no working day after it (each moved the last day on by one)."""

    starts_on: date
    days: int
    counted: date
    skipped: tuple[date, ...]

    @property
    def last_day(self) -> date:
        return self.counted + timedelta(days=len(self.skipped))


def count(starts_on: date, days: int) -> Count:
    """Gerechtelijk Wetboek art. 52-53: the day of the act that starts the period is not
    counted, the last day is; a last day on a Saturday, Sunday or public holiday moves to
    the next working day."""
    counted = starts_on + timedelta(days=days)
    skipped: list[date] = []
    day = counted
    while why_not_working_day(day) is not None:
        skipped.append(day)
        day += timedelta(days=1)
    return Count(starts_on, days, counted, tuple(skipped))


def legal_time_limit(kind: DeadlineKind, starts_on: date, days: int) -> Deadline:
    """The period of `count`, ending at the end of its last day (Brussels)."""
    counted = count(starts_on, days)
    shifts = [
        f"{why_not_working_day(day)}: verschoven naar {(day + timedelta(days=1)).isoformat()}"
        for day in counted.skipped
    ]
    last_day = counted.last_day
    return Deadline(
        kind=kind,
        starts_on=starts_on,
        last_day=last_day,
        due_at=end_of_day(last_day),
        rule=(
            f"{days} kalenderdagen vanaf de dag na {starts_on.isoformat()} "
            "(Ger.W. art. 52-53; einde van de laatste dag, Brussel)"
        ),
        shifts=tuple(shifts),
    )


def appeal_window(received_on: date) -> Deadline:
    """30 calendar days to appeal to the BEC, from receipt of the decision."""
    return legal_time_limit(DeadlineKind.APPEAL_WINDOW, received_on, APPEAL_DAYS)


def bec_decision_deadline(appeal_received_on: date) -> Deadline:
    """The BEC decides at the latest 60 days after receiving the appeal (same counting)."""
    return legal_time_limit(DeadlineKind.BEC_DECISION, appeal_received_on, BEC_DAYS)


def removal_after_negative_screening(notified_on: date) -> Deadline:
    """Removed at the end of 31 December of the year after the negative notice."""
    last_day = date(notified_on.year + 1, 12, 31)
    return Deadline(
        kind=DeadlineKind.REMOVAL,
        starts_on=notified_on,
        last_day=last_day,
        due_at=end_of_day(last_day),
        rule=(
            f"negatieve screening gemeld op {notified_on.isoformat()}: geschrapt op "
            f"31 december van het volgende jaar ({notified_on.year + 1})"
        ),
    )


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    # 30 November + 3 months is 28 (or 29) February: clamp to the month's last day.
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def submitted_late(submitted_on: date, start_date: date) -> bool:
    """Submit at least three months before the training starts; nearer (or passed) only
    warns that VOV may not apply from the first day."""
    return start_date < add_months(submitted_on, 3)


def explain(kind: str, starts_on: date, last_day: date) -> str:
    """How a deadline's last day was counted, in the words a page or a letter uses:
    `60 dagen na 20 december 2029: maandag 18 februari 2030`, or with a move,
    `30 dagen na 14 maart 2029: zaterdag 13 april 2029, verschoven naar maandag 15 april
    2029 wegens het weekend`. Counted again by `count`, the rule the case used; a last day
    that rule does not give (corrected by hand, an older rule) is stated as kept."""
    if kind == DeadlineKind.REMOVAL:
        return (
            f"31 december van het jaar na de negatieve screening van {dutch_date(starts_on)}: "
            f"{dutch_long_date(last_day)}"
        )
    days = DAYS_OF.get(kind)
    if days is None:
        return f"laatste dag: {dutch_long_date(last_day)}"
    counted = count(starts_on, days)
    head = f"{days} dagen na {dutch_date(starts_on)}: {dutch_long_date(counted.counted)}"
    if counted.last_day != last_day:
        return f"{head}; vastgelegd als laatste dag: {dutch_long_date(last_day)}"
    if not counted.skipped:
        return head
    return (
        f"{head}, verschoven naar {dutch_long_date(last_day)} wegens {_why_moved(counted.skipped)}"
    )


def _why_moved(skipped: tuple[date, ...]) -> str:
    reasons: list[str] = []
    for day in skipped:
        holiday = _belgian_holidays(day.year).get(day)
        why = f"{holiday} (wettelijke feestdag)" if holiday else "het weekend"
        if why not in reasons:
            reasons.append(why)
    return " en ".join(reasons)

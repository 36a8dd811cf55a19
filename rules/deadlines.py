"""Pure date rules: Belgian legal time limits and the 31 December removal rule.

Deterministic (no clock, no I/O), so the workflow can call them and they can be unit-tested
alone. Belgian public holidays come from the maintained `holidays` package.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from holidays.countries.belgium import Belgium

from models.case import Deadline, DeadlineKind
from models.dutch import dutch_date, dutch_long_date

BRUSSELS = ZoneInfo("Europe/Brussels")
APPEAL_DAYS = 30
BEC_DAYS = 60
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


def legal_time_limit(kind: DeadlineKind, starts_on: date, days: int) -> Deadline:
    """Gerechtelijk Wetboek art. 52-53: the day of the act that starts the period is not
    counted, the last day is; a last day on a Saturday, Sunday or public holiday moves to
    the next working day; the period ends at the end of that day."""
    last_day = starts_on + timedelta(days=days)
    shifts: list[str] = []
    while (why := why_not_working_day(last_day)) is not None:
        moved = last_day + timedelta(days=1)
        shifts.append(f"{why}: verschoven naar {moved.isoformat()}")
        last_day = moved
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


def _why_moved(day: date) -> str:
    """Why a last day on `day` moved on, in the words of a letter."""
    name = _belgian_holidays(day.year).get(day)
    if day.weekday() >= 5:
        return f"{dutch_long_date(day)} (weekend)"
    return f"{dutch_long_date(day)} ({name}, een wettelijke feestdag)"


def explain(deadline: Deadline) -> str:
    """How a deadline was counted, for a person: "30 dagen na 8 juni 2027, verschoven naar
    maandag 12 juli 2027 wegens zaterdag 10 juli 2027 (weekend) en ...". Pure: the counting
    is read back from the deadline (its start, its last day, how many days it moved)."""
    if deadline.kind == DeadlineKind.REMOVAL:
        return (
            f"negatieve screening gemeld op {dutch_date(deadline.starts_on)}: verwijderd na "
            f"31 december van het jaar daarna, {dutch_long_date(deadline.last_day)}"
        )
    unshifted = deadline.last_day - timedelta(days=len(deadline.shifts))
    days = (unshifted - deadline.starts_on).days
    counted = f"{days} dagen na {dutch_date(deadline.starts_on)}"
    if not deadline.shifts:
        return f"{counted}: {dutch_long_date(deadline.last_day)}"
    moved_from = [unshifted + timedelta(days=i) for i in range(len(deadline.shifts))]
    reasons = [_why_moved(day) for day in moved_from]
    why = reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + " en " + reasons[-1]
    return f"{counted}, verschoven naar {dutch_long_date(deadline.last_day)} wegens {why}"

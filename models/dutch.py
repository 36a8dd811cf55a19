"""Dates written the Belgian way, in Dutch: `31 december 2028`. Pure; used by e-mails and
by the workflow's summaries."""

from __future__ import annotations

from datetime import date

MONTHS_NL = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def dutch_date(day: date) -> str:
    return f"{day.day} {MONTHS_NL[day.month - 1]} {day.year}"


WEEKDAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


def dutch_long_date(day: date) -> str:
    """`maandag 30 november 2027`: the day of the week first, as Flemish letters write it."""
    return f"{WEEKDAYS_NL[day.weekday()]} {dutch_date(day)}"


def dutch_number(value: int) -> str:
    """`1.234`: thousands grouped with a dot, the Flemish way."""
    sign = "-" if value < 0 else ""
    return sign + f"{abs(value):,}".replace(",", ".")

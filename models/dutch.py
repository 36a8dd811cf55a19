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

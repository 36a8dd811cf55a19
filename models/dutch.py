"""Dutch as the department writes it: dates the Belgian way (`31 december 2028`), numbers,
and the words for a case's state and why it ended. Pure; used by e-mails, the workflow's
summaries, the rules' Dutch sentences (rules/guards.py) and the pages (starter/web/labels.py)."""

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


# A case's state (models.case.CaseState's values), as a page or a rule's sentence says it.
STATE = {
    "under_review": "wacht op beoordeling",
    "refused": "geweigerd",
    "in_appeal": "in beroep",
    "registered": "geregistreerd",
    "removal_scheduled": "wordt verwijderd",
    "ended": "afgesloten",
    "failed": "vastgelopen",
}

# Why a case ended (models.case.EndReason's values).
END_REASON = {
    "withdrawn": "ingetrokken",
    "finally_refused": "definitief geweigerd",
    "appeal_rejected": "beroep ongegrond",
    "stopped": "stopgezet",
    "revoked": "registratie ingetrokken",
    "removed": "verwijderd na screening",
    "replaced": "vervangen door een nieuwe aanvraag",
}


def dutch_word(table: dict[str, str], value: object) -> str:
    """`value`'s Dutch word; a value without one as it is (a new state never breaks a text)."""
    text = str(value or "")
    return table.get(text, text.replace("_", " "))

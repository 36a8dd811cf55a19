"""The department's forms in Dutch: a validation error of a form's model (models/, pydantic)
or the registry says what was wrong in the API's English; the page says the same thing, per
field, in plain Dutch. A guard's refusal (rules/guards.py) needs none of this: it carries its
own Dutch sentence. A message not known here is shown as it is."""

from __future__ import annotations

import re

from models.enterprise import ENTERPRISE_NUMBER_PATTERN
from rules.guards import MIN_REASON
from starter.web.forms import FieldError
from starter.web.render import ENV

_NUMBER_FORM = re.compile(ENTERPRISE_NUMBER_PATTERN)


def enterprise_number(typed: str) -> str:
    if not typed.strip():
        return "Vul het ondernemingsnummer in."
    if not _NUMBER_FORM.fullmatch(typed.strip()):
        return (
            "Een ondernemingsnummer heeft 10 cijfers en begint met 0 of 1, "
            "bijvoorbeeld 0123.456.749."
        )
    return (
        "Dit ondernemingsnummer klopt niet: de laatste twee cijfers passen niet bij de eerste "
        "acht (controle modulo 97). Kijk het nummer na."
    )


# field -> (message when empty, message otherwise)
_FIELDS: dict[str, tuple[str, str]] = {
    "name": (
        "Vul de naam van de organisatie in.",
        "Geef de naam van de organisatie (2 tot 200 tekens).",
    ),
    "contact_email": (
        "Vul het e-mailadres in.",
        "Geef een geldig e-mailadres, bijvoorbeeld opleidingen@organisatie.be.",
    ),
    "dossier": (
        "Vul het dossiernummer in.",
        "Geef een dossiernummer zoals ODB-2027-000123.",
    ),
    "deadline": ("Kies welke termijn u corrigeert.", "Kies welke termijn u corrigeert."),
}


def dutch(
    errors: list[FieldError], typed: dict[str, str], *, reason_min: int = MIN_REASON
) -> list[FieldError]:
    """`errors` with each message in Dutch; `typed` is what the form sent (to tell an empty
    field from a wrong one)."""
    out = []
    for err in errors:
        out.append(FieldError(err.field, _message(err, typed, reason_min)))
    return out


def _message(err: FieldError, typed: dict[str, str], reason_min: int) -> str:
    field, text = err.field, err.message
    value = typed.get(field or "", "")
    if field == "enterprise_number":
        return enterprise_number(value)
    if field == "dossier" and text.startswith("there is no dossier"):
        return f"Er is geen dossier {value.strip()}. Kijk het nummer na."
    if field == "reason":
        return (
            "Vul de reden in."
            if not value.strip()
            else f"Schrijf een reden van minstens {reason_min} tekens."
        )
    if field == "received_on":
        return "Vul de ontvangstdatum in." if not value.strip() else "Geef een geldige datum."
    if field in _FIELDS:
        empty, wrong = _FIELDS[field]
        return empty if not value.strip() else wrong
    return text


# ---- words for the department's templates ----

_CHANGES = {
    "registered": "Geregistreerd",
    "updated": "Naam of contact bijgewerkt",
    "deactivated": "Gedeactiveerd",
    "reactivated": "Geheractiveerd",
}
_OUTCOMES = {"passed": "Positief", "failed": "Negatief", "incomplete": "Onvolledige gegevens"}
_SIDES = {"provider": "de organisatie", "department": "het departement"}


ENV.filters.update(
    wijziging=lambda v: _CHANGES.get(v, v),
    screeningsuitkomst=lambda v: "Nog niet beoordeeld" if v is None else _OUTCOMES.get(v, v),
    kant=lambda v: _SIDES.get(v, v),
)

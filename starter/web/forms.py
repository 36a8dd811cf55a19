"""Errors on a form: one list drives the error summary at the top (links to each field) and
the message next to the field, in the words of the rule that refused it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from rules.guards import CaseRefused
from starter.api.problems import field_errors
from starter.client import Refused

# pydantic's rule -> plain Dutch; other rules keep the rule's own sentence.
_DUTCH: dict[str, str] = {
    "missing": "Vul dit veld in.",
    "string_too_short": "Dit veld is te kort.",
    "string_too_long": "Dit veld is te lang.",
    "date_from_datetime_parsing": "Geef een datum als dd-mm-jjjj.",
    "date_parsing": "Geef een geldige datum.",
    "datetime_parsing": "Geef een geldige datum en tijd.",
    "bool_parsing": "Kies een van de mogelijkheden.",
    "int_parsing": "Geef een geheel getal.",
}


@dataclass(frozen=True)
class FieldError:
    field: str | None  # the form field's name (and so its id), None: about the whole form
    message: str


def errors_of(exc: Exception) -> list[FieldError]:
    """A validation error or a refusal as the page's error list."""
    if isinstance(exc, ValidationError):
        found = []
        for err in field_errors(exc.errors(), skip_source=False):
            text = _DUTCH.get(err.rule)
            if text is None:  # the rule's own words, without the field's name before them
                named = err.field and ": " in err.detail
                text = err.detail.split(": ", 1)[1] if named else err.detail
            found.append(FieldError(err.field, text))
        return found
    if isinstance(exc, Refused | CaseRefused):
        return [FieldError(exc.field, exc.message)]
    raise TypeError(f"not a form error: {exc!r}")


_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def idempotency_key(form: FormData) -> str | None:
    """The rendered form's key (hidden `sleutel`, made by `new_key()`), prefixed so a page's
    keys never meet the API's; anything else (a form not made by a page) gets none, and so
    no deduplication."""
    key = form.get("sleutel")
    return f"web-{key}" if isinstance(key, str) and _KEY.match(key) else None


def by_field(errors: Sequence[FieldError]) -> dict[str, str]:
    """The first message per field, for the message next to it."""
    out: dict[str, str] = {}
    for err in errors:
        if err.field and err.field not in out:
            out[err.field] = err.message
    return out


def context(errors: Sequence[FieldError], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a template with a form needs: `errors` (the summary), `field_errors` (next to
    each field) and `values` (what was typed, shown again)."""
    return {"errors": list(errors), "field_errors": by_field(errors), "values": values or {}}

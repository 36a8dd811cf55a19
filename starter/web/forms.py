"""Errors on a form: one list drives the error summary at the top (links to each field) and
the message next to the field, in the words of the rule that refused it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from models.documents import MAX_DOCUMENT_BYTES
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
    """A validation error or a refusal as the page's error list: a refusal in its rule's
    Dutch sentence (`nl`), a validation error in pydantic's rule's Dutch words or else its
    own (which a page may still say per field in its own words)."""
    if isinstance(exc, ValidationError):
        found = []
        for err in field_errors(exc.errors(), skip_source=False):
            text = _DUTCH.get(err.rule)
            if text is None:  # the rule's own words, without the field's name before them
                named = err.field and ": " in err.detail
                text = err.detail.split(": ", 1)[1] if named else err.detail
            found.append(FieldError(err.field, text))
        return found
    if isinstance(exc, Refused | CaseRefused):  # the rule's own Dutch sentence
        return [FieldError(exc.field, exc.nl)]
    raise TypeError(f"not a form error: {exc!r}")


# Why an uploaded document was refused (starter.api.documents.check_document's status), in
# the words of every form that takes one (the BEC's and the provider's appeal). `{found}`:
# the media type found in its content.
_MB = MAX_DOCUMENT_BYTES // (1024 * 1024)
FILE_REFUSED = {
    413: f"Het bestand is te groot: het is groter dan {_MB} MB. Kies een bestand van hoogstens "
    f"{_MB} MB.",
    415: "Het bestand is geen PDF, DOCX of ODT ({found}). Kies een PDF-, DOCX- of ODT-bestand.",
    422: "Het gekozen bestand is leeg. Kies het gemotiveerde document bij het beroep.",
}
_FOUND = re.compile(r"\(([^()]*)\)")


def file_refused(status: int, detail: str) -> str:
    """check_document's refusal (422 empty, 413 too large, 415 another type, its detail
    naming the media type found) in Dutch."""
    found = _FOUND.findall(detail)
    text = FILE_REFUSED.get(status, FILE_REFUSED[422])
    return text.format(found=f"gevonden: {found[-1]}" if found else "onbekend type")


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

"""Belgian enterprise numbers (ondernemingsnummer): 10 digits, mod-97 check."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# The forms accepted: 0123456749, 0123.456.749, 0123 456 749, BE0123456749, BE 0123.456.749,
# and the old 9-digit form 123.456.749. The same regex is the OpenAPI pattern.
ENTERPRISE_NUMBER_PATTERN = r"^(?:[Bb][Ee] ?)?[01]?[0-9]{3}[. -]?[0-9]{3}[. -]?[0-9]{3}$"
_FORM = re.compile(ENTERPRISE_NUMBER_PATTERN)
_NOT_DIGIT = re.compile(r"[^0-9]")


def normalise_enterprise_number(value: str) -> str:
    """Returns the 10 digits; raises ValueError saying what is wrong."""
    if not _FORM.fullmatch(value):
        raise ValueError(
            "an enterprise number has 10 digits starting with 0 or 1, e.g. 0123.456.749 "
            "(BE and dots optional)"
        )
    body = value[2:] if value[:2].upper() == "BE" else value
    digits = _NOT_DIGIT.sub("", body).zfill(10)  # the 9-digit form had no leading 0
    if 97 - int(digits[:8]) % 97 != int(digits[8:]):
        raise ValueError(
            f"enterprise number {digits} fails its mod-97 check: check the last two digits"
        )
    return digits


EnterpriseNumber = Annotated[
    str,
    AfterValidator(normalise_enterprise_number),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ENTERPRISE_NUMBER_PATTERN,
            # Not expressible as a pattern: the last two digits are 97 - (first eight mod 97).
            "format": "be-enterprise-number",
            "description": "Belgian enterprise number, e.g. 0123.456.749; its last two digits "
            "are 97 minus the first eight modulo 97",
        }
    ),
]

"""Belgian enterprise numbers (ondernemingsnummer): 10 digits, mod-97 check."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_SEPARATORS = re.compile(r"[\s.\-]")


def normalise_enterprise_number(value: str) -> str:
    """Returns the 10 digits; raises ValueError saying what is wrong."""
    digits = _SEPARATORS.sub("", value.strip())
    if digits.upper().startswith("BE"):
        digits = digits[2:]
    if len(digits) == 9 and digits.isdigit():
        digits = "0" + digits
    if len(digits) != 10 or not digits.isdigit():
        raise ValueError(
            "an enterprise number has 10 digits, e.g. 0123.456.749 (BE and dots optional)"
        )
    if digits[0] not in "01":
        raise ValueError("an enterprise number starts with 0 or 1")
    if 97 - int(digits[:8]) % 97 != int(digits[8:]):
        raise ValueError(
            f"enterprise number {digits} fails its mod-97 check: check the last two digits"
        )
    return digits


EnterpriseNumber = Annotated[str, AfterValidator(normalise_enterprise_number)]

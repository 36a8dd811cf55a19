"""What a provider submits: the training and who to write to."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from models.enterprise import EnterpriseNumber
from models.identity import VOC, normalise_body
from models.text import WHITESPACE_CLASS, Day, Matching, Text

DOSSIER_PATTERN = r"^ODB-[0-9]{4}-[0-9]{6}$"
DossierNumber = Annotated[str, Field(pattern=DOSSIER_PATTERN)]

_W = f"[{WHITESPACE_CLASS}]*"  # whitespace at the ends is allowed (and dropped)
EMAIL_PATTERN = rf"^{_W}[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+\.[A-Za-z]{{2,}}{_W}$"
Email = Annotated[
    str, Matching(EMAIL_PATTERN, "not an e-mail address (expected name@domain.tld)", 254)
]
JOINT_COMMITTEE_PATTERN = (
    rf"^{_W}(?:[Vv][Oo][Cc]|[Pp][Cc] ?[0-9]{{3}}(?:\.[0-9]{{2}})?){_W}$"
)
JointCommittee = Annotated[
    str,
    Matching(
        JOINT_COMMITTEE_PATTERN,
        "not a competent body: write a joint committee as 'PC 200' or 'PC 118.03' "
        "(or leave it out: the VOC decides)",
        40,
    ),
]


class VolumeUnit(StrEnum):
    CONTACT_HOURS = "contact_hours"
    TEACHING_PERIODS = "teaching_periods"  # lestijden
    STUDY_POINTS = "study_points"  # studiepunten


# Public VOV conditions: the least a training must amount to, per unit.
VOV_MINIMUM: dict[VolumeUnit, Decimal] = {
    VolumeUnit.CONTACT_HOURS: Decimal(32),
    VolumeUnit.TEACHING_PERIODS: Decimal(32),
    VolumeUnit.STUDY_POINTS: Decimal(3),
}
# A volume is a JSON integer or a decimal string with at most 2 decimals ("40", "2.5"): never
# a binary fraction such as 2.5, which need not be the number the provider typed. The
# patterns spell "at least N" per unit, so the schema refuses what the VOV rule refuses.
_DECIMALS = r"(?:\.[0-9]{1,2})?"
VOLUME_PATTERN = rf"^(?:0|[1-9][0-9]{{0,4}}){_DECIMALS}$"
_AT_LEAST_3 = rf"^(?:[3-9]|[1-9][0-9]{{1,4}}){_DECIMALS}$"
_AT_LEAST_32 = rf"^(?:3[2-9]|[4-9][0-9]|[1-9][0-9]{{2,4}}){_DECIMALS}$"
VOLUME_MAX = 99999


def _volume_schema(minimum: int, pattern: str) -> JsonDict:
    return {
        "anyOf": [
            {"type": "integer", "minimum": minimum, "maximum": VOLUME_MAX},
            {"type": "string", "pattern": pattern},
        ]
    }


def _volume(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 40.0 is the integer 40
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value <= VOLUME_MAX:
            return Decimal(value)
    elif isinstance(value, str) and re.fullmatch(VOLUME_PATTERN, value) and Decimal(value) > 0:
        return Decimal(value)
    raise PydanticCustomError(
        "volume_format",
        "send the volume as a whole number (40) or as a string with at most 2 decimals "
        '("2.5"), more than 0 and at most {max}',
        {"max": VOLUME_MAX},
    )


Volume = Annotated[
    Decimal,
    BeforeValidator(_volume),
    WithJsonSchema(_volume_schema(3, _AT_LEAST_3)),
]

# The VOV minimum per unit, as the schema states it (the check is `_vov_minimum`).
_VOLUME_BY_UNIT: JsonDict = {
    "anyOf": [
        {
            "properties": {
                "volume_unit": {"const": "study_points"},
                "volume": _volume_schema(3, _AT_LEAST_3),
            }
        },
        {
            "properties": {
                "volume_unit": {"enum": ["contact_hours", "teaching_periods"]},
                "volume": _volume_schema(32, _AT_LEAST_32),
            }
        },
    ]
}
_UNIT_NL = {
    VolumeUnit.CONTACT_HOURS: "contacturen",
    VolumeUnit.TEACHING_PERIODS: "lestijden",
    VolumeUnit.STUDY_POINTS: "studiepunten",
}


class TrainingApplication(BaseModel):
    """One application to register a training. Validated on submission; invalid input is
    refused with the field and the rule named, before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_VOLUME_BY_UNIT)

    provider: EnterpriseNumber
    # Ignored when sent: the name is the providers register's (taken at submission).
    provider_name: Annotated[str, Text(200, min_length=2)] | None = Field(
        default=None,
        description="ignored: the name printed in open data and worklists is the one the "
        "department registered for the organisation",
    )
    # Where the provider receives the decisions (acknowledgment, approval, refusal, ...).
    contact_email: Email
    title: Annotated[str, Text(200, min_length=3)]
    description: Annotated[str, Text(5000)] = ""
    start_date: Day
    end_date: Day | None = None
    volume_unit: VolumeUnit
    volume: Volume
    # The paritair comité named in the application ("PC 200"); none: the VOC decides.
    joint_committee: JointCommittee | None = None
    # Occupation codes (e.g. competent/ISCO) the training prepares for; used by screening.
    occupation_codes: tuple[Annotated[str, Text(100, min_length=1)], ...] = ()
    # A recognised certificate the training leads to, if any.
    certification: Annotated[str, Text(200)] | None = None
    # A re-submission after a negative screening links to the earlier dossier.
    predecessor_dossier: DossierNumber | None = None

    @field_validator("volume")
    @classmethod
    def _vov_minimum(cls, volume: Decimal, info: ValidationInfo) -> Decimal:
        unit = info.data.get("volume_unit")
        if unit is not None and volume < VOV_MINIMUM[unit]:
            raise ValueError(
                f"{volume} {_UNIT_NL[unit]} is below the VOV minimum of 32 contacturen, "
                f"32 lestijden or 3 studiepunten; a shorter training cannot be registered"
            )
        return volume

    @field_validator("joint_committee")
    @classmethod
    def _body(cls, value: str | None) -> str | None:
        return None if value is None else normalise_body(value)

    @model_validator(mode="after")
    def _dates(self) -> TrainingApplication:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date: the training cannot end before it starts")
        return self

    @property
    def competent_body(self) -> str:
        """The PC named in the application, or the VOC when none is named."""
        return self.joint_committee or VOC

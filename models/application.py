"""What a provider submits: the training and who to write to."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.enterprise import EnterpriseNumber
from models.identity import VOC, normalise_body

DOSSIER_PATTERN = r"^ODB-\d{4}-\d{6}$"
DossierNumber = Annotated[str, Field(pattern=DOSSIER_PATTERN)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address (expected name@domain.tld)")
    return value


Email = Annotated[str, AfterValidator(_email)]


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
_UNIT_NL = {
    VolumeUnit.CONTACT_HOURS: "contacturen",
    VolumeUnit.TEACHING_PERIODS: "lestijden",
    VolumeUnit.STUDY_POINTS: "studiepunten",
}


class TrainingApplication(BaseModel):
    """One application to register a training. Validated on submission; invalid input is
    refused with the field and the rule named, before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    provider: EnterpriseNumber
    provider_name: str = Field(min_length=2, max_length=200)
    # Where the provider receives the decisions (acknowledgment, approval, refusal, ...).
    contact_email: Email
    title: str = Field(min_length=3, max_length=200)
    description: str = Field("", max_length=5000)
    start_date: date
    end_date: date | None = None
    volume_unit: VolumeUnit
    volume: Decimal = Field(gt=0, max_digits=7, decimal_places=2)
    # The paritair comité named in the application ("PC 200"); none: the VOC decides.
    joint_committee: str | None = None
    # Occupation codes (e.g. competent/ISCO) the training prepares for; used by screening.
    occupation_codes: tuple[str, ...] = ()
    # A recognised certificate the training leads to, if any.
    certification: str | None = Field(None, max_length=200)
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

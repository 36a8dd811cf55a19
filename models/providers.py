"""Training providers as the department registers them (no I/O here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models.application import Email
from models.text import Text


class ProviderInput(BaseModel):
    """What the department registers or updates of a provider organisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Text(200, min_length=2)] = Field(
        description="the organisation's registered name, as open data and worklists print it"
    )
    contact_email: Email = Field(description="where the organisation is reached")


class DeactivateInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, Text(2000, min_length=3)] = Field(
        description="why the provider may no longer submit (kept with the change)"
    )


class ProviderRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    enterprise_number: str
    name: str
    contact_email: str | None
    active: bool
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class ProviderChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    change: str
    by: str
    at: datetime
    reason: str = ""

"""Who acts: identity and roles as verified from the portal's token."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from models.text import Text

VOC = "VOC"
_PC = re.compile(r"^PC\s?(\d{3}(?:\.\d{2})?)$")


def normalise_body(body: str) -> str:
    """`VOC`, or `PC <number>` (e.g. `PC 200`, `PC 118.03`); raises ValueError otherwise."""
    text = body.strip().upper()
    if text == VOC:
        return VOC
    match = _PC.match(text)
    if not match:
        raise ValueError(
            f"{body!r} is not a competent body: use 'VOC' or a joint committee as 'PC 200'"
        )
    return f"PC {match.group(1)}"


class RoleKind(StrEnum):
    PROVIDER = "provider"  # DWSE organisatieverantwoordelijke, context opleidingsdatabank
    REVIEWER = "reviewer"  # member of the VOC or of a paritair comité
    BEC = "bec"  # beroeps- en evaluatiecommissie
    DEPARTMENT = "department"  # departement WSE


class Role(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RoleKind
    # The competent body, for a reviewer only: "VOC" or "PC 200".
    body: str | None = None

    @field_validator("body")
    @classmethod
    def _body(cls, value: str | None) -> str | None:
        return None if value is None else normalise_body(value)


class Actor(BaseModel):
    """The acting user, as the caller verified it. Carried by every human decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The token's `sub`, under the same text rule as every request field (no NUL).
    subject: Annotated[str, Text(200, min_length=1)]
    # Enterprise number of the user's organisation (10 digits), if the user acts for one.
    organisation: str | None = None
    roles: tuple[Role, ...] = ()

    def has(self, kind: RoleKind) -> bool:
        return any(r.kind == kind for r in self.roles)

    def reviews_for(self, body: str) -> bool:
        return any(r.kind == RoleKind.REVIEWER and r.body == body for r in self.roles)

    def is_provider_of(self, enterprise_number: str) -> bool:
        return self.has(RoleKind.PROVIDER) and self.organisation == enterprise_number


SYSTEM_ACTOR = Actor(subject="system", roles=())

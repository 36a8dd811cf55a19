"""The scoring system (beoordelingssysteem) as versioned data.

A rubric names criteria; each criterion reads one *measure* from the registry (a fixed
catalogue: the SQL behind each lives in registry/screening.py), turns it into points with a
simple rule, and carries a weight. Weights add up to 100, so a score is out of 100 and the
pass threshold reads as a percentage. A knockout criterion that scores nothing fails the
training whatever its total. The department changes the YAML, not the code, for next year.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TOTAL_WEIGHT = 100.0
# Weights are written by hand (33.3 + 33.3 + 33.4); a float sum may drift by this much.
WEIGHT_TOLERANCE = 1e-6


class Measure(StrEnum):
    """What the registry can measure for one training in the screening year."""

    # Sessions organised in the calendar year before the screening (activity report).
    SESSIONS_PAST_YEAR = "sessions_past_year"
    # Participants who started one of those sessions.
    PARTICIPANTS_PAST_YEAR = "participants_past_year"
    # Completions / participants in that year (0 when nobody took part).
    COMPLETION_RATE = "completion_rate"
    # How many of the training's occupation codes are on the screening year's list of
    # occupations in demand (knelpuntberoepen).
    OCCUPATIONS_IN_DEMAND = "occupations_in_demand"
    # 1 when the training leads to a certificate recognised on the screening date, else 0.
    RECOGNISED_CERTIFICATION = "recognised_certification"


class AtLeast(BaseModel):
    """Full weight when the measure reaches `min`, nothing otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: Literal["at_least"]
    min: float


class Linear(BaseModel):
    """Nothing at or below `zero_at`, full weight at or above `full_at`, linear between."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: Literal["linear"]
    zero_at: float
    full_at: float

    @model_validator(mode="after")
    def _ordered(self) -> Linear:
        if self.full_at <= self.zero_at:
            raise ValueError(
                f"full_at ({self.full_at}) must be greater than zero_at ({self.zero_at})"
            )
        return self


Scoring = Annotated[AtLeast | Linear, Field(discriminator="rule")]


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # Short stable key, used in stored results and e-mails (e.g. "organised").
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    # What the provider reads in the screening e-mail, in Dutch.
    label: str = Field(min_length=3, max_length=200)
    measure: Measure
    scoring: Scoring
    weight: float = Field(gt=0, le=TOTAL_WEIGHT)
    knockout: bool = False

    @field_validator("measure", mode="before")
    @classmethod
    def _known_measure(cls, value: object) -> object:
        known = {m.value for m in Measure}
        if isinstance(value, str) and value not in known:
            raise ValueError(
                f"unknown measure {value!r}; the registry measures: {', '.join(sorted(known))}"
            )
        return value


class Rubric(BaseModel):
    """One version of the scoring system. Immutable once a screening has used it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    version: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    title: str = Field(min_length=3, max_length=200)
    # Score out of 100 needed to pass; required, no default: a forgotten threshold must not
    # silently pass or fail every training.
    pass_threshold: float = Field(gt=0, le=TOTAL_WEIGHT)
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        seen: set[str] = set()
        for c in self.criteria:
            if c.id in seen:
                raise ValueError(f"criteria: id {c.id!r} is used twice; ids must be unique")
            seen.add(c.id)
        total = sum(c.weight for c in self.criteria)
        if abs(total - TOTAL_WEIGHT) > WEIGHT_TOLERANCE:
            listed = " + ".join(f"{c.id} {c.weight:g}" for c in self.criteria)
            raise ValueError(
                f"criteria: weights add up to {total:g} ({listed}), they must add up to 100"
            )
        return self


class RubricError(ValueError):
    """A rubric that cannot be used; the message names the file, the key and the rule."""


def parse_rubric(data: object, origin: str) -> Rubric:
    """Validates a parsed YAML document; every problem is listed, with its key path."""
    if not isinstance(data, dict):
        raise RubricError(f"{origin}: a rubric is a mapping with version, title, "
                          "pass_threshold and criteria")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise RubricError(describe(exc, origin, data)) from exc


def describe(exc: ValidationError, origin: str, data: dict[str, object]) -> str:
    lines = [f"{origin}: the rubric is refused:"]
    for err in exc.errors():
        key = _key(err["loc"], data)
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:
            lines.append(f"  {msg}")
        elif err["type"] == "missing":
            lines.append(f"  {key}: missing; this key is required")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key; remove it or check its spelling")
        elif err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            lines.append(f"  {key}: scoring.rule must be 'at_least' or 'linear'")
        else:
            lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def _key(loc: tuple[int | str, ...], data: dict[str, object]) -> str:
    """`criteria[2] (participants).weight` rather than `criteria.2.weight`."""
    parts: list[str] = []
    node: object = data
    for p in loc:
        if isinstance(p, int):
            label = f"[{p}]"
            if isinstance(node, list) and p < len(node):
                node = node[p]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            parts.append(label)
        else:
            # Discriminated-union tags ("linear", "at_least") are not keys of the document.
            if p in ("at_least", "linear") and isinstance(node, dict) and p not in node:
                continue
            parts.append(("." if parts else "") + p)
            node = node.get(p) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"

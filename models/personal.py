"""Which column or JSON path of which table holds a person's data: the contract of
`personal_fields.yaml` (read by runtime/retention_table.py), and the shapes a declared path is
checked against at start. No I/O here.

The strip of a kind (`strip_personal` in retention.yaml) touches exactly the fields declared
for its tables, nothing else: a key that merely shares a name with a personal field (an
appeal's `subject`, a decision's `body`) is not touched. A path is the column, then JSON keys
separated by dots; `[]` after a key means each element of that list
(`status.appeals[].hearings[].note`). A path that does not exist in the shape the registry
writes is refused at start, naming it, so a typo never leaves a person's data in place.
"""

from __future__ import annotations

import types
import typing
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.application import TrainingApplication
from models.case import CaseStatus
from models.identity import Actor
from models.retention import Kind
from models.steps import StepInput


class Treatment(StrEnum):
    ROLE = "role"  # a person's id becomes the role that acted ("reviewer VOC", "provider")
    EMPTY = "empty"  # free text or an address becomes ""
    NULL = "null"  # becomes null
    REMOVE = "remove"  # the JSON key is removed (a copy of a column that is emptied)


# Every step the case workflow records (the audit's `event`, the feed's event type).
STEP_EVENTS = (
    "application.submitted",
    "application.approved",
    "application.refused",
    "application.refusal.notified",
    "application.refusal.final",
    "application.withdrawn",
    "application.stopped",
    "application.revoked",
    "application.replaced",
    "application.removed",
    "application.deadline.corrected",
    "application.appeal.filed",
    "application.appeal.heard",
    "application.appeal.hearing_waived",
    "application.appeal.granted",
    "application.appeal.rejected",
    "application.appeal.overdue",
    "application.appeal.window_lapsed",
    "application.screening.positive",
    "application.screening.negative",
)

# The keys the case workflow writes in a step's free `details` (workflows/case_*.py).
STEP_DETAIL_KEYS = frozenset(
    {
        "reason",
        "document_reference",
        "document_id",
        "route",
        "received_at",
        "received_on",
        "replaced_by",
        "message_id",
        "sent_at",
    }
)


# The audit's details are the StepInput without its own columns; `row.status` is a CaseStatus.
_OWN_COLUMNS = {"dossier", "step", "at", "actor", "event", "state_before", "state_after"}

class ProviderFacts(BaseModel):
    """A providers-register change's `before` / `after` (registry/providers.py)."""

    name: str
    contact_email: str | None = None
    active: bool


# Per table: the kind of record whose strip applies to it, and its columns a declaration may
# name with their shape (a str column, or the model its JSON holds).
SHAPES: dict[str, tuple[Kind, dict[str, Any]]] = {
    "applications": (Kind.DOSSIER, {"contact_email": str, "payload": TrainingApplication}),
    "decisions": (Kind.DOSSIER, {"decided_by": str, "reason": str, "body": str}),
    "appeals": (Kind.DOSSIER, {"filed_by": str, "motivation": str, "document_id": str}),
    "hearings": (Kind.DOSSIER, {"recorded_by": str, "note": str}),
    "case_rows": (Kind.DOSSIER, {"status": CaseStatus}),
    "audit": (Kind.AUDIT, {"actor": str, "actor_detail": Actor, "details": StepInput}),
    "providers": (Kind.PROVIDER_CONTACT, {"contact_email": str}),
    "provider_changes": (
        Kind.PROVIDER_CONTACT,
        {"by_subject": str, "reason": str, "before": ProviderFacts, "after": ProviderFacts},
    ),
    "notifications": (
        Kind.EMAILS,
        {
            "to_address": str,
            "subject": str,
            "body": str,
            "last_error": str,
            "claimed_by": str,
            "context": dict[str, Any],
        },
    ),
}


class PersonalField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: Annotated[str, Field(min_length=1, max_length=300)]
    treatment: Treatment = Field(alias="as")
    # Audit rows only: the field is personal in steps of these events only (a withdrawal's
    # reason is the provider's text; a revocation's is the department's decision).
    events: tuple[str, ...] = ()
    why: Annotated[str, Field(min_length=10)]

    @property
    def column(self) -> str:
        return self.path.split(".", 1)[0].removesuffix("[]")

    def segments(self) -> list[tuple[str, bool]]:
        """(key, each element of a list) per segment, the column first."""
        return [(s.removesuffix("[]"), s.endswith("[]")) for s in self.path.split(".")]


class TableFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    fields: list[PersonalField] = Field(min_length=1)


class PersonalFields(BaseModel):
    """The declaration: per table, its personal fields. Checked against SHAPES at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1, max_length=100)]
    tables: dict[str, TableFields]

    @model_validator(mode="after")
    def _fits_the_registry(self) -> PersonalFields:
        for table, decl in self.tables.items():
            if table not in SHAPES:
                raise PathError(
                    f"tables.{table}",
                    f"unknown table; the tables with personal fields are {', '.join(SHAPES)}",
                )
            kind, columns = SHAPES[table]
            if decl.kind != kind:
                raise PathError(
                    f"tables.{table}.kind",
                    f"{table} is stripped with kind {kind.value}, not {decl.kind.value}",
                )
            seen: set[tuple[str, tuple[str, ...]]] = set()
            for n, f in enumerate(decl.fields):
                where = f"tables.{table}.fields[{n}] ({f.path})"
                if (f.path, f.events) in seen:
                    raise PathError(where, "declared twice")
                seen.add((f.path, f.events))
                problem = _path_problem(f, columns)
                if problem:
                    raise PathError(where, problem)
                if f.events and table != "audit":
                    raise PathError(where, "events: only an audit row has an event")
                unknown = [e for e in f.events if e not in STEP_EVENTS]
                if unknown:
                    raise PathError(where, f"unknown event {unknown[0]!r}")
        return self

    def fields(self, table: str) -> list[PersonalField]:
        decl = self.tables.get(table)
        return list(decl.fields) if decl else []

    def tables_of(self, kind: Kind) -> list[str]:
        return [t for t, d in self.tables.items() if d.kind == kind]


class PathError(ValueError):
    """A declared path or table that does not fit the registry; `key` says where."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _unwrap(annotation: Any) -> Any:
    """X | None → X; Annotated[X, ...] → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return Any
            annotation = args[0]
        else:
            return annotation


def _is_list(annotation: Any) -> Any | None:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    return None


def _child(shape: Any, key: str, path: list[str]) -> tuple[Any, str]:
    """The shape of `key` within `shape`; (None, why) when there is no such key."""
    if isinstance(shape, type) and issubclass(shape, StepInput):
        if key in _OWN_COLUMNS:
            return None, f"{key} is an audit column, not a key of details"
        if key == "details":
            return _StepDetailKeys, ""
    if shape is _StepDetailKeys:
        if key in STEP_DETAIL_KEYS:
            return str, ""
        return (
            None,
            f"no step writes details.{key} (the keys: {', '.join(sorted(STEP_DETAIL_KEYS))})",
        )
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        field = shape.model_fields.get(key)
        if field is None:
            known = ", ".join(shape.model_fields)
            return None, f"{'.'.join(path) or 'it'} has no key {key!r} (its keys: {known})"
        return _unwrap(field.annotation), ""
    if typing.get_origin(shape) is dict or shape is dict:
        return Any, ""  # a free mapping (an e-mail's template values)
    return None, f"{'.'.join(path)} holds a value, not keys"


class _StepDetailKeys:
    """A step's free `details` (STEP_DETAIL_KEYS)."""


def _path_problem(f: PersonalField, columns: dict[str, Any]) -> str:
    segments = f.segments()
    column, each = segments[0]
    if column not in columns:
        return f"unknown column {column!r} (the columns: {', '.join(columns)})"
    shape: Any = columns[column]
    walked = [column]
    for n, (key, each) in enumerate(segments):
        if n > 0:
            shape, why = _child(shape, key, walked)
            if shape is None:
                return f"unknown path: {why}"
            walked.append(key)
        inner = _is_list(shape)
        if each and inner is None:
            return f"{'.'.join(walked)} is not a list: remove the []"
        if not each and inner is not None:
            return f"{'.'.join(walked)} is a list: write {key}[]"
        if inner is not None:
            shape = inner
    if len(segments) == 1 and f.treatment == Treatment.REMOVE:
        return "a column cannot be removed: empty it (as: empty or null)"
    if f.treatment in (Treatment.ROLE, Treatment.EMPTY) and shape not in (str, Any):
        return f"as: {f.treatment.value} needs a text field; {f.path} holds {shape!r}"
    return ""

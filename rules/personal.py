"""The strip of a person's data, as declared in personal_fields.yaml (models/personal.py):
pure functions from a row as stored to the row as kept. No I/O here.

Only the declared paths change; every other key and value of the row comes back as it went
in. A person's id becomes the role that acted, by the same rules a provider reads the case
by (rules/case_view.provider_view): in a copy of the case, the role the provider's view puts
at that place; in an audit step, the role its verified actor acted in; in the decisions,
appeals and hearings tables, the role their kind implies. Stripping a stripped row changes
nothing (a role stays the role), so a batch retried or a repair re-applied is harmless.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from models.case import CaseStatus
from models.personal import PersonalField, Treatment
from rules import case_view

_GONE = object()  # a removed key

# (the old value, the value the provider's view holds at the same place) -> the role
Role = Callable[[Any, Any], Any]


def role_of(actor_detail: dict[str, Any] | None, subject: str) -> str:
    """The role an audit step's actor acted in: what a provider is told instead of an id."""
    if subject == "system":
        return "system"
    for role in (actor_detail or {}).get("roles") or []:
        kind = role.get("kind")
        if kind == "reviewer":
            return f"reviewer {role.get('body') or ''}".strip()
        if kind == "bec":
            return "BEC"
        if kind in ("provider", "department"):
            return str(kind)
    return "user"


def _treat(f: PersonalField, old: Any, shown: Any, *, role: Role) -> Any:
    if f.treatment == Treatment.REMOVE:
        return _GONE
    if f.treatment == Treatment.NULL:
        return None
    if not isinstance(old, str):
        return old  # absent or null: nothing to strip
    if f.treatment == Treatment.EMPTY:
        return ""
    return old if old == "system" else role(old, shown)


def _walk(
    value: Any,
    segments: list[tuple[str, bool]],
    change: Callable[[Any, Any], Any],
    shown: Any,
) -> None:
    """Changes `value` in place at the path `segments` (below its column); `shown` is the
    provider's view of the same structure (or None), walked alongside."""
    if not isinstance(value, dict) or not segments:
        return
    (key, each), rest = segments[0], segments[1:]
    if key not in value:
        return
    seen = shown.get(key) if isinstance(shown, dict) else None
    if each:
        items = value[key]
        if not isinstance(items, list):
            return
        views = seen if isinstance(seen, list) and len(seen) == len(items) else [None] * len(items)
        for n, item in enumerate(items):
            if rest:
                _walk(item, rest, change, views[n])
            else:
                items[n] = change(item, views[n])
        return
    if rest:
        _walk(value[key], rest, change, seen)
        return
    new = change(value[key], seen)
    if new is _GONE:
        del value[key]
    else:
        value[key] = new


def _status_view(status: Any) -> Any:
    """The provider's view of a stored case (JSON), or None when it is not one."""
    if not isinstance(status, dict):
        return None
    try:
        return case_view.provider_view(CaseStatus.model_validate(status)).model_dump(mode="json")
    except ValueError:
        return None


def strip(
    fields: list[PersonalField], row: dict[str, Any], *, event: str | None = None, role: Role
) -> dict[str, Any]:
    """The row (columns to values, JSON parsed) with its declared personal fields stripped:
    a deep copy; what is not declared is returned as it was."""
    out = copy.deepcopy(row)
    for f in fields:
        if f.events and event not in f.events:
            continue
        segments = f.segments()
        column, _ = segments[0]
        if column not in out:
            continue
        if len(segments) == 1:
            new = _treat(f, out[column], None, role=role)
            out[column] = new
            continue
        _walk(out, segments, functools.partial(_treat, f, role=role), _views(out, column))
    return out


def _views(row: dict[str, Any], column: str) -> dict[str, Any]:
    """The provider's view of every copy of the case in the column (case_rows.status, an
    audit step's details.row.status), shaped like the row."""
    value = row[column]
    if column == "status":
        return {"status": _status_view(value)}
    if column == "details" and isinstance(value, dict):
        snapshot = value.get("row")
        if isinstance(snapshot, dict):
            return {"details": {"row": {"status": _status_view(snapshot.get("status"))}}}
    return {}


# ---- the role that acted, per table ----


def audit_role(actor: str, actor_detail: dict[str, Any] | None) -> Role:
    """An audit step: a copy of the case names people as the provider's view does; every
    other id in the step is its actor's, who acted in the role the token gave."""
    acted = role_of(actor_detail, actor)
    return lambda old, shown: shown if isinstance(shown, str) else acted


def status_role(old: Any, shown: Any) -> Any:
    return shown if isinstance(shown, str) else "user"


def decision_role(kind: str, competent_body: str) -> Role:
    role = case_view.decision_role(kind, competent_body)
    return lambda old, shown: role


def appeal_role(route: str) -> Role:
    role = case_view.appeal_filer_role(route)
    return lambda old, shown: role


def bec_role(old: Any, shown: Any) -> Any:
    return "BEC"


def department_role(old: Any, shown: Any) -> Any:
    """The providers register is changed by the department only."""
    return "department"

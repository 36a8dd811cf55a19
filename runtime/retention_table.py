"""Reads and checks the retention table (`retention.yaml`, models/retention.py).

A table that cannot be used stops the process that reads it, naming the key: an unknown kind
(`kinds.emailz: unknown kind`), a missing one, a negative period (`kinds.emails.keep.years:
must be 0 or more`), an action a kind does not allow. The settings read it at start
(runtime/settings.py), so the worker, the API, setup and `python -m ops` all refuse it alike.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models.personal import PathError, PersonalFields
from models.retention import Kind, RetentionTable, _KindError


class TableError(ValueError):
    """The table cannot be used. `problems` are (key, what is wrong) pairs; str() says all."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "; ".join(f"{key}: {why}" for key, why in problems)
        super().__init__(f"{path}: {lines}")


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        # A tagged union's branch ("period") is not a key of the file.
        loc = [str(p) for p in err["loc"] if p not in ("period", "forever")]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _KindError | PathError):
            out.append((cause.key, cause.message))
            continue
        key = ".".join(loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden" and loc[:1] == ["kinds"] and len(loc) == 2:
            known = ", ".join(k.value for k in Kind)
            out.append((key, f"unknown kind of record; the kinds are {known}"))
        elif kind == "extra_forbidden":
            out.append((key, "unknown key; remove it or check its spelling"))
        elif kind == "missing" and loc[:1] == ["kinds"] and len(loc) == 2:
            out.append((key, "missing: every kind of record has a stated retention"))
        elif kind == "missing":
            out.append((key, "missing: required"))
        elif kind == "greater_than_equal":
            out.append(
                (key, f"must be 0 or more (got {err.get('input')!r}): a period is never negative")
            )
        else:
            msg = err["msg"].removeprefix("Value error, ")
            out.append((key, f"{msg} (got {err.get('input')!r})"))
    return out


def parse_table(data: Any, path: Path) -> RetentionTable:
    if not isinstance(data, dict):
        raise TableError(path, [("(top level)", "must be a mapping with version and kinds")])
    try:
        return RetentionTable.model_validate(data)
    except ValidationError as exc:
        raise TableError(path, _problems(exc)) from None


def load_table(path: Path) -> RetentionTable:
    """The table in `path`; TableError naming each bad key otherwise."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise TableError(path, [("(file)", f"cannot be read: {exc.strerror or exc}")]) from None
    return _cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int, size: int) -> RetentionTable:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(path, [("(file)", f"cannot be read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise TableError(path, [("(file)", f"not valid YAML: {exc}")]) from None
    return parse_table(data, path)


# ---- the declaration of personal fields (personal_fields.yaml) ----


def load_personal(path: Path) -> PersonalFields:
    """The declaration in `path`; TableError naming each bad table, column or path."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise TableError(path, [("(file)", f"cannot be read: {exc.strerror or exc}")]) from None
    return _cached_personal(path, stat.st_mtime_ns, stat.st_size)


def parse_personal(data: Any, path: Path) -> PersonalFields:
    if not isinstance(data, dict):
        raise TableError(path, [("(top level)", "must be a mapping with version and tables")])
    try:
        return PersonalFields.model_validate(data)
    except ValidationError as exc:
        raise TableError(path, _problems(exc)) from None


@functools.lru_cache(maxsize=8)
def _cached_personal(path: Path, mtime_ns: int, size: int) -> PersonalFields:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(path, [("(file)", f"cannot be read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise TableError(path, [("(file)", f"not valid YAML: {exc}")]) from None
    return parse_personal(data, path)

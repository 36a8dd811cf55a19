"""Errors the registry raises; each carries the stable refusal type the API maps to HTTP."""

from __future__ import annotations

from models.errors import Refusal


class RegistryError(Exception):
    refusal: Refusal = Refusal.INVALID_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RegistryError):
    """The input breaks a rule; `problems` lists (field, rule) pairs. Nothing was written."""

    refusal = Refusal.INVALID_INPUT

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {rule}" for field, rule in problems))


class NotFound(RegistryError):
    refusal = Refusal.NOT_FOUND


class Conflict(RegistryError):
    refusal = Refusal.CONFLICT


class InvalidState(RegistryError):
    """Not possible in the current state of the dossier (or of a dossier it names)."""

    refusal = Refusal.INVALID_STATE

"""Stable refusal types. Workflows raise `ApplicationError(message, type=...)` with these;
the API maps them to HTTP statuses; the message is for the user, in plain words."""

from enum import StrEnum


class Refusal(StrEnum):
    FORBIDDEN = "Forbidden"  # the actor lacks the role, or acts for another organisation (403)
    INVALID_STATE = "InvalidState"  # not possible in the case's current state (409)
    WINDOW_CLOSED = "WindowClosed"  # a deadline passed, e.g. the appeal window (409)
    INVALID_INPUT = "InvalidInput"  # the request itself is wrong, e.g. no reason (422)
    NOT_FOUND = "NotFound"  # unknown dossier or provider (404)
    CONFLICT = "Conflict"  # idempotency key reused with another payload (409)

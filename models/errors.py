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


# A refusal's sentence in Dutch when the one who refused gave none (a worker from before
# refusals carried their Dutch sentence): general, never the English words.
GENERAL_NL = {
    Refusal.FORBIDDEN: "U hebt niet het recht om dit te doen.",
    Refusal.INVALID_STATE: (
        "Dit kan niet in de toestand waarin het dossier nu is; bekijk het dossier om te zien "
        "waar het staat."
    ),
    Refusal.WINDOW_CLOSED: "De termijn hiervoor is verstreken.",
    Refusal.INVALID_INPUT: "De gegevens zijn niet volledig of niet juist. Kijk ze na.",
    Refusal.NOT_FOUND: "Er is geen dossier met dit nummer.",
    Refusal.CONFLICT: (
        "Dit kan niet: het botst met een eerder verzoek, of u treedt ook op voor de "
        "organisatie van dit dossier."
    ),
}

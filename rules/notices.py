"""Pure rules of notices: their stable Message-ID, and the dates a notice quotes that follow
from the day it is sent.

A decision's appeal window runs from the day the provider received it, and receipt of an
e-mail is the day it was sent (domain.md step 5). So a refusal or a negative screening
quotes dates computed from the day its e-mail actually goes out, not from the decision day:
the outbox renders such a notice again when it sends it, with these values.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from models.steps import NotificationKind, Recipient
from rules import deadlines

MESSAGE_ID_DOMAIN = "opleidingsdatabank.vlaanderen.be"

# Notices whose sending starts the provider's appeal window.
STARTS_APPEAL_WINDOW = frozenset({NotificationKind.REFUSAL, NotificationKind.SCREENING_RESULT})


def message_id(dossier: str, kind: NotificationKind, step: str, to: Recipient) -> str:
    """One per (dossier, kind, step, recipient): a notice sent again keeps it, so a reader's
    mail client shows a repeat as the same message."""
    local = f"{dossier}.{kind.value}.{step}"
    if to != Recipient.PROVIDER:
        local += f".{to.value}"
    return f"<{re.sub(r'[^A-Za-z0-9_.-]', '-', local)}@{MESSAGE_ID_DOMAIN}>"


def dated_by_sending(
    kind: NotificationKind, context: dict[str, Any], sent_on: date
) -> dict[str, Any]:
    """The template values that depend on the day the notice is sent (ISO dates)."""
    values: dict[str, Any] = {"sent_on": sent_on.isoformat()}
    if kind == NotificationKind.REFUSAL:
        values["appeal_deadline"] = deadlines.appeal_window(sent_on).last_day.isoformat()
    elif kind == NotificationKind.SCREENING_RESULT and not context.get("passed", True):
        values["appeal_deadline"] = deadlines.appeal_window(sent_on).last_day.isoformat()
        values["removal_on"] = deadlines.removal_after_negative_screening(
            sent_on
        ).last_day.isoformat()
    return values

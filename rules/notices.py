"""Pure rules of notices: their stable Message-ID, and the dates a notice quotes that follow
from the day it is sent.

A decision's appeal window runs from the day the provider received it, and receipt of an
e-mail is the day it was sent (domain.md step 5). So a refusal or a negative screening
quotes dates computed from the day its e-mail actually goes out, not from the decision day:
the outbox renders such a notice again when it sends it, with these values.

The text is rendered before SMTP and the case counts from the day SMTP accepted it; a reply
that comes after midnight (or an attempt that may have reached the provider before a retry on
a later day) leaves a text whose dates the case does not keep. The case keeps the later day
and the provider gets a correction quoting it (`correction`).
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


# The dates a notice quotes that run from the day it is sent, as a correction names them.
QUOTED_DATES = ("appeal_deadline", "removal_on")


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


def correction(
    kind: NotificationKind, context: dict[str, Any], quoted_on: date, kept_on: date
) -> dict[str, Any] | None:
    """What a correction of a notice must say, or None when none is owed: the dates its text
    quoted (computed from `quoted_on`) that differ from those the case keeps (from `kept_on`,
    the day SMTP accepted it). Keys `appeal_deadline`/`removal_on` hold the kept dates and
    `was_<key>` the quoted ones; a day that moved without moving any date (a weekend's shift)
    owes nothing."""
    if kind not in STARTS_APPEAL_WINDOW or quoted_on == kept_on:
        return None
    said = dated_by_sending(kind, context, quoted_on)
    kept = dated_by_sending(kind, context, kept_on)
    changed = {key: kept[key] for key in QUOTED_DATES if key in kept and said.get(key) != kept[key]}
    if not changed:
        return None
    return {
        "assumed_on": quoted_on.isoformat(),
        "accepted_on": kept_on.isoformat(),
        **changed,
        **{f"was_{key}": said[key] for key in changed},
    }

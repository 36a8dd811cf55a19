"""Events for the portal (issue 14): what one recorded step tells the outside world, and the
contracts of their delivery (webhooks) and of the feed. No I/O here.

Each step becomes one CloudEvents 1.0 event: type `be.vlaanderen.wse.odb.<dotted verb>`,
subject = the dossier, id = a UUIDv5 of (dossier, step), so a retried step never makes a
second event and a delivery repeated after a crash carries the same `webhook-id`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TYPE_PREFIX = "be.vlaanderen.wse.odb."
SOURCE = "urn:be:vlaanderen:wse:opleidingsdatabank"
# Fixed namespace of the event ids: uuid5(EVENT_NAMESPACE, "<dossier>/<step>").
EVENT_NAMESPACE = uuid.UUID("6f1c1d0e-5b0a-4f53-9a61-0db0e4e0c014")
WORKFLOW_ID_PREFIX = "events-"
# The CloudEvents `sequence` extension is a String compared lexicographically: the feed's
# seq (a PostgreSQL bigint, at most 19 digits) zero-padded to 19 digits keeps its order.
SEQUENCE_DIGITS = 19
SEQUENCE_PATTERN = rf"^[0-9]{{{SEQUENCE_DIGITS}}}$"


def sequence_text(seq: int) -> str:
    """42 -> '0000000000000000042' (the `sequence` attribute, also the feed's cursor)."""
    return f"{seq:0{SEQUENCE_DIGITS}d}"


def event_type(verb: str) -> str:
    """`application.refused` -> `be.vlaanderen.wse.odb.application.refused`."""
    return TYPE_PREFIX + verb


def event_id(dossier: str, step: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{dossier}/{step}"))


class NextDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    last_day: date
    due_at: datetime


class EventData(BaseModel):
    """The event's `data`: what the portal needs to show the change without asking. No
    personal data beyond what the portal already has (no e-mail addresses, no user ids)."""

    model_config = ConfigDict(frozen=True)

    dossier: str
    step: str
    state: str
    state_before: str | None = None
    provider: str | None = None  # enterprise number (an organisation)
    competent_body: str | None = None
    # The deadline this step set (the nearest, when it set several), if any.
    next_deadline: NextDeadline | None = None
    decision: dict[str, Any] | None = None  # kind, outcome, reason, decided_at
    appeal_number: int | None = None
    screening: dict[str, Any] | None = None  # year, outcome, score, rubric_version
    registered_from: date | None = None
    registered_until: date | None = None
    end_reason: str | None = None
    removal_on: date | None = None
    removal_cancelled: bool = False
    acted_by: str = Field("user", description="user or system (no user ids)")


class FeedEvent(BaseModel):
    """One event of the feed: the CloudEvents 1.0 JSON form plus the feed's sequence."""

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any]
    sequence: str = Field(
        pattern=SEQUENCE_PATTERN,
        description="CloudEvents `sequence` extension: the position in the feed's total "
        "order, zero-padded to 19 digits (a String in the spec; compare as text)",
    )


class EventPage(BaseModel):
    events: list[FeedEvent]
    # Pass as ?after= to read on: the last event's `sequence`; unchanged when nothing new
    # (keep polling with it).
    next_cursor: str


class DeliveryInput(BaseModel):
    """The delivery workflow of one subscription (id `events-<subscription>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subscription: str
    runs: int = 0  # delivery activity runs in this workflow run (continue-as-new after N)


class DeliveryRun(BaseModel):
    """What one delivery activity run did."""

    model_config = ConfigDict(frozen=True)

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    # The subscription left the settings: stop (a paused one keeps its workflow: it sends
    # nothing until resumed).
    stop: str | None = None

"""Builders for registry tests: valid providers, applications and steps."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from models.identity import Actor, Role, RoleKind
from models.steps import NotificationKind, NotificationRequest, Recipient, StepInput
from registry import applications, providers

PROVIDER_ACTOR = Actor(
    subject="u-provider", organisation="0123456749", roles=(Role(kind=RoleKind.PROVIDER),)
)
REVIEWER = Actor(subject="u-reviewer", roles=(Role(kind=RoleKind.REVIEWER, body="VOC"),))


def enterprise_number() -> str:
    base = random.randint(2_000_000, 9_999_999)  # 0 + 7 digits: starts with 0
    return f"0{base:07d}{97 - base % 97:02d}"


def payload(provider: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": provider,
        "provider_name": "Opleidingscentrum Test vzw",
        "contact_email": "aanvragen@test.example.be",
        "title": "Lassen voor gevorderden",
        "start_date": (date.today() + timedelta(days=200)).isoformat(),
        "volume_unit": "contact_hours",
        "volume": "40",
    }
    data.update(changes)
    return data


async def new_provider(db: asyncpg.Pool[Any]) -> str:
    return await providers.upsert(db, enterprise_number(), "Opleidingscentrum Test vzw")


async def new_dossier(db: asyncpg.Pool[Any], **changes: Any) -> str:
    provider = await new_provider(db)
    async with db.acquire() as conn:
        dossier, _ = await applications.allocate(
            conn, str(uuid.uuid4()), payload(provider, **changes), datetime.now(UTC)
        )
    return dossier


def step(dossier: str, name: str, **fields: Any) -> StepInput:
    base: dict[str, Any] = {
        "dossier": dossier,
        "step": name,
        "at": datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        "actor": REVIEWER,
        "event": f"application.{name}",
        "state_before": "under_review",
        "state_after": "under_review",
        # As the case records steps today: it delivers each queued notice itself.
        "notices_apart": True,
    }
    base.update(fields)
    return StepInput.model_validate(base)


def note(
    kind: NotificationKind, to: Recipient = Recipient.PROVIDER, **context: Any
) -> NotificationRequest:
    return NotificationRequest(kind=kind, to=to, context=context)


async def rows(db: asyncpg.Pool[Any], dossier: str) -> dict[str, int]:
    """How many rows the dossier has in every registry table."""
    counts = {}
    for table in (
        "audit",
        "decisions",
        "appeals",
        "hearings",
        "screening_results",
        "registration_periods",
        "deadlines",
        "notifications",
    ):
        counts[table] = await db.fetchval(
            f"SELECT count(*) FROM {table} WHERE dossier = $1", dossier
        )
    return counts

"""The e-mail outbox and the record of every message sent.

status: pending -> sending -> sent. `claim` commits 'sending' before the SMTP conversation,
so a message is never handed to SMTP twice; see activities/notifications.py for the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from models.registry import NotificationRecord
from registry.db import Conn

Db: TypeAlias = "Conn | asyncpg.Pool[Any]"


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    dossier: str
    step: str
    kind: str
    to_address: str
    subject: str
    body: str
    message_id: str


async def add(
    conn: Conn,
    *,
    dossier: str,
    step: str,
    kind: str,
    recipient: str,
    to_address: str,
    subject: str,
    body: str,
    message_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO notifications (dossier, step, kind, recipient, to_address, subject,
               body, message_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT DO NOTHING""",
        dossier,
        step,
        kind,
        recipient,
        to_address,
        subject,
        body,
        message_id,
    )


async def pending(db: Db, dossier: str) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM notifications WHERE dossier = $1 AND status = 'pending' ORDER BY id",
        dossier,
    )
    return [int(r["id"]) for r in rows]


async def claim(db: Db, notification_id: int) -> OutboxMessage | None:
    """Marks the message 'sending' (its own committed statement); None if another worker
    took it or it is no longer pending."""
    row = await db.fetchrow(
        """UPDATE notifications
           SET status = 'sending', sending_at = now(), attempts = attempts + 1
           WHERE id = $1 AND status = 'pending'
           RETURNING id, dossier, step, kind, to_address, subject, body, message_id""",
        notification_id,
    )
    return None if row is None else OutboxMessage(**dict(row))


async def mark(db: Db, notification_id: int, status: str, error: str | None = None) -> None:
    """status: 'sent', 'pending' (not accepted, retry), 'uncertain' or 'failed'."""
    await db.execute(
        """UPDATE notifications
           SET status = $2, last_error = COALESCE($3, last_error),
               sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
           WHERE id = $1 AND status = 'sending'""",
        notification_id,
        status,
        error,
    )


async def sent_for_step(db: Db, dossier: str, step: str) -> list[str]:
    rows = await db.fetch(
        """SELECT message_id FROM notifications
           WHERE dossier = $1 AND step = $2 AND status = 'sent' ORDER BY id""",
        dossier,
        step,
    )
    return [str(r["message_id"]) for r in rows]


async def for_dossier(db: Db, dossier: str) -> list[NotificationRecord]:
    rows = await db.fetch(
        """SELECT kind, recipient, to_address, subject, message_id, status, created_at, sent_at
           FROM notifications WHERE dossier = $1 ORDER BY id""",
        dossier,
    )
    return [NotificationRecord.model_validate(dict(r)) for r in rows]


async def stuck(db: Db) -> list[NotificationRecord]:
    """Messages ops must look at: sending (a worker died mid-send) or uncertain."""
    rows = await db.fetch(
        """SELECT kind, recipient, to_address, subject, message_id, status, created_at, sent_at
           FROM notifications WHERE status IN ('sending', 'uncertain') ORDER BY id"""
    )
    return [NotificationRecord.model_validate(dict(r)) for r in rows]

"""The e-mail outbox and the record of every message sent.

status: pending -> sending -> sent (or failed: the server refused it for good). `claim`
commits 'sending' with a lease before the SMTP conversation. The claimant that holds it
(a retried activity) may claim again at once; anyone else only once the lease has run out,
so a worker that died or stalled mid-send never leaves a notice unsent. See
activities/notifications.py for the delivery rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from models.registry import NotificationRecord
from registry.db import Conn, Db

# Rows a claim may take: never claimed, or claimed by the same claimant, or whose claim ran
# out ('uncertain' rows were left so by earlier code; they are reclaimed the same way).
_CLAIMABLE = """
    status = 'pending'
    OR (status IN ('sending', 'uncertain')
        AND (claimed_by = $2
             OR COALESCE(lease_until, sending_at + $3::interval, now()) < now()))
"""
_RECORD_COLUMNS = """kind, recipient, to_address, subject, message_id, status, attempts,
    last_error, created_at, sent_at, dossier, step"""


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
    context: dict[str, Any] | None
    recipient: str = "provider"
    # Set when it was accepted before (ops resend a sent notice): its dates stay those of
    # that first acceptance, the day the case counts from.
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Accepted:
    """The acceptance as recorded: the first one, if a concurrent claimant got there before,
    and the earliest day whose dates a text of this message that may have reached the
    recipient quoted (None: no dated text)."""

    sent_at: datetime
    quoted_on: date | None


@dataclass(frozen=True)
class Settled:
    """Why a message could not be claimed: already sent, refused for good, or held by
    another claimant until `lease_until`."""

    status: str
    sent_at: datetime | None
    lease_until: datetime | None
    last_error: str | None


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
    context: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO notifications (dossier, step, kind, recipient, to_address, subject,
               body, message_id, context)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT DO NOTHING""",
        dossier,
        step,
        kind,
        recipient,
        to_address,
        subject,
        body,
        message_id,
        context,
    )


async def open_for_dossier(db: Db, dossier: str) -> list[str]:
    """Message-IDs of the dossier's notices not yet sent (nor refused for good)."""
    rows = await db.fetch(
        """SELECT message_id FROM notifications
           WHERE dossier = $1 AND status IN ('pending', 'sending', 'uncertain') ORDER BY id""",
        dossier,
    )
    return [str(r["message_id"]) for r in rows]


async def claim(
    db: Db, message_id: str, claimant: str, lease: timedelta
) -> OutboxMessage | Settled | None:
    """Marks the message 'sending' for `claimant` (its own committed statement). Returns the
    message to send, or why it cannot be claimed, or None when there is no such message."""
    row = await db.fetchrow(
        f"""UPDATE notifications
            SET status = 'sending', sending_at = now(), claimed_by = $2,
                lease_until = now() + $3::interval, attempts = attempts + 1
            WHERE message_id = $1 AND ({_CLAIMABLE})
            RETURNING id, dossier, step, kind, to_address, subject, body, message_id,
                      context, recipient, sent_at""",
        message_id,
        claimant,
        lease,
    )
    if row is not None:
        return OutboxMessage(**dict(row))
    found = await db.fetchrow(
        """SELECT status, sent_at, lease_until, last_error FROM notifications
           WHERE message_id = $1""",
        message_id,
    )
    return None if found is None else Settled(**dict(found))


async def store_rendered(db: Db, notification_id: int, subject: str, body: str) -> None:
    """The text as it is about to be sent (dated by the day it goes out)."""
    await db.execute(
        "UPDATE notifications SET subject = $2, body = $3 WHERE id = $1",
        notification_id,
        subject,
        body,
    )


async def mark_sent(
    db: Db, notification_id: int, sent_at: datetime, quoted_on: date | None = None
) -> Accepted:
    """Records the server's acceptance of the text dated `quoted_on`; returns the recorded
    moment (the first one, if a concurrent claimant got there before) and the earliest
    dated text that may have reached the recipient."""
    row = await db.fetchrow(
        """UPDATE notifications
           SET status = 'sent', sent_at = COALESCE(sent_at, $2), lease_until = NULL,
               quoted_on = LEAST(quoted_on, $3)
           WHERE id = $1
           RETURNING sent_at, quoted_on""",
        notification_id,
        sent_at,
        quoted_on,
    )
    if row is None:
        return Accepted(sent_at=sent_at, quoted_on=quoted_on)
    return Accepted(sent_at=row["sent_at"], quoted_on=row["quoted_on"])


async def release(
    db: Db, notification_id: int, error: str, handed_over: date | None = None
) -> None:
    """The server does not have it (or, `handed_over`, may have the text dated that day,
    which the recipient may then read): pending again, for the next attempt."""
    await db.execute(
        """UPDATE notifications
           SET status = 'pending', last_error = $2, claimed_by = NULL, lease_until = NULL,
               quoted_on = LEAST(quoted_on, $3)
           WHERE id = $1 AND status = 'sending'""",
        notification_id,
        error,
        handed_over,
    )


async def open_correction(db: Db, message_id: str) -> str | None:
    """The Message-ID of the correction of this message, while it is not sent yet."""
    value = await db.fetchval(
        """SELECT c.message_id FROM notifications o
           JOIN notifications c ON c.dossier = o.dossier AND c.step = o.step
                AND c.recipient = o.recipient AND c.kind = 'notice_corrected'
           WHERE o.message_id = $1 AND c.status IN ('pending', 'sending', 'uncertain')""",
        message_id,
    )
    return None if value is None else str(value)


async def fail(db: Db, notification_id: int, error: str) -> None:
    """The server refused it for good (5xx): kept for ops, who can resend it."""
    await db.execute(
        """UPDATE notifications
           SET status = 'failed', last_error = $2, claimed_by = NULL, lease_until = NULL
           WHERE id = $1 AND status = 'sending'""",
        notification_id,
        error,
    )


async def requeue(db: Db, message_id: str) -> NotificationRecord | None:
    """Ops' resend: the message goes back to pending whatever its status (a sent one is
    sent again, with the same Message-ID). Not one whose address and text retention
    removed: queued, it would wait forever for an address nobody has."""
    row = await db.fetchrow(
        f"""UPDATE notifications
            SET status = 'pending', claimed_by = NULL, lease_until = NULL
            WHERE message_id = $1 AND to_address <> ''
            RETURNING {_RECORD_COLUMNS}""",
        message_id,
    )
    return None if row is None else NotificationRecord.model_validate(dict(row))


async def by_message_id(db: Db, message_id: str) -> NotificationRecord | None:
    row = await db.fetchrow(
        f"SELECT {_RECORD_COLUMNS} FROM notifications WHERE message_id = $1", message_id
    )
    return None if row is None else NotificationRecord.model_validate(dict(row))


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
        f"SELECT {_RECORD_COLUMNS} FROM notifications WHERE dossier = $1 ORDER BY id", dossier
    )
    return [NotificationRecord.model_validate(dict(r)) for r in rows]


async def unsent(db: Db, limit: int = 100) -> list[NotificationRecord]:
    """What ops look at: every message not sent (pending, sending, failed), oldest first."""
    rows = await db.fetch(
        f"""SELECT {_RECORD_COLUMNS} FROM notifications
            WHERE status IN ('pending', 'sending', 'uncertain', 'failed')
            ORDER BY created_at, id LIMIT $1""",
        limit,
    )
    return [NotificationRecord.model_validate(dict(r)) for r in rows]


@dataclass(frozen=True)
class OutboxState:
    counts: dict[str, int]  # pending, sending, failed (uncertain counts as sending)
    oldest_unsent_seconds: float  # age of the oldest pending or sending message; 0 if none


async def state(db: Db) -> OutboxState:
    rows = await db.fetch(
        """SELECT CASE WHEN status = 'uncertain' THEN 'sending' ELSE status END AS status,
                  count(*) AS n,
                  extract(epoch FROM now() - min(created_at)) AS age
           FROM notifications WHERE status IN ('pending', 'sending', 'uncertain', 'failed')
           GROUP BY 1"""
    )
    counts = {"pending": 0, "sending": 0, "failed": 0}
    oldest = 0.0
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + int(r["n"])
        if r["status"] != "failed":
            oldest = max(oldest, float(r["age"] or 0))
    return OutboxState(counts=counts, oldest_unsent_seconds=oldest)

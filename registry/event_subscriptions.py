"""Webhook subscriptions as the registry holds them: the settings' list (synced at every
worker start) and their pause state.

A subscription is **paused** while `gone_at` (its receiver answered 410 Gone) or `paused_at`
(ops ran `python -m starter events pause`) is set. Paused, it still gets a pending delivery
row for every event (registry/events.py: append), in order; delivery just sends none of them.
**Resumed** (`events resume`, or for a gone subscription a new URL in the settings), the
backlog goes out in order per dossier with the original ids, and the retry horizon of every
event still pending counts from the resume: paused time never burns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from registry.db import Conn, Db


@dataclass(frozen=True)
class Subscription:
    name: str
    url: str
    active: bool  # in the settings (as of the last worker start)
    gone_at: datetime | None  # the receiver answered 410 Gone
    paused_at: datetime | None  # paused by ops
    paused_note: str | None

    @property
    def paused(self) -> bool:
        return self.gone_at is not None or self.paused_at is not None

    @property
    def why_paused(self) -> str | None:
        """`gone (410)`, `paused by ops`, both, or None."""
        why = []
        if self.gone_at is not None:
            why.append(f"the receiver answered 410 Gone at {_utc(self.gone_at)}")
        if self.paused_at is not None:
            note = f": {self.paused_note}" if self.paused_note else ""
            why.append(f"paused by ops at {_utc(self.paused_at)}{note}")
        return "; ".join(why) or None


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


_COLUMNS = "name, url, active, gone_at, paused_at, paused_note"


async def get(db: Db, name: str) -> Subscription | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM event_subscriptions WHERE name = $1", name)
    return Subscription(**dict(row)) if row else None


async def names(db: Db) -> list[str]:
    return [r["name"] for r in await db.fetch("SELECT name FROM event_subscriptions ORDER BY 1")]


async def _resumed(conn: Conn, name: str) -> int:
    """The backlog of a subscription that stops being paused: due now, its retry horizon
    counting from now. Returns how many events it holds."""
    result: str = await conn.execute(
        """UPDATE event_deliveries SET horizon_from = now(), next_attempt_at = now()
           WHERE subscription = $1 AND status = 'pending'""",
        name,
    )
    await conn.execute(
        "UPDATE event_subscriptions SET resumed_at = now(), updated_at = now() WHERE name = $1",
        name,
    )
    return int(result.split()[-1])


async def sync(conn: Conn, configured: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """Makes the table match the settings ({name: (url, types)}): new ones active, the
    others inactive. A changed URL clears a 410 Gone (the portal gave a new endpoint): when
    nothing else pauses it (ops), the subscription resumes and its backlog goes to the new
    URL. An ops pause stays until `events resume`. Returns the names resumed."""
    resumed = []
    async with conn.transaction():
        for name, (url, types) in configured.items():
            old = await conn.fetchrow(
                "SELECT url, gone_at, paused_at FROM event_subscriptions WHERE name = $1 "
                "FOR UPDATE",
                name,
            )
            await conn.execute(
                """INSERT INTO event_subscriptions (name, url, types) VALUES ($1, $2, $3)
                   ON CONFLICT (name) DO UPDATE SET
                       gone_at = CASE WHEN event_subscriptions.url = EXCLUDED.url
                                      THEN event_subscriptions.gone_at END,
                       url = EXCLUDED.url, types = EXCLUDED.types, active = true,
                       updated_at = now()""",
                name,
                url,
                list(types),
            )
            if old and old["gone_at"] and old["url"] != url and old["paused_at"] is None:
                await _resumed(conn, name)
                resumed.append(name)
        await conn.execute(
            """UPDATE event_subscriptions SET active = false, updated_at = now()
               WHERE NOT (name = ANY ($1::text[])) AND active""",
            list(configured),
        )
    return resumed


async def mark_gone(db: Db, subscription: str) -> None:
    await db.execute(
        "UPDATE event_subscriptions SET gone_at = now() WHERE name = $1 AND gone_at IS NULL",
        subscription,
    )


async def pause(db: Db, name: str, note: str | None) -> bool:
    """Ops pause: delivery sends nothing more (a send in flight finishes); every event stays
    pending. False when ops had paused it already (nothing changes)."""
    result: str = await db.execute(
        """UPDATE event_subscriptions SET paused_at = now(), paused_note = $2,
               updated_at = now()
           WHERE name = $1 AND paused_at IS NULL""",
        name,
        note,
    )
    return result.endswith(" 1")


async def resume(conn: Conn, name: str) -> int:
    """Clears both pauses (ops, 410 Gone) in one transaction with the backlog's new horizon;
    returns the backlog (pending events). The caller checked that it was paused."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE event_subscriptions SET gone_at = NULL, paused_at = NULL,
                   paused_note = NULL
               WHERE name = $1""",
            name,
        )
        return await _resumed(conn, name)

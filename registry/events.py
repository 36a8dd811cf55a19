"""Events for the portal: the CloudEvents outbox, its webhook deliveries and the feed.

`append` runs inside the step's transaction (registry/steps.py): one event per recorded step,
plus one delivery row per active subscription whose types match. It first takes a
transaction-scoped advisory lock, so `seq` numbers are committed in the order they are drawn
and a reader never sees seq n+1 before seq n exists (the feed's cursor and the delivery
lanes can rely on it). The lock is held from the event insert to the commit (the last
statements of a short transaction): steps are serialised only for those few milliseconds.

A paused subscription (registry/event_subscriptions.py) gets its delivery rows like any
other; the lane queries below hand out none of its events until it is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from models.events import (
    SOURCE,
    EventData,
    FeedEvent,
    NextDeadline,
    event_id,
    event_type,
    sequence_text,
)
from models.steps import StepInput
from registry.db import Conn, Db

_SEQ_LOCK = 0x0DB_0E7E
_JSON = JSONFormat()


def event_data(step: StepInput, provider: str | None) -> EventData:
    nearest = min(step.deadlines, key=lambda d: d.due_at, default=None)
    decision = step.decision
    screening = step.screening
    return EventData(
        dossier=step.dossier,
        step=step.step,
        state=step.state_after,
        state_before=step.state_before,
        provider=provider,
        competent_body=step.competent_body,
        next_deadline=NextDeadline(
            kind=nearest.kind.value, last_day=nearest.last_day, due_at=nearest.due_at
        )
        if nearest
        else None,
        decision={
            "kind": decision.kind,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "decided_at": decision.decided_at.isoformat(),
        }
        if decision
        else None,
        appeal_number=step.appeal_number or (step.appeal.number if step.appeal else None),
        screening={
            "year": screening.year,
            "outcome": screening.outcome,
            "passed": screening.passed,
            "score": screening.score,
            "rubric_version": screening.rubric_version,
        }
        if screening
        else None,
        registered_from=step.open_registration,
        registered_until=step.close_registration.last_day if step.close_registration else None,
        end_reason=step.close_registration.reason.value if step.close_registration else None,
        removal_on=step.removal_on,
        removal_cancelled=step.cancel_removal,
        acted_by="system" if step.actor.subject == "system" else "user",
    )


def cloud_event(
    id_: str, type_: str, subject: str, time: datetime, data: dict[str, Any], seq: int
) -> CloudEvent:
    """The CloudEvents 1.0 event (the library validates the attributes), with the
    `sequence` extension: a String in the spec, so the zero-padded seq (it keeps the order)."""
    return CloudEvent(
        {
            "id": id_,
            "source": SOURCE,
            "type": type_,
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
            "sequence": sequence_text(seq),
        },
        data,
    )


async def append(conn: Conn, step: StepInput, provider: str | None) -> int:
    """Writes the step's event and its pending deliveries; returns the event's seq. Call
    it inside the step's transaction, as its last write: one statement (one round trip),
    the sequence lock taken just before the insert and held to the commit. `recorded_at`
    is the clock at that insert (not the transaction's start), within a round trip of the
    commit: delivery lag is measured from it."""
    data = event_data(step, provider).model_dump(mode="json", exclude_none=True)
    type_ = event_type(step.event)
    eid = event_id(step.dossier, step.step)
    cloud_event(eid, type_, step.dossier, step.at, data, 0)  # refuses an invalid event
    seq = await conn.fetchval(
        """WITH locked AS (SELECT pg_advisory_xact_lock($8)),
           added AS (
               INSERT INTO events (id, type, source, subject, step, time, data, recorded_at)
               SELECT $1, $2, $3, $4, $5, $6, $7, clock_timestamp() FROM locked
               RETURNING seq),
           deliveries AS (
               INSERT INTO event_deliveries (subscription, seq, dossier)
               SELECT s.name, added.seq, $4 FROM event_subscriptions s, added
               -- paused ones too: their events wait, pending, for the resume
               WHERE s.active AND (s.types = '{}' OR $2 = ANY (s.types)))
           SELECT seq FROM added""",
        eid,
        type_,
        SOURCE,
        step.dossier,
        step.step,
        step.at,
        data,
        _SEQ_LOCK,
    )
    return int(seq)


# ---------------------------------------------------------------- the feed


def _feed_event(r: Any) -> FeedEvent:
    return FeedEvent(
        id=str(r["id"]),
        source=r["source"],
        type=r["type"],
        subject=r["subject"],
        time=r["time"],
        data=r["data"],
        sequence=sequence_text(r["seq"]),
    )


async def feed(
    db: Db,
    after: int,
    limit: int,
    *,
    everything: bool,
    provider: str | None = None,
    bodies: tuple[str, ...] = (),
) -> list[FeedEvent]:
    """Events after `after` in seq order that the reader may see: all (BEC, department), or
    those of the provider's own dossiers and of the competent bodies the reader sits on."""
    rows = await db.fetch(
        """SELECT e.seq, e.id, e.type, e.source, e.subject, e.time, e.data
           FROM events e JOIN applications a ON a.dossier = e.subject
           WHERE e.seq > $1
             AND ($3 OR a.provider = $4 OR a.competent_body = ANY ($5::text[]))
           ORDER BY e.seq LIMIT $2""",
        after,
        limit,
        everything,
        provider,
        list(bodies),
    )
    return [_feed_event(r) for r in rows]


async def for_dossier(db: Db, dossier: str) -> list[FeedEvent]:
    rows = await db.fetch(
        """SELECT seq, id, type, source, subject, time, data FROM events
           WHERE subject = $1 ORDER BY seq""",
        dossier,
    )
    return [_feed_event(r) for r in rows]


# ---------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class Pending:
    """The head of one dossier's lane: its oldest event not yet delivered."""

    seq: int
    dossier: str
    attempts: int
    recorded_at: datetime
    # The retry horizon counts from here: recorded_at, or the last resume (or redeliver).
    horizon_from: datetime
    body: bytes  # the CloudEvents JSON, as POSTed and signed
    id: str
    type: str


def _pending(r: Any) -> Pending:
    event = cloud_event(str(r["id"]), r["type"], r["subject"], r["time"], r["data"], r["seq"])
    return Pending(
        seq=r["seq"],
        dossier=r["dossier"],
        attempts=r["attempts"],
        recorded_at=r["recorded_at"],
        horizon_from=r["horizon_from"],
        body=_JSON.write(event),
        id=str(r["id"]),
        type=r["type"],
    )


# A paused subscription's lanes have no head: its events wait, pending, in order.
_NOT_PAUSED = """EXISTS (SELECT FROM event_subscriptions s
                   WHERE s.name = $1 AND s.gone_at IS NULL AND s.paused_at IS NULL)"""

_HEADS = f"""
    SELECT h.seq, h.dossier, h.attempts, e.recorded_at,
           coalesce(h.horizon_from, e.recorded_at) AS horizon_from,
           e.id, e.type, e.subject, e.time, e.data
    FROM (SELECT DISTINCT ON (dossier) seq, dossier, attempts, next_attempt_at, horizon_from
          FROM event_deliveries
          WHERE subscription = $1 AND status = 'pending' AND ($3::text IS NULL OR dossier = $3)
          ORDER BY dossier, seq) h
    JOIN events e ON e.seq = h.seq
    WHERE h.next_attempt_at <= now() AND NOT (h.dossier = ANY ($4::text[])) AND {_NOT_PAUSED}
    ORDER BY h.seq LIMIT $2"""


async def ready_heads(
    db: Db, subscription: str, limit: int, busy: tuple[str, ...] = ()
) -> list[Pending]:
    """Lane heads due for an attempt, oldest first, skipping the dossiers in `busy`."""
    rows = await db.fetch(_HEADS, subscription, limit, None, list(busy))
    return [_pending(r) for r in rows]


async def lane_head(db: Db, subscription: str, dossier: str) -> Pending | None:
    rows = await db.fetch(_HEADS, subscription, 1, dossier, [])
    return _pending(rows[0]) if rows else None


async def mark_delivered(
    db: Db, subscription: str, head: Pending, *, next_head: bool = True
) -> Pending | None:
    """Records the receiver's acceptance of a lane's head and, in the same statement (one
    round trip, it runs for every event), reads the lane's next head: its oldest other
    pending event, when that is due and the subscription not paused (`next_head` False:
    none is read)."""
    rows = await db.fetch(
        f"""WITH done AS (
               UPDATE event_deliveries SET status = 'delivered', delivered_at = now(),
                   attempts = attempts + 1, last_error = NULL
               WHERE subscription = $1 AND seq = $2),
           -- The statement's snapshot still shows $2 pending: the head is the oldest other.
           head AS (
               SELECT seq, dossier, attempts, next_attempt_at, horizon_from
               FROM event_deliveries
               WHERE subscription = $1 AND dossier = $3 AND status = 'pending' AND seq <> $2
               ORDER BY seq LIMIT 1)
           SELECT h.seq, h.dossier, h.attempts, e.recorded_at,
                  coalesce(h.horizon_from, e.recorded_at) AS horizon_from,
                  e.id, e.type, e.subject, e.time, e.data
           FROM head h JOIN events e ON e.seq = h.seq
           WHERE $4 AND h.next_attempt_at <= now() AND {_NOT_PAUSED}""",
        subscription,
        head.seq,
        head.dossier,
        next_head,
    )
    return _pending(rows[0]) if rows else None


async def mark_retry(db: Db, subscription: str, seq: int, error: str, delay: timedelta) -> None:
    await db.execute(
        """UPDATE event_deliveries SET attempts = attempts + 1, last_error = $3,
               next_attempt_at = now() + $4
           WHERE subscription = $1 AND seq = $2""",
        subscription,
        seq,
        error[:1000],
        delay,
    )


async def mark_failed(db: Db, subscription: str, seq: int, error: str) -> None:
    await db.execute(
        """UPDATE event_deliveries SET status = 'failed', attempts = attempts + 1,
               last_error = $3
           WHERE subscription = $1 AND seq = $2""",
        subscription,
        seq,
        error[:1000],
    )


async def wake_all(db: Db, subscription: str) -> None:
    """The receiver answered again: every lane waiting out a backoff tries now."""
    await db.execute(
        """UPDATE event_deliveries SET next_attempt_at = now()
           WHERE subscription = $1 AND status = 'pending' AND next_attempt_at > now()""",
        subscription,
    )


async def redeliver(db: Db, subscription: str, since: datetime) -> int:
    """Puts every event recorded since `since` back in the subscription's queue (delivered,
    failed or never queued for it); they go out again with the same webhook-id. Their retry
    horizon counts from now (an old event is not failed at its first refused attempt)."""
    result: str = await db.execute(
        """INSERT INTO event_deliveries (subscription, seq, dossier, horizon_from)
           SELECT $1, e.seq, e.subject, now() FROM events e
           JOIN event_subscriptions s ON s.name = $1
           WHERE e.recorded_at >= $2 AND (s.types = '{}' OR e.type = ANY (s.types))
           ON CONFLICT (subscription, seq) DO UPDATE SET status = 'pending', attempts = 0,
               next_attempt_at = now(), last_error = NULL, delivered_at = NULL,
               horizon_from = now()""",
        subscription,
        since,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class DeliveryState:
    subscription: str
    counts: dict[str, int]  # pending, delivered, failed
    oldest_pending_seconds: float
    gone: bool  # the receiver answered 410 Gone
    active: bool
    paused_by_ops: bool = False

    @property
    def paused(self) -> bool:
        """Nothing is sent; every event stays pending (the backlog) until resumed."""
        return self.gone or self.paused_by_ops


async def state(db: Db) -> list[DeliveryState]:
    rows = await db.fetch(
        """SELECT s.name, s.active, s.gone_at IS NOT NULL AS gone,
                  s.paused_at IS NOT NULL AS paused_by_ops,
                  count(*) FILTER (WHERE d.status = 'pending') AS pending,
                  count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
                  count(*) FILTER (WHERE d.status = 'failed') AS failed,
                  coalesce(extract(epoch FROM now() - min(d.created_at)
                      FILTER (WHERE d.status = 'pending')), 0) AS oldest
           FROM event_subscriptions s LEFT JOIN event_deliveries d ON d.subscription = s.name
           GROUP BY s.name ORDER BY s.name"""
    )
    return [
        DeliveryState(
            subscription=r["name"],
            counts={k: int(r[k]) for k in ("pending", "delivered", "failed")},
            oldest_pending_seconds=float(r["oldest"]),
            gone=bool(r["gone"]),
            active=bool(r["active"]),
            paused_by_ops=bool(r["paused_by_ops"]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class DeliveryRow:
    subscription: str
    seq: int
    dossier: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    recorded_at: datetime


async def undelivered(db: Db, limit: int, subscription: str | None = None) -> list[DeliveryRow]:
    rows = await db.fetch(
        """SELECT d.subscription, d.seq, d.dossier, e.type, d.status, d.attempts,
                  d.last_error, e.recorded_at
           FROM event_deliveries d JOIN events e ON e.seq = d.seq
           WHERE d.status IN ('pending', 'failed') AND ($2::text IS NULL OR d.subscription = $2)
           ORDER BY d.seq LIMIT $1""",
        limit,
        subscription,
    )
    return [DeliveryRow(**dict(r)) for r in rows]

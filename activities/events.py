"""Webhook delivery of the events (issue 14): at least once, in order per dossier.

`events.deliver` runs for `events.run_seconds` for one subscription, then returns; its
workflow (`EventDeliveryWorkflow`, id `events-<subscription>`) starts the next run. Within a
run each dossier is a lane: only its oldest pending event is sent, the next one only after
the receiver accepted it (2xx); up to `max_concurrency` lanes at once. A failed attempt
(connection refused, timeout, 5xx, 4xx, a redirect: not followed, the URL is to be fixed)
backs off that lane alone, 1 s doubling up to `max_backoff_seconds`; the first success after
failures wakes every waiting lane (the receiver is back). An event still not accepted
`retry_horizon_hours` after its step (or after the subscription's last resume, whichever is
later) is marked failed and its lane goes on.

410 Gone pauses the subscription (alert: log `events.subscription.gone` + the gauge
`odb_event_subscription_gone`); so does ops (`python -m starter events pause`). Paused, the
run keeps going but sends nothing new (a send in flight finishes): every event stays pending,
in order, until `events resume` (or a new URL for a gone one) lets the lanes take them again.
Each delivery is signed with the subscription's `secret` and, during a rotation, its
`previous_secret` too (Standard Webhooks: several signatures in one header).

State lives in `event_deliveries` rows, so a worker killed mid-delivery loses nothing: the
activity times out on its heartbeat, the next attempt finds the same rows and sends again
what was not recorded as accepted, with the same `webhook-id` (the event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.events import WORKFLOW_ID_PREFIX, DeliveryInput, DeliveryRun
from registry import event_subscriptions, events
from runtime.logging import get_logger
from runtime.settings import Settings, SubscriptionSettings

log = get_logger("activities.events")

DELIVERY_WORKFLOW = "EventDeliveryWorkflow"


def headers_for(
    webhooks: Webhook | Sequence[Webhook], event_id: str, body: bytes, at: datetime
) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id (the event id: the receiver dedupes on it),
    webhook-timestamp (this attempt), webhook-signature (v1, HMAC-SHA256; one per secret,
    space-separated: a receiver accepts the delivery when any one matches)."""
    signers = [webhooks] if isinstance(webhooks, Webhook) else webhooks
    text = body.decode()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(w.sign(event_id, at, text) for w in signers),
        "content-type": "application/cloudevents+json",
    }


def backoff(attempts: int, cap: float) -> timedelta:
    return timedelta(seconds=min(cap, 2.0 ** min(attempts, 20)))


class EventActivities:
    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="events.deliver")
    async def deliver(self, inp: DeliveryInput) -> DeliveryRun:
        sub = self._settings.events.subscriptions.get(inp.subscription)
        if sub is None:
            return DeliveryRun(stop="not in the settings")
        run = _Run(self._pool, inp.subscription, sub, self._settings.events.poll_seconds)
        return await run.until(self._settings.events.run_seconds)


class _Run:
    """One delivery run of one subscription: lanes (one task per dossier) in parallel."""

    def __init__(
        self, pool: asyncpg.Pool[Any], name: str, sub: SubscriptionSettings, poll: float
    ) -> None:
        self._pool = pool
        self._name = name
        self._sub = sub
        self._poll = poll
        self._webhooks = [Webhook(secret) for secret in sub.signing_secrets]
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._failing = False
        self._closing = False
        self.delivered = self.retried = self.failed = 0

    async def until(self, seconds: float) -> DeliveryRun:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=self._sub.timeout_seconds
        ) as http:
            self._http = http
            try:
                # Paused, the lane queries find no head: the run idles, as without events.
                while loop.time() < end:
                    activity.heartbeat(self.delivered)
                    free = self._sub.max_concurrency - len(self._lanes)
                    if free > 0:
                        heads = await events.ready_heads(
                            self._pool, self._name, free, tuple(self._lanes)
                        )
                        for head in heads:
                            task = asyncio.create_task(self._lane(head))
                            self._lanes[head.dossier] = task
                            task.add_done_callback(self._lane_done(head.dossier))
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll)
                await self._drain(loop.time() + self._sub.timeout_seconds + 1)
            finally:
                for task in self._lanes.values():
                    task.cancel()
                await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        return DeliveryRun(delivered=self.delivered, retried=self.retried, failed=self.failed)

    async def _drain(self, until: float) -> None:
        """The run is over: each lane finishes the send it is in (an accepted delivery is
        recorded, not cut off and sent again by the next run) and takes no next event."""
        self._closing = True
        loop = asyncio.get_running_loop()
        while self._lanes and loop.time() < until:
            activity.heartbeat(self.delivered)
            await asyncio.wait(list(self._lanes.values()), timeout=1.0)

    def _lane_done(self, dossier: str) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            self._lanes.pop(dossier, None)
            self._wake.set()

        return done

    async def _lane(self, head: events.Pending | None) -> None:
        """Sends the dossier's events one after the other while the receiver accepts them."""
        while head is not None:
            sent = await self._send(head)
            if sent is _Sent.ACCEPTED:
                head = await events.mark_delivered(
                    self._pool, self._name, head, next_head=not self._closing
                )
                self.delivered += 1
                if self._failing:  # the receiver is back: every lane in backoff tries now
                    self._failing = False
                    await events.wake_all(self._pool, self._name)
            elif sent is _Sent.GAVE_UP and not self._closing:
                head = await events.lane_head(self._pool, self._name, head.dossier)
            else:
                return

    async def _send(self, p: events.Pending) -> _Sent:
        now = datetime.now(UTC)
        error: str
        try:
            answer = await self._http.post(
                self._sub.url,
                content=p.body,
                headers=headers_for(self._webhooks, p.id, p.body, now),
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        else:
            if answer.is_success:
                return _Sent.ACCEPTED
            if answer.status_code == 410:
                # Paused: this event and every later one stay pending, in order.
                await event_subscriptions.mark_gone(self._pool, self._name)
                log.error(
                    "events.subscription.gone",
                    subscription=self._name,
                    url=self._sub.url,
                    dossier=p.dossier,
                    todo=f"events wait: python -m starter events resume {self._name} (or "
                    "set a new URL in the settings)",
                )
                return _Sent.RETRY_LATER
            error = f"HTTP {answer.status_code}"
            if answer.is_redirect:
                error += f" redirect to {answer.headers.get('location')}: fix the URL"
        self._failing = True
        horizon = timedelta(hours=self._sub.retry_horizon_hours)
        if now - p.horizon_from > horizon:
            await events.mark_failed(self._pool, self._name, p.seq, error)
            self.failed += 1
            log.error(
                "events.delivery.failed",
                subscription=self._name,
                dossier=p.dossier,
                seq=p.seq,
                error=error,
            )
            return _Sent.GAVE_UP
        await events.mark_retry(
            self._pool, self._name, p.seq, error, backoff(p.attempts, self._sub.max_backoff_seconds)
        )
        self.retried += 1
        log.warning(
            "events.delivery.retry",
            subscription=self._name,
            dossier=p.dossier,
            seq=p.seq,
            attempts=p.attempts + 1,
            error=error,
        )
        return _Sent.RETRY_LATER


class _Sent(enum.Enum):
    ACCEPTED = "accepted"  # 2xx: recorded delivered, the lane goes on
    GAVE_UP = "gave up"  # past the retry horizon: marked failed, the lane goes on
    RETRY_LATER = "retry later"  # backed off (or gone: paused): the lane stops for now


async def start_delivery(client: Client, pool: asyncpg.Pool[Any], settings: Settings) -> None:
    """At worker start: the subscriptions table follows the settings (a gone subscription
    given a new URL resumes), and each subscription's delivery workflow runs (started if not
    running; a running one is left alone)."""
    subs = settings.events.subscriptions
    async with pool.acquire() as conn:
        resumed = await event_subscriptions.sync(
            conn, {n: (s.url, s.types) for n, s in subs.items()}
        )
    for name in resumed:
        log.warning("events.subscription.resumed", subscription=name, why="new URL")
    for name in subs:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                DELIVERY_WORKFLOW,
                DeliveryInput(subscription=name),
                id=WORKFLOW_ID_PREFIX + name,
                task_queue=settings.temporal.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
        log.info("events.delivery.running", subscription=name)

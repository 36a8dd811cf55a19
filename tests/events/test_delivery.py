"""Events with each step, their signed webhook delivery (real HTTP receiver on loopback that
verifies every signature) and the feed's reads, against the real PostgreSQL.

The delivery activity runs in Temporal's ActivityEnvironment (a real activity context:
heartbeats, cancellation), one short run at a time, so each fault is quick to provoke."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.testing import ActivityEnvironment

from activities.events import EventActivities, headers_for
from devstack.ports import free_port
from models.events import DeliveryInput, DeliveryRun, event_id
from registry import event_subscriptions, events, steps
from runtime.settings import ConfigError, EventsSettings, Settings, load_settings
from tests.events.receiver import SECRET, WRONG_SECRET, Receiver
from tests.registry.helpers import new_dossier, step


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Iterator[Receiver]:
    yield Receiver(httpserver)


def _settings(base: Settings, name: str, url: str, **sub: Any) -> Settings:
    subscription = {"url": url, "secret": SECRET, "max_backoff_seconds": 1, **sub}
    ev = EventsSettings.model_validate(
        {"subscriptions": {name: subscription}, "poll_seconds": 0.05, "run_seconds": 1.0}
    )
    return base.model_copy(update={"events": ev})


async def _subscribe(pool: asyncpg.Pool[Any], settings: Settings) -> str:
    """The settings' subscriptions into the registry, as at a worker start (the other
    subscriptions in the registry become inactive meanwhile: tests use their own names)."""
    subs = settings.events.subscriptions
    async with pool.acquire() as conn:
        await event_subscriptions.sync(conn, {n: (s.url, s.types) for n, s in subs.items()})
    return next(iter(subs))


async def _transitions(pool: asyncpg.Pool[Any], dossiers: int, each: int) -> list[str]:
    """Records `each` steps on each of `dossiers` new dossiers, interleaved; returns the
    event ids in recording order."""
    names = [await new_dossier(pool) for _ in range(dossiers)]
    ids = []
    for i in range(each):
        for d in names:
            async with pool.acquire() as conn, conn.transaction():
                assert await steps.record(conn, step(d, f"s{i}", event=f"application.s{i}"))
            ids.append(event_id(d, f"s{i}"))
    return ids


async def _deliver(pool: asyncpg.Pool[Any], settings: Settings, name: str) -> DeliveryRun:
    result: DeliveryRun = await ActivityEnvironment().run(
        EventActivities(pool, settings).deliver, DeliveryInput(subscription=name)
    )
    return result


async def _deliver_until(
    pool: asyncpg.Pool[Any], settings: Settings, name: str, done: Any, runs: int = 15
) -> None:
    for _ in range(runs):
        await _deliver(pool, settings, name)
        if done():
            return
    raise AssertionError("deliveries never completed")


def _assert_in_order(receiver: Receiver, expected: list[str]) -> None:
    """Every expected id arrived (duplicates only as the same id), and each dossier's
    events arrived in the order they were recorded."""
    assert set(receiver.ids()) == set(expected)
    assert receiver.refused_signature == 0
    # The body's CloudEvents `sequence`: a String, zero-padded (text order = feed order).
    assert all(r.sequence and len(r.sequence) == 19 for r in receiver.accepted)
    order = {eid: i for i, eid in enumerate(expected)}
    for lane in receiver.per_dossier().values():
        firsts = list(dict.fromkeys(lane))  # first arrival of each id
        assert firsts == sorted(firsts, key=order.__getitem__)


async def test_one_event_per_step_in_the_same_transaction(pg_pool: asyncpg.Pool[Any]) -> None:
    dossier = await new_dossier(pg_pool)
    s = step(dossier, "review", event="application.refused", state_after="refused")
    async with pg_pool.acquire() as conn, conn.transaction():
        assert await steps.record(conn, s)
    async with pg_pool.acquire() as conn, conn.transaction():
        assert not await steps.record(conn, s)  # a retried step: no second event
    [event] = await events.for_dossier(pg_pool, dossier)
    assert event.id == event_id(dossier, "review")
    assert event.type == "be.vlaanderen.wse.odb.application.refused"
    assert event.subject == dossier and event.time == s.at
    assert event.data["state"] == "refused" and event.data["state_before"] == "under_review"
    assert "@" not in json.dumps(event.data)  # no e-mail addresses
    # A step that fails midway writes no event either (one transaction).
    with pytest.raises(asyncpg.PostgresError):
        async with pg_pool.acquire() as conn, conn.transaction():
            await steps.record(conn, step(dossier, "boom"))
            await conn.execute("SELECT 1/0")
    assert len(await events.for_dossier(pg_pool, dossier)) == 1


async def test_feed_is_ordered_and_filtered(pg_pool: asyncpg.Pool[Any]) -> None:
    mine, other = await new_dossier(pg_pool), await new_dossier(pg_pool)
    provider = await pg_pool.fetchval("SELECT provider FROM applications WHERE dossier=$1", mine)
    start = await pg_pool.fetchval("SELECT coalesce(max(seq), 0) FROM events")
    for d in (mine, other, mine):
        name = f"s{uuid.uuid4().hex[:6]}"
        async with pg_pool.acquire() as conn, conn.transaction():
            await steps.record(conn, step(d, name))
    everything = await events.feed(pg_pool, start, 100, everything=True)
    assert [e.subject for e in everything] == [mine, other, mine]
    # The CloudEvents `sequence` is a String: zero-padded, so text order is feed order.
    sequences = [e.sequence for e in everything]
    assert sequences == sorted(sequences) and all(len(s) == 19 for s in sequences)
    assert [int(s) for s in sequences] == sorted(int(s) for s in sequences)
    own = await events.feed(pg_pool, start, 100, everything=False, provider=provider)
    assert [e.subject for e in own] == [mine, mine]
    page = await events.feed(pg_pool, int(everything[0].sequence), 1, everything=True)
    assert [e.sequence for e in page] == [everything[1].sequence]


async def test_receiver_errors_then_up_all_in_order(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "flaky", receiver.url)
    name = await _subscribe(pg_pool, settings)
    receiver.mode = "fail"  # 500: transitions go on meanwhile
    expected = await _transitions(pg_pool, dossiers=4, each=3)
    run = await _deliver(pg_pool, settings, name)
    assert run.delivered == 0 and run.retried >= 4 and receiver.accepted == []
    state = {s.subscription: s for s in await events.state(pg_pool)}[name]
    assert state.counts["pending"] == 12
    receiver.mode = "ok"
    await _deliver_until(pg_pool, settings, name, lambda: set(receiver.ids()) == set(expected))
    _assert_in_order(receiver, expected)
    state = {s.subscription: s for s in await events.state(pg_pool)}[name]
    assert state.counts == {"pending": 0, "delivered": 12, "failed": 0}


async def test_refused_connection_then_redeliver(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hooks/odb"  # nothing listens there
    down = _settings(test_settings, "moving", closed)
    name = await _subscribe(pg_pool, down)
    before = datetime.now(UTC) - timedelta(seconds=1)
    expected = await _transitions(pg_pool, dossiers=2, each=2)
    run = await _deliver(pg_pool, down, name)
    assert run.delivered == 0 and run.retried >= 2
    [row, *_] = await events.undelivered(pg_pool, 10, name)
    assert row.last_error and "Connect" in row.last_error
    # The portal moved: the same subscription at the receiver; ops redeliver since before.
    up = _settings(test_settings, "moving", receiver.url)
    await _subscribe(pg_pool, up)
    assert await events.redeliver(pg_pool, name, before) >= 4
    await _deliver_until(pg_pool, up, name, lambda: set(receiver.ids()) >= set(expected))
    _assert_in_order(receiver, [*expected, *[i for i in receiver.ids() if i not in expected]])


async def test_gone_pauses_delivery_and_alerts(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "gone", receiver.url)
    name = await _subscribe(pg_pool, settings)
    await _transitions(pg_pool, dossiers=2, each=1)
    receiver.mode = "gone"
    run = await _deliver(pg_pool, settings, name)
    assert run.stop is None and run.delivered == 0  # paused: the workflow keeps running
    sub = await event_subscriptions.get(pg_pool, name)
    assert sub is not None and sub.gone_at is not None and sub.paused
    state = {s.subscription: s for s in await events.state(pg_pool)}[name]
    assert state.gone and state.paused and state.counts["pending"] == 2  # nothing dropped


async def test_redirect_is_not_followed(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "redirected", receiver.url)
    name = await _subscribe(pg_pool, settings)
    await _transitions(pg_pool, dossiers=1, each=2)
    receiver.mode = "redirect"
    await _deliver(pg_pool, settings, name)
    rows = await events.undelivered(pg_pool, 10, name)
    assert len(rows) == 2 and rows[0].last_error and "redirect" in rows[0].last_error
    assert rows[1].attempts == 0  # event 2 waits for event 1 (in order per dossier)


async def test_slow_receiver_times_out_and_duplicates_share_the_id(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "slow", receiver.url, timeout_seconds=0.5)
    name = await _subscribe(pg_pool, settings)
    expected = await _transitions(pg_pool, dossiers=1, each=2)
    receiver.mode, receiver.slow_seconds = "slow", 1.0  # answers 200, but too late
    await _deliver(pg_pool, settings, name)
    await asyncio.sleep(1.0)
    assert receiver.ids() == expected[:1]  # it did take event 1; we did not hear it
    receiver.mode = "ok"
    await _deliver_until(pg_pool, settings, name, lambda: set(receiver.ids()) == set(expected))
    assert receiver.ids().count(expected[0]) == 2  # the duplicate carries the same webhook-id
    _assert_in_order(receiver, expected)


async def test_a_run_that_ends_lets_the_send_in_flight_finish(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    # Runs of 1 s against a receiver that takes 0.4 s an answer: every run ends with a send
    # in flight. It is finished and recorded, not cut off and sent again by the next run.
    settings = _settings(test_settings, "boundary", receiver.url)
    name = await _subscribe(pg_pool, settings)
    expected = await _transitions(pg_pool, dossiers=2, each=4)
    receiver.mode, receiver.slow_seconds = "slow", 0.4
    runs = [await _deliver(pg_pool, settings, name) for _ in range(3)]
    assert 0 < runs[0].delivered < len(expected)  # the first run ended mid-way
    assert sum(run.delivered for run in runs) == len(expected)
    assert sorted(receiver.ids()) == sorted(expected)  # no repeat
    _assert_in_order(receiver, expected)


async def test_worker_killed_mid_delivery_loses_nothing(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "killed", receiver.url, max_concurrency=2)
    name = await _subscribe(pg_pool, settings)
    expected = await _transitions(pg_pool, dossiers=3, each=3)
    receiver.mode, receiver.slow_seconds = "slow", 0.3
    env = ActivityEnvironment()
    running = asyncio.create_task(
        env.run(EventActivities(pg_pool, settings).deliver, DeliveryInput(subscription=name))
    )
    for _ in range(100):  # a receiver thread, not an asyncio task: poll it
        if len(receiver.accepted) >= 2:
            break
        await asyncio.sleep(0.05)
    running.cancel()  # the activity dies mid-delivery
    with pytest.raises(BaseException):  # noqa: B017 - cancelled, however it surfaces
        await running
    receiver.mode = "ok"
    await _deliver_until(pg_pool, settings, name, lambda: set(receiver.ids()) == set(expected))
    _assert_in_order(receiver, expected)


async def test_retry_horizon_marks_failed_and_the_lane_goes_on(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "horizon", receiver.url, retry_horizon_hours=0.0002)
    name = await _subscribe(pg_pool, settings)
    await _transitions(pg_pool, dossiers=1, each=2)
    receiver.mode = "fail"
    await asyncio.sleep(1.0)  # both events are older than the horizon (0.72 s)
    await _deliver(pg_pool, settings, name)
    state = {s.subscription: s for s in await events.state(pg_pool)}[name]
    assert state.counts["failed"] == 2 and state.counts["pending"] == 0


async def test_the_receiver_side_refuses_bad_deliveries(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "wrongsecret", receiver.url)
    name = await _subscribe(pg_pool, settings)
    await _transitions(pg_pool, dossiers=1, each=1)
    receiver.secret = WRONG_SECRET  # the portal holds another secret: verification fails
    run = await _deliver(pg_pool, settings, name)
    assert run.delivered == 0 and receiver.refused_signature >= 1 and receiver.accepted == []
    # Tampered body, and a replay outside the tolerance (5 minutes), with the right secret.
    webhook = Webhook(SECRET)
    body = b'{"specversion":"1.0","id":"x","subject":"ODB-2027-000001"}'
    now = datetime.now(UTC)
    good = headers_for(webhook, "x", body, now)
    assert webhook.verify(body, good)["id"] == "x"
    with pytest.raises(WebhookVerificationError):
        webhook.verify(body.replace(b"000001", b"000002"), good)
    old = headers_for(webhook, "x", body, now - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhook.verify(body, old)


@pytest.mark.parametrize(
    ("subscription", "key"),
    [
        ({"url": "not a url", "secret": SECRET}, "events.subscriptions.portal.url"),
        ({"url": "https://loket.example/hooks"}, "events.subscriptions.portal.secret"),
        ({"url": "https://loket.example/hooks", "secret": "short"}, "portal.secret"),
    ],
)
def test_bad_subscription_is_refused_naming_the_key(subscription: Any, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(events={"subscriptions": {"portal": subscription}})
    assert key in str(refused.value)
    assert "short" not in str(refused.value)  # a secret is never echoed

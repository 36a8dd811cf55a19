"""A paused webhook subscription (its receiver answered 410 Gone, or ops paused it) drops
nothing: every event recorded meanwhile waits, pending, in order; the resume (the command
line, or a new URL for a gone one) delivers the backlog in order with the original ids, and
the time spent paused does not count against the retry horizon. Real PostgreSQL, a real
HTTP receiver on loopback that verifies every signature, the delivery activity in
Temporal's ActivityEnvironment; the commands run as `python -m starter events …` would (in a
thread: the same `main`, its own event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pytest_httpserver import HTTPServer
from temporalio.testing import ActivityEnvironment

from activities.events import EventActivities
from models.events import DeliveryInput, event_id
from registry import event_subscriptions, events, steps
from runtime.settings import Settings
from starter.cli import main
from tests.events.receiver import Receiver, serving
from tests.events.test_delivery import _deliver, _deliver_until, _settings, _subscribe
from tests.registry.helpers import new_dossier, step


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Iterator[Receiver]:
    yield Receiver(httpserver)


@pytest.fixture
def run_cli(
    test_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """`python -m starter events ARGS` against the test registry: (exit code, out, err)."""
    monkeypatch.setenv("DATABASE_URL", test_settings.postgres.url or "")

    async def run(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main.main, ["events", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


async def _record(pool: asyncpg.Pool[Any], dossier: str, *names: str) -> list[str]:
    """Records the steps on the dossier; returns their event ids in recording order."""
    for name in names:
        async with pool.acquire() as conn, conn.transaction():
            assert await steps.record(conn, step(dossier, name, event=f"application.{name}"))
    return [event_id(dossier, name) for name in names]


async def _counts(pool: asyncpg.Pool[Any], name: str) -> dict[str, int]:
    return {s.subscription: s for s in await events.state(pool)}[name].counts


def _lanes(receiver: Receiver) -> dict[str, list[str]]:
    return {d: list(dict.fromkeys(ids)) for d, ids in receiver.per_dossier().items()}


async def test_gone_then_five_transitions_then_resume_delivers_all_in_order(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver, run_cli: Any
) -> None:
    settings = _settings(test_settings, "resumed", receiver.url)
    name = await _subscribe(pg_pool, settings)
    a, b = await new_dossier(pg_pool), await new_dossier(pg_pool)
    first = await _record(pg_pool, a, "submitted")
    receiver.mode = "gone"
    running = asyncio.create_task(
        ActivityEnvironment().run(
            EventActivities(pg_pool, settings).deliver, DeliveryInput(subscription=name)
        )
    )
    for _ in range(100):  # the run records the 410 (a receiver thread answers): poll it
        sub = await event_subscriptions.get(pg_pool, name)
        if sub is not None and sub.gone_at is not None:
            break
        await asyncio.sleep(0.02)
    # The receiver said 410: the subscription is paused. Five transitions happen meanwhile,
    # while the run goes on.
    later_a = await _record(pg_pool, a, "review", "appeal", "hearing")
    later_b = await _record(pg_pool, b, "submitted", "review")
    assert (await running).delivered == 0
    assert receiver.attempts == 1  # paused: nothing more was sent
    assert await _counts(pg_pool, name) == {"pending": 6, "delivered": 0, "failed": 0}

    code, out, _ = await run_cli("status", "--subscription", name)
    assert code == 1  # paused: ops must act
    assert "PAUSED (the receiver answered 410 Gone" in out and "backlog 6 events" in out
    assert f"events resume {name}" in out

    receiver.mode = "ok"
    code, out, err = await run_cli("resume", name)
    assert code == 0, err
    assert "backlog of 6 events" in out
    await _deliver_until(pg_pool, settings, name, lambda: len(set(receiver.ids())) == 6, runs=5)
    # Every event, in its dossier's order, with its original id (= webhook-id = event id).
    assert _lanes(receiver) == {a: first + later_a, b: later_b}
    assert receiver.refused_signature == 0
    sequences = {r.webhook_id: r.sequence for r in receiver.accepted}
    for lane in _lanes(receiver).values():
        sent = [sequences[i] or "" for i in lane]
        assert sent == sorted(sent) and all(len(s) == 19 for s in sent)
    assert await _counts(pg_pool, name) == {"pending": 0, "delivered": 6, "failed": 0}
    code, out, _ = await run_cli("status", "--subscription", name)
    assert code == 0 and "PAUSED" not in out


async def test_ops_pause_holds_events_until_resume_even_when_the_url_changes(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver, run_cli: Any
) -> None:
    settings = _settings(test_settings, "opspaused", receiver.url)
    name = await _subscribe(pg_pool, settings)
    code, out, err = await run_cli("pause", name, "--reason", "portal maintenance, ticket 42")
    assert code == 0, err
    dossier = await new_dossier(pg_pool)
    expected = await _record(pg_pool, dossier, "submitted", "review", "appeal")
    assert (await _deliver(pg_pool, settings, name)).delivered == 0
    assert receiver.attempts == 0
    code, out, _ = await run_cli("pause", name)
    assert code == 0 and "already paused" in out and "ticket 42" in out
    code, out, _ = await run_cli("status", "--subscription", name)
    assert code == 1 and "paused by ops" in out and "ticket 42" in out
    with serving() as moved:
        # A new URL resumes a gone subscription, never one ops paused.
        elsewhere = _settings(test_settings, name, moved.url)
        await _subscribe(pg_pool, elsewhere)
        assert (await _deliver(pg_pool, elsewhere, name)).delivered == 0
        code, _, err = await run_cli("resume", name)
        assert code == 0, err
        await _deliver_until(pg_pool, elsewhere, name, lambda: len(moved.ids()) == 3, runs=5)
        assert moved.ids() == expected
    assert receiver.attempts == 0


async def test_a_new_url_resumes_a_gone_subscription_with_its_backlog(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(test_settings, "newurl", receiver.url)
    name = await _subscribe(pg_pool, settings)
    dossier = await new_dossier(pg_pool)
    expected = await _record(pg_pool, dossier, "submitted")
    receiver.mode = "gone"
    await _deliver(pg_pool, settings, name)
    expected += await _record(pg_pool, dossier, "review", "appeal")
    # The same URL again (a worker restart) does not resume it.
    async with pg_pool.acquire() as conn:
        assert await event_subscriptions.sync(conn, {name: (receiver.url, ())}) == []
    with serving() as moved:
        async with pg_pool.acquire() as conn:
            assert await event_subscriptions.sync(conn, {name: (moved.url, ())}) == [name]
        elsewhere = _settings(test_settings, name, moved.url)
        await _deliver_until(pg_pool, elsewhere, name, lambda: len(moved.ids()) == 3, runs=5)
        assert moved.ids() == expected
    assert receiver.attempts == 1


async def test_paused_time_does_not_burn_the_retry_horizon(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver, run_cli: Any
) -> None:
    settings = _settings(test_settings, "horizonpaused", receiver.url, retry_horizon_hours=1)
    name = await _subscribe(pg_pool, settings)
    assert (await run_cli("pause", name))[0] == 0
    dossier = await new_dossier(pg_pool)
    expected = await _record(pg_pool, dossier, "submitted", "review")
    # Paused for two hours: the events' age is older than the 1-hour horizon by then.
    await pg_pool.execute(
        "UPDATE events SET recorded_at = recorded_at - interval '2 hours' WHERE subject = $1",
        dossier,
    )
    assert (await run_cli("resume", name))[0] == 0
    receiver.mode = "fail"  # the first attempts after the resume fail: retried, not failed
    run = await _deliver(pg_pool, settings, name)
    assert run.retried >= 1 and run.failed == 0
    assert await _counts(pg_pool, name) == {"pending": 2, "delivered": 0, "failed": 0}
    receiver.mode = "ok"
    await _deliver_until(pg_pool, settings, name, lambda: len(receiver.ids()) == 2, runs=10)
    assert receiver.ids() == expected


async def test_bad_command_line_input_is_refused_and_changes_nothing(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver, run_cli: Any
) -> None:
    settings = _settings(test_settings, "badinput", receiver.url)
    name = await _subscribe(pg_pool, settings)
    await _record(pg_pool, await new_dossier(pg_pool), "submitted")
    before = await _counts(pg_pool, name)

    commands = [
        ["pause"],
        ["resume"],
        ["status", "--subscription"],
        ["redeliver", "--since", "2027-03-01", "--subscription"],
    ]
    for command in commands:
        code, _, err = await run_cli(*command, "portall")
        assert code == 2, command
        assert "no subscription 'portall'" in err and name in err, err
    code, _, err = await run_cli("resume", name)
    assert code == 2
    assert f"{name!r} is not paused" in err and "redeliver --since" in err
    async with pg_pool.acquire() as conn:  # the settings no longer name it
        await event_subscriptions.sync(conn, {})
    code, _, err = await run_cli("pause", name)
    assert code == 2 and "no longer in the settings" in err
    assert await _counts(pg_pool, name) == before
    sub = await event_subscriptions.get(pg_pool, name)
    assert sub is not None and not sub.paused

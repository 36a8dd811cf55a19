"""record_step against the real PostgreSQL: one transaction, idempotent per (dossier, step)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.registry import RegistryActivities
from models.case import (
    Appeal,
    AppealSubject,
    Deadline,
    DeadlineKind,
    Decision,
    EndReason,
    Hearing,
    HearingSide,
    ScreeningOutcome,
)
from models.steps import NotificationKind as K
from models.steps import RegistrationEnd
from registry import queries
from registry.db import create_pool
from runtime.settings import Settings
from tests.registry.helpers import new_dossier, note, rows, step

AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
BEC_DEADLINE = Deadline(
    kind=DeadlineKind.BEC_DECISION,
    starts_on=date(2027, 4, 2),
    last_day=date(2027, 6, 1),
    due_at=datetime(2027, 6, 1, 22, 0, tzinfo=UTC),
    rule="60 days after receipt of the appeal",
)


@pytest.fixture
def acts(pg_pool: asyncpg.Pool[Any], test_settings: Settings) -> RegistryActivities:
    return RegistryActivities(pg_pool, test_settings)


async def run(acts: RegistryActivities, s: Any) -> Any:
    return await ActivityEnvironment().run(acts.record_step, s)


def lifecycle(dossier: str) -> list[Any]:
    """A case's steps, each carrying one kind of record."""
    appeal = Appeal(
        number=1,
        subject=AppealSubject.REFUSAL,
        filed_at=AT,
        filed_by="u-provider",
        motivation="De opleiding leidt tot een knelpuntberoep.",
        deadline=BEC_DEADLINE,
    )
    decided = Decision(
        kind="appeal", outcome="granted", reason="Gegrond", decided_at=AT, decided_by="bec"
    )
    return [
        step(
            dossier,
            "submitted",
            state_before=None,
            late_submission_warning=True,
            competent_body="VOC",
        ),
        step(
            dossier,
            "review",
            state_after="refused",
            decision=Decision(
                kind="review",
                outcome="refused",
                reason="Niet arbeidsmarktgericht",
                decided_at=AT,
                decided_by="u-reviewer",
                body="VOC",
            ),
            deadlines=[
                Deadline(
                    kind=DeadlineKind.APPEAL_WINDOW,
                    starts_on=date(2027, 3, 1),
                    last_day=date(2027, 3, 31),
                    due_at=datetime(2027, 3, 31, 22, tzinfo=UTC),
                    rule="30 days",
                )
            ],
        ),
        step(
            dossier,
            "appeal-1",
            state_before="refused",
            state_after="in_appeal",
            appeal=appeal,
            deadlines=[BEC_DEADLINE],
        ),
        step(
            dossier,
            "hearing-1-provider",
            state_before="in_appeal",
            state_after="in_appeal",
            appeal_number=1,
            hearing=Hearing(
                side=HearingSide.PROVIDER, held_on=date(2027, 4, 20), recorded_by="bec"
            ),
        ),
        step(
            dossier,
            "bec-decision-1",
            state_before="in_appeal",
            state_after="registered",
            decision=decided,
            appeal=appeal.model_copy(update={"decision": decided}),
            open_registration=date(2027, 5, 1),
        ),
        step(
            dossier,
            "screening-2028",
            state_before="registered",
            state_after="removal_scheduled",
            screening=ScreeningOutcome(
                year=2028, passed=False, rubric_version="2027.1", notified_on=date(2028, 1, 15)
            ),
            removal_on=date(2029, 12, 31),
        ),
    ]


async def test_each_step_twice_changes_nothing_the_second_time(
    acts: RegistryActivities, pg_pool: asyncpg.Pool[Any]
) -> None:
    dossier = await new_dossier(pg_pool)
    for s in lifecycle(dossier):
        first = await run(acts, s)
        after_first = await rows(pg_pool, dossier)
        record_first = await queries.dossier_record(pg_pool, dossier)
        second = await run(acts, s)
        assert (first.recorded, second.recorded) == (True, False), s.step
        assert await rows(pg_pool, dossier) == after_first, s.step
        assert await queries.dossier_record(pg_pool, dossier) == record_first, s.step
    record = await queries.dossier_record(pg_pool, dossier)
    assert [a.step for a in record.audit] == [s.step for s in lifecycle(dossier)]
    assert record.summary.state == "removal_scheduled"
    assert record.late_submission_warning is True
    assert record.removal_on == date(2029, 12, 31)
    assert [d.outcome for d in record.decisions] == ["refused", "granted"]
    assert record.appeals[0].hearings[0].side == "provider"
    assert record.screenings[0].passed is False
    assert {d.kind for d in record.deadlines} == {"appeal_window", "bec_decision"}
    # A granted appeal cancels the planned removal.
    await run(
        acts, step(dossier, "appeal-2-granted", state_after="registered", cancel_removal=True)
    )
    assert (await queries.dossier_record(pg_pool, dossier)).removal_on is None


async def test_registered_on_date_across_stop_and_new_registration(
    acts: RegistryActivities, pg_pool: asyncpg.Pool[Any]
) -> None:
    dossier = await new_dossier(pg_pool)
    await run(
        acts, step(dossier, "review", state_after="registered", open_registration=date(2027, 3, 1))
    )
    await run(
        acts,
        step(
            dossier,
            "stop",
            state_before="registered",
            state_after="ended",
            close_registration=RegistrationEnd(
                last_day=date(2027, 6, 30), reason=EndReason.STOPPED
            ),
        ),
    )
    await run(
        acts,
        step(
            dossier,
            "reinstated",
            state_before="ended",
            state_after="registered",
            open_registration=date(2027, 9, 1),
        ),
    )
    expected = {
        date(2027, 2, 28): False,  # before the first registration
        date(2027, 3, 1): True,  # first day
        date(2027, 6, 30): True,  # last day before the stop (inclusive)
        date(2027, 7, 1): False,  # stopped
        date(2027, 8, 31): False,
        date(2027, 9, 1): True,  # the new registration
        date(2031, 1, 1): True,  # still open
    }
    answers = {d: await queries.is_registered(pg_pool, dossier, d) for d in expected}
    assert answers == expected
    on_day = [t.dossier for t in await queries.registered_on(pg_pool, date(2027, 7, 1))]
    assert dossier not in on_day
    listed = [
        t for t in await queries.registered_on(pg_pool, date(2027, 6, 30)) if t.dossier == dossier
    ]
    assert listed[0].registered_until == date(2027, 6, 30)
    csv_text = await queries.registered_on_csv(pg_pool, date(2027, 9, 1))
    assert csv_text.startswith("dossier,provider,provider_name,title,")
    assert f"{dossier}," in csv_text
    # A planned removal ends registration after its day.
    await run(
        acts,
        step(dossier, "screening", state_after="removal_scheduled", removal_on=date(2028, 12, 31)),
    )
    assert await queries.is_registered(pg_pool, dossier, date(2028, 12, 31))
    assert not await queries.is_registered(pg_pool, dossier, date(2029, 1, 1))


async def test_unknown_dossier_is_a_non_retryable_not_found(acts: RegistryActivities) -> None:
    with pytest.raises(ApplicationError) as err:
        await run(acts, step("ODB-1999-999999", "review"))
    assert err.value.non_retryable and err.value.type == "NotFound"
    assert "ODB-1999-999999" in err.value.message


async def test_missing_template_key_is_non_retryable_and_writes_nothing(
    acts: RegistryActivities, pg_pool: asyncpg.Pool[Any]
) -> None:
    dossier = await new_dossier(pg_pool)
    bad = step(
        dossier,
        "review",
        state_after="refused",
        notifications=[note(K.REFUSAL)],
    )
    with pytest.raises(ApplicationError) as err:
        await run(acts, bad)
    assert err.value.non_retryable and err.value.type == "InvalidInput"
    assert "notifications.refusal.context.reason" in err.value.message
    assert sum((await rows(pg_pool, dossier)).values()) == 0


async def test_connection_lost_mid_transaction_is_retryable_and_leaves_nothing(
    acts: RegistryActivities, pg_pool: asyncpg.Pool[Any]
) -> None:
    dossier = await new_dossier(pg_pool)
    s = step(
        dossier,
        "review",
        state_after="registered",
        open_registration=date(2027, 3, 1),
        decision=Decision(kind="review", outcome="approved", decided_at=AT, decided_by="r"),
    )
    async with pg_pool.acquire() as blocker, blocker.transaction():
        # Hold the application row: the activity writes its audit, decision and period,
        # then waits on this lock; there we cut its connection, as a server crash would.
        await blocker.execute(
            "SELECT 1 FROM applications WHERE dossier = $1 FOR NO KEY UPDATE", dossier
        )
        task = asyncio.create_task(run(acts, s))
        for _ in range(200):
            # Not `blocker`: pg_stat_activity is a snapshot per transaction.
            victim = await pg_pool.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'UPDATE applications%'"
            )
            if victim:
                break
            await asyncio.sleep(0.01)
        assert victim, "the activity never reached the application update"
        await blocker.execute("SELECT pg_terminate_backend($1)", victim)
        with pytest.raises(Exception) as err:
            await task
    assert not isinstance(err.value, ApplicationError) or not err.value.non_retryable
    assert sum((await rows(pg_pool, dossier)).values()) == 0
    assert (await run(acts, s)).recorded is True  # the retry succeeds
    assert await queries.is_registered(pg_pool, dossier, date(2027, 3, 1))


async def test_postgres_unreachable_is_retryable(test_settings: Settings) -> None:
    from devstack.ports import free_port

    pool = await create_pool(
        test_settings, dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/odb", min_size=0
    )
    try:
        with pytest.raises(OSError):
            await run(RegistryActivities(pool, test_settings), step("ODB-2027-000001", "review"))
    finally:
        await pool.close()

"""The last day an e-mail quotes is the day the case keeps, whatever the send crossed: a
notice whose text was dated before midnight and that SMTP accepted after it is corrected at
once; a text that may have reached the provider before a retry on a later day too; a notice
sent again keeps the dates of its first acceptance. Real SMTP sink (behind a proxy that
answers late), real registry; the activity's clock is the attempt's start on the server."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities, belgian_date
from activities.registry import RegistryActivities
from models.steps import NoticeSent, SendNoticeInput
from models.steps import NotificationKind as K
from registry import notifications
from rules.deadlines import BRUSSELS, appeal_window, brussels_day, why_not_working_day
from rules.notices import correction
from runtime.settings import Settings
from tests.registry.helpers import new_dossier
from tests.registry.test_notifications import activity_env, mid, refusal_step
from tests.smtp_fakes import LateAcceptance, drop_after_data

LATE = 1.5  # seconds the mail server takes to accept the refusal


def moving_day(after: date) -> date:
    """A day whose appeal deadline moves by one when the notice goes out a day later (the
    30th and 31st days after are both working days: no weekend's shift absorbs it)."""
    day = after
    while why_not_working_day(day + timedelta(days=30)) or why_not_working_day(
        day + timedelta(days=31)
    ):
        day += timedelta(days=1)
    return day


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=BRUSSELS)


def on_port(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp": settings.smtp.model_copy(update={"port": port})})


async def refused(pool: asyncpg.Pool[Any], settings: Settings) -> str:
    dossier = await new_dossier(pool)
    await ActivityEnvironment().run(
        RegistryActivities(pool, settings).record_step, refusal_step(dossier)
    )
    return dossier


async def send(env: ActivityEnvironment, settings: Settings, pool: Any, msg: str) -> NoticeSent:
    result: NoticeSent = await env.run(
        NotificationActivities(pool, settings).send, SendNoticeInput(message_id=msg)
    )
    return result


async def late_refusal(sent: bytes) -> None:
    if b".refusal." in sent:
        await asyncio.sleep(LATE)  # the server's slowness itself, in real time


def mails(sink: Any, dossier: str, kind: K) -> list[Any]:
    return [m for m in sink.messages() if f"{dossier}.{kind.value}." in (m["Message-ID"] or "")]


@pytest.mark.parametrize(
    "first",
    [date(2027, 3, 1), date(2027, 7, 1), date(2027, 10, 31)],
    ids=["winter time", "summer time", "the night the clocks went back"],
)
async def test_a_refusal_accepted_after_midnight_is_corrected_at_once_with_the_later_day(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: Any, first: date
) -> None:
    day = moving_day(first)
    dossier = await refused(pg_pool, test_settings)
    refusal = mid(dossier, K.REFUSAL)
    # The attempt starts a second before midnight; the server answers 1.5 s later.
    env = activity_env(started=at(day, 23, 59, 59))
    async with LateAcceptance(smtp_sink.port, late_refusal) as slow:
        sent = await send(env, on_port(test_settings, slow.port), pg_pool, refusal)
    kept = appeal_window(brussels_day(sent.sent_at)).last_day
    assert brussels_day(sent.sent_at) == day + timedelta(days=1)
    assert kept == appeal_window(day).last_day + timedelta(days=1)

    [notice] = mails(smtp_sink, dossier, K.REFUSAL)
    assert belgian_date(appeal_window(day).last_day) in notice.get_content()
    [fix] = mails(smtp_sink, dossier, K.NOTICE_CORRECTED)
    assert fix["Message-ID"].strip() == mid(dossier, K.NOTICE_CORRECTED)
    assert fix["To"] == notice["To"]
    text = fix.get_content()
    assert f"uiterlijk op {belgian_date(kept)}" in text
    assert f"niet {belgian_date(appeal_window(day).last_day)}" in text
    assert f"pas op {belgian_date(day + timedelta(days=1))} verzonden" in text
    assert " ".join(str(notice["Subject"]).split()) in " ".join(text.split())

    # On record like every e-mail; a retry of the delivery sends nothing more.
    record = await notifications.by_message_id(pg_pool, mid(dossier, K.NOTICE_CORRECTED))
    assert record is not None and record.status == "sent" and record.step == "review"
    quoted = await pg_pool.fetchval(
        "SELECT quoted_on FROM notifications WHERE message_id = $1", refusal
    )
    assert quoted == day
    again = await send(activity_env(), test_settings, pg_pool, refusal)
    assert again.sent_at == sent.sent_at
    assert len(mails(smtp_sink, dossier, K.NOTICE_CORRECTED)) == 1
    # Ops resend the correction a week later: the same dates, no correction of it.
    await notifications.requeue(pg_pool, mid(dossier, K.NOTICE_CORRECTED))
    await send(
        activity_env("9", started=at(day + timedelta(days=8), 10)),
        test_settings,
        pg_pool,
        mid(dossier, K.NOTICE_CORRECTED),
    )
    resent = mails(smtp_sink, dossier, K.NOTICE_CORRECTED)
    assert len(resent) == 2 and resent[0].get_content() == resent[1].get_content()


async def test_a_refusal_accepted_before_midnight_sends_no_correction(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: Any
) -> None:
    day = moving_day(date(2027, 4, 1))
    dossier = await refused(pg_pool, test_settings)
    env = activity_env(started=at(day, 23, 59, 50))
    async with LateAcceptance(smtp_sink.port, late_refusal) as slow:
        sent = await send(env, on_port(test_settings, slow.port), pg_pool, mid(dossier, K.REFUSAL))
    assert brussels_day(sent.sent_at) == day
    [notice] = mails(smtp_sink, dossier, K.REFUSAL)
    assert belgian_date(appeal_window(day).last_day) in notice.get_content()
    assert mails(smtp_sink, dossier, K.NOTICE_CORRECTED) == []
    kinds = [n.kind for n in await notifications.for_dossier(pg_pool, dossier)]
    assert K.NOTICE_CORRECTED.value not in kinds


async def test_a_text_that_may_have_arrived_before_a_retry_the_next_day_is_corrected(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: Any
) -> None:
    day = moving_day(date(2027, 5, 3))
    dossier = await refused(pg_pool, test_settings)
    refusal = mid(dossier, K.REFUSAL)
    # The server took the text dated `day` and died before answering: it may be delivered.
    server = await asyncio.start_server(drop_after_data, "127.0.0.1", 0)
    async with server:
        flaky = on_port(test_settings, server.sockets[0].getsockname()[1])
        with pytest.raises(ApplicationError) as uncertain:
            await send(activity_env(started=at(day, 23, 30)), flaky, pg_pool, refusal)
    assert not uncertain.value.non_retryable  # sent again later, same Message-ID
    assert "SMTP failed after DATA" in uncertain.value.message
    # The retry goes out the next morning: its text quotes the day the case keeps, and the
    # text of the night before is corrected.
    sent = await send(
        activity_env(started=at(day + timedelta(days=1), 9)), test_settings, pg_pool, refusal
    )
    kept = appeal_window(brussels_day(sent.sent_at)).last_day
    assert kept == appeal_window(day).last_day + timedelta(days=1)
    [notice] = mails(smtp_sink, dossier, K.REFUSAL)
    assert belgian_date(kept) in notice.get_content()
    [fix] = mails(smtp_sink, dossier, K.NOTICE_CORRECTED)
    assert f"uiterlijk op {belgian_date(kept)}" in fix.get_content()


async def test_a_notice_sent_again_days_later_keeps_the_dates_of_its_first_acceptance(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: Any
) -> None:
    day = moving_day(date(2027, 6, 1))
    dossier = await refused(pg_pool, test_settings)
    refusal = mid(dossier, K.REFUSAL)
    first = await send(activity_env(started=at(day, 10)), test_settings, pg_pool, refusal)
    await notifications.requeue(pg_pool, refusal)  # ops: `mail resend`, three days later
    again = await send(
        activity_env("8", started=at(day + timedelta(days=3), 10)), test_settings, pg_pool, refusal
    )
    assert again.sent_at == first.sent_at  # the case counts from the first acceptance
    texts = [m.get_content() for m in mails(smtp_sink, dossier, K.REFUSAL)]
    assert len(texts) == 2
    assert all(belgian_date(appeal_window(day).last_day) in t for t in texts)
    assert mails(smtp_sink, dossier, K.NOTICE_CORRECTED) == []


def test_a_day_that_moves_no_quoted_date_owes_no_correction() -> None:
    context = {"reason": "x", "passed": False}
    # The 30th day after a Friday is a Sunday, like the 30th after the Saturday: both last
    # days are the Monday after, so a refusal accepted just after Friday's midnight quotes
    # the day the case keeps.
    friday = date(2027, 3, 5)
    assert appeal_window(friday).last_day == appeal_window(friday + timedelta(days=1)).last_day
    assert correction(K.REFUSAL, context, friday, friday + timedelta(days=1)) is None
    # A negative screening accepted after New Year's midnight: a year more before removal.
    owed = correction(K.SCREENING_RESULT, context, date(2027, 12, 31), date(2028, 1, 1))
    assert owed is not None
    assert (owed["was_removal_on"], owed["removal_on"]) == ("2028-12-31", "2029-12-31")
    # Notices whose dates do not run from receipt owe nothing.
    assert correction(K.APPROVAL, context, friday, friday + timedelta(days=1)) is None

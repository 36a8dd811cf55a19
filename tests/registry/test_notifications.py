"""E-mails through the real SMTP sink: rendered in Dutch, dated by the day they are sent,
delivered at least once (never lost), a repeat only ever with the same Message-ID."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import (
    REQUIRED_CONTEXT,
    NotificationActivities,
    SmtpSession,
    belgian_date,
    render_sent_on,
)
from activities.registry import RegistryActivities
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from models.steps import NoticeSent, Recipient, SendNoticeInput
from models.steps import NotificationKind as K
from registry import notifications, queries
from rules.deadlines import appeal_window, brussels_day
from rules.notices import message_id
from runtime.settings import Settings, load_settings
from tests.registry.helpers import new_dossier, note, step
from tests.smtp_fakes import drop_after_data, reject_recipient

EXAMPLE_CONTEXT: dict[K, dict[str, Any]] = {
    K.ACKNOWLEDGMENT: {"late_warning": True},
    K.APPROVAL: {"registered_from": "2027-03-01"},
    K.REFUSAL: {"reason": "Niet arbeidsmarktgericht", "appeal_deadline": "2027-03-31"},
    K.WITHDRAWAL: {"reason": "Opleiding geannuleerd"},
    K.APPEAL_RECEIVED: {"appeal_number": 1, "decision_deadline": "2027-06-01"},
    K.BEC_DECISION: {"granted": True, "reason": "Gegrond", "registered_from": "2027-05-01"},
    K.BEC_OVERDUE: {"appeal_number": 1, "decision_deadline": "2027-06-01"},
    K.SCREENING_RESULT: {
        "year": 2027,
        "passed": False,
        "remarks": "Niet georganiseerd",
        "removal_on": "2028-12-31",
        "appeal_deadline": "2027-02-15",
    },
    K.REMOVAL: {"last_day": "2028-12-31"},
    K.STOP_CONFIRMATION: {"last_day": "2027-06-30"},
    K.REVOCATION: {"last_day": "2027-06-30", "reason": "Voldoet niet meer"},
    K.FINAL_REFUSAL: {"appeal_deadline": "2027-03-31"},
    K.DEADLINE_CORRECTED: {
        "deadline_kind": "appeal_window",
        "last_day": "2027-04-02",
        "reason": "Later ontvangen",
    },
    K.NOTICE_CORRECTED: {
        "corrects_subject": "Uw aanvraag ODB-2027-000042 is geweigerd",
        "assumed_on": "2027-03-01",
        "accepted_on": "2027-03-02",
        "appeal_deadline": "2027-04-01",
        "was_appeal_deadline": "2027-03-31",
    },
}
FACTS = {
    "dossier": "ODB-2027-000042",
    "title": "Lassen",
    "provider_name": "X vzw",
    "start_date": date(2027, 9, 1),
    "competent_body": "PC 200",
    "contact_address": "opleidingsdatabank@vlaanderen.be",
    "bec_address": "beroepscommissie.wse@vlaanderen.be",
    "department_address": "vov@vlaanderen.be",
}


def test_belgian_dates() -> None:
    assert belgian_date("2028-12-31") == "31 december 2028"
    assert belgian_date(date(2027, 3, 1)) == "1 maart 2027"
    # 23:30 UTC on 31 May is already 1 June in Brussels.
    assert belgian_date("2027-05-31T23:30:00+00:00") == "1 juni 2027"


@pytest.mark.parametrize("kind", list(K))
def test_every_kind_renders_with_dossier_and_contact(kind: K) -> None:
    assert set(EXAMPLE_CONTEXT[kind]) >= set(REQUIRED_CONTEXT[kind])
    subject, body = render_sent_on(kind, {**FACTS, **EXAMPLE_CONTEXT[kind]}, date(2027, 3, 1))
    assert subject and "{{" not in body
    assert "ODB-2027-000042" in body and "opleidingsdatabank@vlaanderen.be" in body


def test_missing_key_names_the_key() -> None:
    with pytest.raises(Exception, match=r"notifications\.refusal\.context\.reason"):
        render_sent_on(K.REFUSAL, {**FACTS}, date(2027, 3, 1))


def refusal_step(dossier: str, name: str = "review") -> Any:
    return step(
        dossier,
        name,
        state_after="refused",
        notices_apart=True,
        notifications=[
            note(K.REFUSAL, reason="De opleiding is niet arbeidsmarktgericht."),
            note(K.BEC_OVERDUE, Recipient.BEC, appeal_number=1, decision_deadline="2027-06-01"),
        ],
    )


def _for(sink: SmtpSink, dossier: str) -> list[Any]:
    return [m for m in sink.messages() if m["X-ODB-Dossier"] == dossier]


def activity_env(activity_id: str = "7", started: datetime | None = None) -> ActivityEnvironment:
    """An activity of a case: the server's clock is now (or `started`, when the attempt
    started); the claimant is (workflow, activity)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        started_time=started or datetime.now(UTC),
        workflow_id="wf",
        activity_id=activity_id,
    )
    return env


def mid(
    dossier: str, kind: K, step_name: str = "review", to: Recipient = Recipient.PROVIDER
) -> str:
    return message_id(dossier, kind, step_name, to)


async def send(acts: NotificationActivities, message: str, activity_id: str = "7") -> NoticeSent:
    result: NoticeSent = await activity_env(activity_id).run(
        acts.send, SendNoticeInput(message_id=message)
    )
    return result


async def test_recording_never_talks_to_smtp_and_each_notice_goes_out_once(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    dossier = await new_dossier(pg_pool)
    s = refusal_step(dossier)
    recorded = await ActivityEnvironment().run(
        RegistryActivities(pg_pool, test_settings).record_step, s
    )
    assert recorded.recorded and _for(smtp_sink, dossier) == []
    acts = NotificationActivities(pg_pool, test_settings)
    refusal = mid(dossier, K.REFUSAL)
    first = await send(acts, refusal)
    second = await send(acts, refusal)  # a retry, or a second worker: nothing more
    await asyncio.gather(*(send(acts, refusal, str(n)) for n in range(3)))
    assert first.sent_at == second.sent_at
    await send(acts, mid(dossier, K.BEC_OVERDUE, to=Recipient.BEC))
    mails = _for(smtp_sink, dossier)
    assert len(mails) == 2
    mail = next(m for m in mails if m["To"] == "aanvragen@test.example.be")
    assert mail["Message-ID"] == f"<{dossier}.refusal.review@opleidingsdatabank.vlaanderen.be>"
    # The appeal deadline it quotes runs from the day it was sent (received that day).
    last_day = appeal_window(brussels_day(first.sent_at)).last_day
    text = mail.get_content()
    for expected in (
        "De opleiding is niet arbeidsmarktgericht.",
        belgian_date(last_day),
        "beroepscommissie.wse@vlaanderen.be",
        dossier,
        "opleidingsdatabank@vlaanderen.be",
    ):
        assert expected in text
    record = await queries.dossier_record(pg_pool, dossier)
    assert [n.status for n in record.notifications] == ["sent", "sent"]


async def test_smtp_down_keeps_the_mail_and_sends_it_once_when_back(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, tmp_path: Any
) -> None:
    port = free_port()
    settings = load_settings(
        postgres={"url": test_settings.postgres.url}, smtp={"host": "127.0.0.1", "port": port}
    )
    dossier = await new_dossier(pg_pool)
    await ActivityEnvironment().run(
        RegistryActivities(pg_pool, settings).record_step, refusal_step(dossier)
    )
    acts = NotificationActivities(pg_pool, settings)
    for _ in range(2):  # Temporal retries while SMTP is down
        with pytest.raises(ApplicationError) as err:
            await send(acts, mid(dossier, K.REFUSAL))
        assert not err.value.non_retryable and err.value.type == "SmtpUnavailable"
    record = await queries.dossier_record(pg_pool, dossier)
    assert [n.status for n in record.notifications] == ["pending", "pending"]
    assert record.notifications[0].attempts == 2
    with SmtpSink(tmp_path / "mail", port) as sink:
        await send(acts, mid(dossier, K.REFUSAL))
        await send(acts, mid(dossier, K.REFUSAL))
        assert len(sink.messages()) == 1


async def test_failure_after_data_is_sent_again_with_the_same_message_id(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    server = await asyncio.start_server(drop_after_data, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    flaky = load_settings(
        postgres={"url": test_settings.postgres.url}, smtp={"host": "127.0.0.1", "port": port}
    )
    dossier = await new_dossier(pg_pool)
    await ActivityEnvironment().run(
        RegistryActivities(pg_pool, test_settings).record_step, refusal_step(dossier)
    )
    refusal = mid(dossier, K.REFUSAL)
    async with server:
        with pytest.raises(ApplicationError) as err:
            await send(NotificationActivities(pg_pool, flaky), refusal)
    assert not err.value.non_retryable  # the server may not have it: at least once
    await send(NotificationActivities(pg_pool, test_settings), refusal)
    [mail] = _for(smtp_sink, dossier)
    assert mail["Message-ID"] == refusal
    record = await notifications.by_message_id(pg_pool, refusal)
    assert record is not None and record.status == "sent" and record.attempts == 2


async def test_a_claim_left_by_a_dead_worker_is_taken_back(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    dossier = await new_dossier(pg_pool)
    await ActivityEnvironment().run(
        RegistryActivities(pg_pool, test_settings).record_step, refusal_step(dossier)
    )
    acts = NotificationActivities(pg_pool, test_settings)
    refusal = mid(dossier, K.REFUSAL)
    overdue = mid(dossier, K.BEC_OVERDUE, to=Recipient.BEC)
    lease = timedelta(minutes=10)
    # Two workers claimed a notice each and died before talking to SMTP.
    for message in (refusal, overdue):
        claimed = await notifications.claim(pg_pool, message, "wf/7", lease)
        assert isinstance(claimed, notifications.OutboxMessage)
    # The same delivery, retried, takes its own claim back at once and sends it, once.
    await send(acts, refusal, activity_id="7")
    assert [m["Message-ID"] for m in _for(smtp_sink, dossier)] == [refusal]
    # Anyone else waits for the lease (retryable), then takes it over.
    with pytest.raises(ApplicationError) as err:
        await send(acts, overdue, activity_id="8")
    assert not err.value.non_retryable and "being sent by another worker" in err.value.message
    await pg_pool.execute(
        "UPDATE notifications SET lease_until = now() - interval '1 second' WHERE message_id = $1",
        overdue,
    )
    await send(acts, overdue, activity_id="8")
    sent = sorted(m["Message-ID"].strip() for m in _for(smtp_sink, dossier))
    assert sent == sorted([refusal, overdue])


async def test_a_rejected_notice_is_failed_for_ops_and_resent_on_request(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    server = await asyncio.start_server(reject_recipient, "127.0.0.1", 0)
    strict = load_settings(
        postgres={"url": test_settings.postgres.url},
        smtp={"host": "127.0.0.1", "port": server.sockets[0].getsockname()[1]},
    )
    dossier = await new_dossier(pg_pool)
    await ActivityEnvironment().run(
        RegistryActivities(pg_pool, test_settings).record_step, refusal_step(dossier)
    )
    refusal = mid(dossier, K.REFUSAL)
    async with server:
        with pytest.raises(ApplicationError) as err:
            await send(NotificationActivities(pg_pool, strict), refusal)
    assert err.value.non_retryable and err.value.type == "NoticeRejected"
    assert "550 5.1.1 mailbox unknown" in err.value.message
    [unsent] = [n for n in await notifications.unsent(pg_pool, 1000) if n.message_id == refusal]
    assert unsent.status == "failed"
    assert (await notifications.state(pg_pool)).counts["failed"] >= 1
    # Ops fixed the cause and resend it: it goes out, with its Message-ID.
    await notifications.requeue(pg_pool, refusal)
    await send(NotificationActivities(pg_pool, test_settings), refusal)
    assert [m["Message-ID"] for m in _for(smtp_sink, dossier)] == [refusal]


async def test_one_connection_carries_many_mails_and_survives_a_server_restart(
    tmp_path: Any,
) -> None:
    port = free_port()
    cfg = load_settings(smtp={"host": "127.0.0.1", "port": port}).smtp
    session = SmtpSession(cfg)
    mail = b"Subject: %d\r\n\r\nbody\r\n"
    try:
        with SmtpSink(tmp_path / "mail", port) as sink:
            for n in range(3):
                await asyncio.to_thread(session.send, "a@example.be", mail % n)
            assert [m["Subject"] for m in sink.messages()] == ["0", "1", "2"]
            assert sink.connections == 1
        # The server went away between two mails: the next one reconnects, sent once.
        with SmtpSink(tmp_path / "mail-after", port) as sink:
            await asyncio.to_thread(session.send, "a@example.be", mail % 3)
            assert [m["Subject"] for m in sink.messages()] == ["3"]
    finally:
        session.close()

"""E-mails through the real SMTP sink: rendered in Dutch, sent at most once, recorded."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import REQUIRED_CONTEXT, SmtpSession, belgian_date, render
from activities.registry import RegistryActivities
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from models.steps import NotificationKind as K
from models.steps import Recipient
from registry import queries
from runtime.settings import Settings, load_settings
from tests.registry.helpers import new_dossier, note, step

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
    subject, body = render(kind, {**FACTS, **EXAMPLE_CONTEXT[kind]})
    assert subject and "{{" not in body
    assert "ODB-2027-000042" in body and "opleidingsdatabank@vlaanderen.be" in body


def test_missing_key_names_the_key() -> None:
    with pytest.raises(Exception, match=r"notifications\.screening_result\.context\.removal_on"):
        render(K.SCREENING_RESULT, {**FACTS, "year": 2027, "passed": False, "remarks": ""})


def refusal_step(dossier: str, name: str = "review") -> Any:
    return step(
        dossier,
        name,
        state_after="refused",
        notifications=[
            note(
                K.REFUSAL,
                reason="De opleiding is niet arbeidsmarktgericht.",
                appeal_deadline="2028-12-31",
            ),
            note(K.BEC_OVERDUE, Recipient.BEC, appeal_number=1, decision_deadline="2027-06-01"),
        ],
    )


def _for(sink: SmtpSink, dossier: str) -> list[Any]:
    return [m for m in sink.messages() if m["X-ODB-Dossier"] == dossier]


async def test_refusal_arrives_once_when_the_activity_runs_twice(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    dossier = await new_dossier(pg_pool)
    acts = RegistryActivities(pg_pool, test_settings)
    s = refusal_step(dossier)
    first = await ActivityEnvironment().run(acts.record_step, s)
    second = await ActivityEnvironment().run(acts.record_step, s)
    # And two workers racing on the same step.
    await asyncio.gather(*(ActivityEnvironment().run(acts.record_step, s) for _ in range(3)))
    mails = _for(smtp_sink, dossier)
    assert len(mails) == 2
    refusal = next(m for m in mails if m["To"] == "aanvragen@test.example.be")
    assert refusal["Message-ID"] == f"<{dossier}.refusal.review@opleidingsdatabank.vlaanderen.be>"
    text = refusal.get_content()
    for expected in (
        "De opleiding is niet arbeidsmarktgericht.",
        "31 december 2028",
        "beroepscommissie.wse@vlaanderen.be",
        dossier,
        "opleidingsdatabank@vlaanderen.be",
    ):
        assert expected in text
    assert first.sent == second.sent and refusal["Message-ID"] in first.sent
    assert next(m for m in mails if m["To"] == "beroepscommissie.wse@vlaanderen.be")
    record = await queries.dossier_record(pg_pool, dossier)
    assert [n.status for n in record.notifications] == ["sent", "sent"]


async def test_smtp_down_keeps_the_mail_and_sends_it_once_when_back(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, tmp_path: Any
) -> None:
    port = free_port()
    settings = load_settings(
        postgres={"url": test_settings.postgres.url}, smtp={"host": "127.0.0.1", "port": port}
    )
    acts = RegistryActivities(pg_pool, settings)
    dossier = await new_dossier(pg_pool)
    s = refusal_step(dossier)
    for _ in range(2):  # Temporal retries while SMTP is down
        with pytest.raises(ApplicationError) as err:
            await ActivityEnvironment().run(acts.record_step, s)
        assert not err.value.non_retryable and err.value.type == "SmtpUnavailable"
    record = await queries.dossier_record(pg_pool, dossier)
    assert [n.status for n in record.notifications] == ["pending", "pending"]
    assert [a.step for a in record.audit] == ["review"]  # the step itself is recorded
    with SmtpSink(tmp_path / "mail", port) as sink:
        result = await ActivityEnvironment().run(acts.record_step, s)
        await ActivityEnvironment().run(acts.record_step, s)
        assert len(sink.messages()) == 2
    assert result.recorded is False and len(result.sent) == 2


async def _drop_after_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SMTP server that takes the message and dies before answering: ambiguous."""
    writer.write(b"220 flaky ESMTP\r\n")
    in_data = False
    while line := await reader.readline():
        if in_data:
            if line == b".\r\n":
                writer.close()
                return
            continue
        verb = line[:4].upper()
        if verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            in_data = True
        elif verb in (b"EHLO", b"HELO"):
            writer.write(b"250 flaky\r\n")
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()


async def test_failure_after_data_is_uncertain_and_never_resent(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, smtp_sink: SmtpSink
) -> None:
    server = await asyncio.start_server(_drop_after_data, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    flaky = load_settings(
        postgres={"url": test_settings.postgres.url}, smtp={"host": "127.0.0.1", "port": port}
    )
    dossier = await new_dossier(pg_pool)
    s = step(
        dossier,
        "approval",
        state_after="registered",
        open_registration=date(2027, 3, 1),
        notifications=[note(K.APPROVAL, registered_from="2027-03-01")],
    )
    async with server:
        result = await ActivityEnvironment().run(RegistryActivities(pg_pool, flaky).record_step, s)
    assert result.recorded and result.sent == []
    # A retry against a working server does not send it again.
    await ActivityEnvironment().run(RegistryActivities(pg_pool, test_settings).record_step, s)
    assert _for(smtp_sink, dossier) == []
    record = await queries.dossier_record(pg_pool, dossier)
    assert [n.status for n in record.notifications] == ["uncertain"]


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

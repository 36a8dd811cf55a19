"""An appeal's BEC decision and its overdue flag reach the registry's appeal row, recorded as
the case records them (the decision step names the appeal by number; it does not carry the
appeal). Before: the row kept `decision_id` NULL and `overdue` false for good, so a training
whose appeal had been decided counted as "in appeal at the BEC" for ever and a resubmission
of it could never be approved. Found by the ten-year simulation (bench/decade).

Also the migration that links the decisions and flags recorded before."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.registry import RegistryActivities
from models.case import Appeal, AppealSubject, Decision
from registry import applications
from registry.migrate import MIGRATIONS_DIR, migrate
from runtime.settings import Settings
from tests.registry.helpers import new_dossier, payload, step
from tests.registry.test_record_step import AT, BEC_DEADLINE


def _appeal() -> Appeal:
    return Appeal(
        number=1,
        subject=AppealSubject.SCREENING,
        filed_at=AT,
        filed_by="u-provider",
        motivation="De opleiding werd wel georganiseerd.",
        deadline=BEC_DEADLINE,
    )


def _as_the_case_records(dossier: str) -> list[Any]:
    """Registered, screened negative, appealed, flagged overdue, the appeal granted: each
    step as workflows/ records it."""
    granted = Decision(
        kind="appeal", outcome="granted", reason="Gegrond beroep", decided_at=AT,
        decided_by="bec", body="BEC",
    )  # fmt: skip
    return [
        step(dossier, "submitted", state_before=None),
        step(dossier, "review", state_after="registered", open_registration=date(2027, 3, 1)),
        step(dossier, "screening-2028", state_before="registered",
             state_after="removal_scheduled", removal_on=date(2029, 12, 31)),
        step(dossier, "appeal-1", state_before="removal_scheduled",
             state_after="removal_scheduled", appeal=_appeal(), appeal_number=1),
        step(dossier, "appeal-1-overdue", event="application.appeal.overdue",
             state_before="removal_scheduled", state_after="removal_scheduled",
             appeal_number=1),
        step(dossier, "appeal-1-decision", event="application.appeal.granted",
             state_before="removal_scheduled", state_after="registered", decision=granted,
             appeal_number=1, cancel_removal=True),
    ]


async def test_a_decided_appeal_is_decided_in_the_registry_and_its_training_can_be_replaced(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> None:
    acts = RegistryActivities(pg_pool, test_settings)
    old = await new_dossier(pg_pool)
    for s in _as_the_case_records(old):
        await ActivityEnvironment().run(acts.record_step, s)
    row = await pg_pool.fetchrow(
        """SELECT a.overdue, d.outcome FROM appeals a LEFT JOIN decisions d
           ON d.id = a.decision_id WHERE a.dossier = $1 AND a.number = 1""",
        old,
    )
    assert row is not None and (row["overdue"], row["outcome"]) == (True, "granted")

    # The provider adjusts the training and submits it again, naming it: approved, it
    # takes over (the old registration ends the day before).
    provider = await pg_pool.fetchval("SELECT provider FROM applications WHERE dossier = $1", old)
    async with pg_pool.acquire() as conn:
        new, _ = await applications.allocate(
            conn, str(uuid.uuid4()), payload(provider, predecessor_dossier=old), datetime.now(UTC)
        )
    approved = step(new, "review", state_after="registered", open_registration=date(2030, 2, 1))
    await ActivityEnvironment().run(acts.record_step, approved)
    ended = await pg_pool.fetchval(
        "SELECT ends_on FROM registration_periods WHERE dossier = $1", old
    )
    assert ended == date(2030, 1, 31)


async def test_the_migration_links_the_decisions_and_flags_recorded_before(
    scratch_db: str, tmp_path: Path, test_settings: Settings
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "0710":
            shutil.copy(path, before)
    conn = await asyncpg.connect(scratch_db)
    try:
        await migrate(conn, before)
        await conn.execute(
            "INSERT INTO providers (enterprise_number, name) VALUES ('0123456749', 'Opleider')"
        )
        await conn.execute(
            """INSERT INTO applications (dossier, provider, idempotency_key, payload_sha256,
                   payload, title, provider_name, contact_email, start_date, volume_unit,
                   volume, competent_body, submitted_at)
               VALUES ('ODB-2027-000001', '0123456749', 'k', 'x', '{}', 'Lassen', 'Opleider',
                       'a@b.be', '2027-09-01', 'contact_hours', 40, 'VOC', $1)""",
            AT,
        )
        # As the earlier code left them: the decision and the overdue step recorded, the
        # appeal row neither decided nor flagged.
        await conn.execute(
            """INSERT INTO appeals (dossier, number, subject, filed_at, filed_by, motivation,
                   decision_last_day, decision_due_at)
               VALUES ('ODB-2027-000001', 1, 'refusal', $1, 'u', 'motivatie', $2, $3)""",
            AT, BEC_DEADLINE.last_day, BEC_DEADLINE.due_at,
        )  # fmt: skip
        decision_id = await conn.fetchval(
            """INSERT INTO decisions (dossier, step, kind, outcome, reason, decided_at,
                   decided_by, body)
               VALUES ('ODB-2027-000001', 'appeal-1-decision', 'appeal', 'rejected', 'r', $1,
                       'bec', 'BEC') RETURNING id""",
            AT,
        )
        for name in ("appeal-1-overdue", "appeal-1-decision"):
            await conn.execute(
                """INSERT INTO audit (dossier, step, event, at, actor, actor_detail,
                       state_before, state_after)
                   VALUES ('ODB-2027-000001', $1, $2, $3, 'bec', '{}', 'in_appeal',
                           'in_appeal')""",
                name, f"application.{name}", AT,
            )  # fmt: skip
        await migrate(conn)
        row = await conn.fetchrow(
            "SELECT decision_id, overdue FROM appeals WHERE dossier = 'ODB-2027-000001'"
        )
        assert row is not None and (row["decision_id"], row["overdue"]) == (decision_id, True)
    finally:
        await conn.close()

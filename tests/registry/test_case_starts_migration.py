"""Migration 0820 records a start for each dossier allocated before it whose case never ran
(its submission answered 503, the portal gave up): under review, no step in its audit, only
the row of its submission. A case that took a step, or a training seeded without a case, is
left alone."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from registry.migrate import MIGRATIONS_DIR, migrate

AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def _dossier(conn: asyncpg.Connection, dossier: str, state: str, last_step: str) -> None:
    await conn.execute(
        """INSERT INTO applications (dossier, provider, idempotency_key, payload_sha256,
               payload, title, provider_name, contact_email, start_date, volume_unit,
               volume, competent_body, submitted_at, state)
           VALUES ($1, '0123456749', $1, 'x', '{}', 'Lassen', 'Opleider', 'a@b.be',
                   '2027-09-01', 'contact_hours', 40, 'VOC', $2, $3)""",
        dossier, AT, state,
    )  # fmt: skip
    await conn.execute(
        """INSERT INTO case_rows (dossier, provider, competent_body, title, state,
               waiting_for, next_step, submitted_at, last_step, last_step_at, status)
           VALUES ($1, '0123456749', 'VOC', 'Lassen', $2, 'reviewer', '', $3, $4, $3, '{}')""",
        dossier, state, AT, last_step,
    )  # fmt: skip


async def test_the_migration_records_the_starts_of_cases_that_never_ran(
    scratch_db: str, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "0820":
            shutil.copy(path, before)
    conn = await asyncpg.connect(scratch_db)
    try:
        await migrate(conn, before)
        await conn.execute(
            "INSERT INTO providers (enterprise_number, name) VALUES ('0123456749', 'Opleider')"
        )
        await _dossier(conn, "ODB-2027-000001", "under_review", "submitted")  # never ran
        await _dossier(conn, "ODB-2027-000002", "under_review", "submitted")  # ran: a step
        await conn.execute(
            """INSERT INTO audit (dossier, step, event, at, actor, actor_detail, state_after)
               VALUES ('ODB-2027-000002', 'submitted', 'application.submitted', $1, 'system',
                       '{}', 'under_review')""",
            AT,
        )
        await _dossier(conn, "ODB-2027-000003", "registered", "review")  # seeded, no case
        await _dossier(conn, "ODB-2027-000004", "under_review", "bench")  # seeded, no case
        await migrate(conn)
        starts = await conn.fetch("SELECT dossier, requested_at FROM case_starts")
    finally:
        await conn.close()
    assert [(r["dossier"], r["requested_at"]) for r in starts] == [("ODB-2027-000001", AT)]

"""Documents stored before they had owners: after the migration every organisation that
uploaded the same bytes has its own document, a dossier's attachment points at its provider's
own copy, and an attachment of a document its provider never uploaded gives no right to read."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from models.identity import Actor, Role, RoleKind
from registry import documents
from registry.migrate import MIGRATIONS_DIR, migrate

A, B, C = "0123456749", "0203201340", "0417497106"


def provider(org: str) -> Actor:
    return Actor(subject=f"user-{org}", organisation=org, roles=(Role(kind=RoleKind.PROVIDER),))


async def _dossier(conn: asyncpg.Connection, number: int, org: str) -> str:
    dossier = f"ODB-2027-{number:06d}"
    await conn.execute(
        """INSERT INTO applications (dossier, provider, idempotency_key, payload_sha256, payload,
               title, provider_name, contact_email, start_date, volume_unit, volume,
               competent_body, submitted_at)
           VALUES ($1, $2, $1, 'x', '{}', 'Lassen', 'Opleider', 'a@b.be', $3, 'contact_hours',
                   40, 'VOC', $4)""",
        dossier,
        org,
        date(2027, 9, 1),
        datetime(2027, 3, 1, tzinfo=UTC),
    )
    return dossier


async def test_shared_documents_are_split_per_organisation(scratch_db: str, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "0600":
            shutil.copy(path, before)
    conn = await asyncpg.connect(scratch_db)
    try:
        await migrate(conn, before)
        for org in (A, B, C):
            await conn.execute(
                "INSERT INTO providers (enterprise_number, name) VALUES ($1, 'Opleider')", org
            )
        content = b"%PDF-1.7 motivatie"
        doc = uuid.uuid4()
        await conn.execute(
            """INSERT INTO documents (id, sha256, size_bytes, media_type, name, organisation,
                                      uploaded_by, content)
               VALUES ($1, $2, $3, 'application/pdf', 'vertrouwelijk-A.pdf', $4, 'an', $5)""",
            doc,
            hashlib.sha256(content).hexdigest(),
            len(content),
            A,
            content,
        )
        for org in (A, B):
            await conn.execute(
                "INSERT INTO document_uploads (document_id, organisation) VALUES ($1, $2)", doc, org
            )
        b_dossier, c_dossier = await _dossier(conn, 1, B), await _dossier(conn, 2, C)
        for dossier in (b_dossier, c_dossier):  # C attached it without ever uploading it
            await conn.execute(
                "INSERT INTO document_dossiers (document_id, dossier) VALUES ($1, $2)", doc, dossier
            )

        assert await migrate(conn) == [
            p.name for p in sorted(MIGRATIONS_DIR.glob("*.sql")) if p.name >= "0600"
        ]

        original = await documents.readable(conn, str(doc), provider(A))
        assert original is not None and original.name == "vertrouwelijk-A.pdf"
        b_copy = await conn.fetchval("SELECT id::text FROM documents WHERE owner = $1", B)
        mine = await documents.readable(conn, b_copy, provider(B))
        assert mine is not None and (mine.organisation, mine.name) == (B, "document")
        assert await documents.readable(conn, str(doc), provider(B)) is None
        attached = await conn.fetchval(
            "SELECT document_id::text FROM document_dossiers WHERE dossier = $1", b_dossier
        )
        assert attached == b_copy
        assert await documents.readable(conn, str(doc), provider(C)) is None
        assert await conn.fetchval("SELECT count(*) FROM documents WHERE owner = $1", C) == 0
    finally:
        await conn.close()

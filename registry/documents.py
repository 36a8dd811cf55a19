"""Appeal documents in PostgreSQL (migration 0400): stored once per content (SHA-256), with
every organisation that uploaded them and the dossiers they are attached to."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from models.documents import DocumentRecord, DocumentType
from registry.db import Conn, Db

_COLUMNS = (
    "id::text AS id, sha256, size_bytes, media_type, name, organisation, uploaded_by, uploaded_at"
)


def _record(row: asyncpg.Record) -> DocumentRecord:
    return DocumentRecord(
        id=row["id"],
        sha256=row["sha256"],
        size=row["size_bytes"],
        media_type=DocumentType(row["media_type"]),
        name=row["name"],
        organisation=row["organisation"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=row["uploaded_at"],
    )


def _uuid(document_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(document_id)
    except ValueError:
        return None


async def store(
    conn: Conn,
    *,
    content: bytes,
    sha256: str,
    media_type: DocumentType,
    name: str,
    organisation: str | None,
    uploaded_by: str,
) -> tuple[DocumentRecord, bool]:
    """Stores the bytes unless stored before (same SHA-256); records the uploading
    organisation. Returns the document and whether it was new."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO documents (id, sha256, size_bytes, media_type, name, organisation,
                                       uploaded_by, content)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (sha256) DO NOTHING
                RETURNING {_COLUMNS}""",
            uuid.uuid4(),
            sha256,
            len(content),
            media_type.value,
            name,
            organisation,
            uploaded_by,
            content,
        )
        created = row is not None
        if row is None:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM documents WHERE sha256 = $1", sha256)
        assert row is not None
        if organisation is not None:
            await conn.execute(
                """INSERT INTO document_uploads (document_id, organisation) VALUES ($1::uuid, $2)
                   ON CONFLICT DO NOTHING""",
                row["id"],
                organisation,
            )
        return _record(row), created


async def get(db: Db, document_id: str) -> DocumentRecord | None:
    """The document's metadata (not its bytes), or None when there is no such document."""
    key = _uuid(document_id)
    if key is None:
        return None
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM documents WHERE id = $1", key)
    return _record(row) if row is not None else None


async def content(db: Db, document_id: str) -> bytes | None:
    key = _uuid(document_id)
    if key is None:
        return None
    value: Any = await db.fetchval("SELECT content FROM documents WHERE id = $1", key)
    return bytes(value) if value is not None else None


async def owners(db: Db, document_id: str) -> set[str]:
    """The organisations that may read it as owner: those that uploaded it, and the
    providers of the dossiers it is attached to."""
    key = _uuid(document_id)
    if key is None:
        return set()
    rows = await db.fetch(
        """SELECT organisation FROM document_uploads WHERE document_id = $1
           UNION
           SELECT a.provider FROM document_dossiers d JOIN applications a USING (dossier)
           WHERE d.document_id = $1""",
        key,
    )
    return {r["organisation"] for r in rows}


async def attach(db: Db, document_id: str, dossier: str) -> None:
    """Links the document to a dossier (an appeal's motivation): its provider may read it.
    Idempotent."""
    await db.execute(
        """INSERT INTO document_dossiers (document_id, dossier) VALUES ($1, $2)
           ON CONFLICT DO NOTHING""",
        uuid.UUID(document_id),
        dossier,
    )

"""Appeal documents in PostgreSQL (migrations 0400, 0600). A document belongs to whoever
uploaded it (`owner`: a provider's enterprise number, or `bec` / `department`); the same
bytes are stored once per owner. Nothing here answers differently because another owner
holds the same bytes: that would tell one organisation what another holds.

Who reads a document: the BEC and the department, every one; a provider organisation, its
own, and one the BEC or the department attached to a dossier of that organisation (an appeal
received by e-mail). An attachment is written only for a document its actor may attach
(`attach`), so reading never follows from naming someone else's document.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from models.documents import STAFF_OWNERS, DocumentRecord, DocumentType, owners_for
from models.identity import Actor, RoleKind
from registry.db import Conn, Db
from registry.errors import InvalidInput

_COLUMNS = "id::text AS id, sha256, size_bytes, media_type, name, owner, uploaded_by, uploaded_at"


def _record(row: asyncpg.Record) -> DocumentRecord:
    owner = row["owner"]
    return DocumentRecord(
        id=row["id"],
        sha256=row["sha256"],
        size=row["size_bytes"],
        media_type=DocumentType(row["media_type"]),
        name=row["name"],
        organisation=None if owner in STAFF_OWNERS else owner,
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
    owner: str,
    uploaded_by: str,
) -> tuple[DocumentRecord, bool]:
    """Stores the bytes for `owner` unless that owner stored them before (same SHA-256).
    Returns the owner's document and whether it was new."""
    row = await conn.fetchrow(
        f"""INSERT INTO documents (id, sha256, size_bytes, media_type, name, owner,
                                   uploaded_by, content)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (owner, sha256) DO NOTHING
            RETURNING {_COLUMNS}""",
        uuid.uuid4(),
        sha256,
        len(content),
        media_type.value,
        name,
        owner,
        uploaded_by,
        content,
    )
    if row is not None:
        return _record(row), True
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM documents WHERE owner = $1 AND sha256 = $2", owner, sha256
    )
    assert row is not None  # the conflict was this owner's row, and rows are never deleted
    return _record(row), False


async def readable(db: Db, document_id: str, actor: Actor) -> DocumentRecord | None:
    """The document's metadata when `actor` may read it; None when it may not or there is no
    such document (the caller answers both alike)."""
    key = _uuid(document_id)
    if key is None:
        return None
    if actor.has(RoleKind.BEC) or actor.has(RoleKind.DEPARTMENT):
        row = await db.fetchrow(f"SELECT {_COLUMNS} FROM documents WHERE id = $1", key)
    elif actor.has(RoleKind.PROVIDER) and actor.organisation is not None:
        row = await db.fetchrow(
            f"""SELECT {_COLUMNS} FROM documents d
                WHERE d.id = $1
                  AND (d.owner = $2
                       OR (d.owner = ANY($3::text[]) AND EXISTS (
                           SELECT 1 FROM document_dossiers dd
                           JOIN applications a USING (dossier)
                           WHERE dd.document_id = d.id AND a.provider = $2)))""",
            key,
            actor.organisation,
            list(STAFF_OWNERS),
        )
    else:
        return None
    return _record(row) if row is not None else None


async def named(db: Db, document_id: str) -> DocumentRecord | None:
    """The metadata for a trusted caller (a case's own notice quoting its attachment)."""
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


def not_yours(document_id: str) -> InvalidInput:
    """The one refusal for a document that does not exist and for someone else's."""
    return InvalidInput(
        [
            (
                "document_id",
                f"no document {document_id} of yours: upload it with POST /documents first "
                "and name the id it gave",
            )
        ]
    )


async def check_attachable(db: Db, document_id: str, actor: Actor) -> None:
    """Refuses (422 naming document_id) a document the actor did not upload for whom it acts
    (its organisation, or the BEC or the department as their staff)."""
    key = _uuid(document_id)
    found = key is not None and await db.fetchval(
        "SELECT true FROM documents WHERE id = $1 AND owner = ANY($2::text[])",
        key,
        list(owners_for(actor)),
    )
    if not found:
        raise not_yours(document_id)


async def attach(conn: Conn, document_id: str, dossier: str, actor: Actor) -> None:
    """Links the actor's own document to a dossier (an appeal's motivation). Idempotent."""
    await check_attachable(conn, document_id, actor)
    await conn.execute(
        """INSERT INTO document_dossiers (document_id, dossier) VALUES ($1, $2)
           ON CONFLICT DO NOTHING""",
        uuid.UUID(document_id),
        dossier,
    )

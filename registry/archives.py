"""What an archive file holds, read from the registry: everything of one dossier, or of one
provider organisation; and the record of each dossier's archive (migration 0800)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.retention import Kind
from registry import case_rows, providers, queries, retention
from registry.db import Db


@dataclass(frozen=True)
class StoredDocument:
    id: str
    sha256: str
    size: int
    media_type: str
    name: str
    owner: str
    uploaded_by: str
    uploaded_at: datetime
    content: bytes


@dataclass
class DossierData:
    dossier: str
    ended_at: datetime | None
    record: dict[str, Any]  # the registry's full record (models.registry.DossierRecord)
    case: dict[str, Any] | None  # the case as its current-state row holds it (CaseStatus)
    emails: list[dict[str, Any]]
    events: list[dict[str, Any]]
    training_activity: list[dict[str, Any]]
    documents: list[StoredDocument]
    # Documents an appeal names that the registry no longer holds, and when they went.
    purged_documents: dict[str, datetime | None] = field(default_factory=dict)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _facts(value: Any) -> Any:
    """A provider change's before/after: JSON text inside jsonb, or (stripped) an object."""
    value = _json(value)
    return _json(value) if isinstance(value, str) else value


async def ended_at(db: Db, dossier: str) -> datetime | None:
    value: datetime | None = await db.fetchval(
        "SELECT min(at) FROM audit WHERE dossier = $1 AND state_after = 'ended'", dossier
    )
    return value


_DOCUMENT = """SELECT id::text AS id, sha256, size_bytes, media_type, name, owner, uploaded_by,
                      uploaded_at, content FROM documents"""


def _document(row: Any) -> StoredDocument:
    return StoredDocument(
        id=row["id"],
        sha256=row["sha256"],
        size=row["size_bytes"],
        media_type=row["media_type"],
        name=row["name"],
        owner=row["owner"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=row["uploaded_at"],
        content=bytes(row["content"]),
    )


async def dossier_data(db: Db, dossier: str) -> DossierData:
    """Everything the registry holds of one dossier. Raises registry.errors.NotFound."""
    record = await queries.dossier_record(db, dossier)
    row = await case_rows.get(db, dossier)
    emails = await db.fetch(
        """SELECT step, kind, recipient, to_address, subject, body, message_id, status,
                  attempts, last_error, created_at, sent_at
           FROM notifications WHERE dossier = $1 ORDER BY id""",
        dossier,
    )
    events = await db.fetch(
        """SELECT seq, id::text AS id, type, source, step, time, data
           FROM events WHERE subject = $1 ORDER BY seq""",
        dossier,
    )
    activity = await db.fetch(
        """SELECT year, sessions, participants, completions, reported_at
           FROM training_activity WHERE dossier = $1 ORDER BY year""",
        dossier,
    )
    named = {
        r["document_id"]
        for r in await db.fetch(
            """SELECT document_id FROM appeals WHERE dossier = $1 AND document_id IS NOT NULL
               UNION SELECT document_id::text FROM document_dossiers WHERE dossier = $1""",
            dossier,
        )
    }
    keys = [k for k in (_uuid(n) for n in named) if k is not None]
    docs = [
        _document(r)
        for r in await db.fetch(f"{_DOCUMENT} WHERE id = ANY($1::uuid[]) ORDER BY id", keys)
    ]
    held = {d.id for d in docs}
    purged: dict[str, datetime | None] = {}
    for missing in sorted(named - held):
        when = await retention.done_for(db, [Kind.DOCUMENTS], missing)
        purged[missing] = when.get(Kind.DOCUMENTS.value)
    return DossierData(
        dossier=dossier,
        ended_at=await ended_at(db, dossier),
        record=record.model_dump(mode="json"),
        case=row.status.model_dump(mode="json") if row is not None else None,
        emails=[dict(r) for r in emails],
        events=[{**dict(r), "data": _json(r["data"])} for r in events],
        training_activity=[dict(r) for r in activity],
        documents=docs,
        purged_documents=purged,
    )


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class ProviderHead:
    """What an organisation's export starts from; each dossier and document is read when
    it is written (bench/provider_export.py: memory stays one dossier's, whatever the
    organisation's size)."""

    enterprise_number: str
    record: dict[str, Any]
    changes: list[dict[str, Any]]
    dossiers: list[str]  # oldest first
    uploads: list[str]  # the ids of every document it uploaded, oldest first


async def provider_head(db: Db, number: str) -> ProviderHead | None:
    """An organisation's register record and every change, its dossiers and its uploads."""
    record = await providers.get(db, number)
    if record is None:
        return None
    changes = await db.fetch(
        """SELECT change, by_subject AS by, at, before, after, reason FROM provider_changes
           WHERE enterprise_number = $1 ORDER BY id""",
        number,
    )
    uploads = await db.fetch(
        "SELECT id::text AS id FROM documents WHERE owner = $1 ORDER BY uploaded_at, id", number
    )
    return ProviderHead(
        enterprise_number=number,
        record=record.model_dump(mode="json"),
        changes=[
            {**dict(c), "before": _facts(c["before"]), "after": _facts(c["after"])} for c in changes
        ],
        dossiers=[s.dossier for s in await queries.dossiers_of(db, number)],
        uploads=[r["id"] for r in uploads],
    )


async def stored_document(db: Db, document_id: str) -> StoredDocument | None:
    row = await db.fetchrow(f"{_DOCUMENT} WHERE id = $1::uuid", document_id)
    return None if row is None else _document(row)


# ---- the record of each dossier's archive ----


@dataclass(frozen=True)
class ArchiveRow:
    dossier: str
    path: str
    sha256: str
    size: int
    parts: int
    ended_at: datetime
    created_at: datetime


async def get(db: Db, dossier: str) -> ArchiveRow | None:
    row = await db.fetchrow(
        """SELECT dossier, path, sha256, size_bytes AS size, parts, ended_at, created_at
           FROM dossier_archives WHERE dossier = $1""",
        dossier,
    )
    return None if row is None else ArchiveRow(**dict(row))


async def record(
    db: Db, dossier: str, path: str, sha256: str, size: int, parts: int, ended: datetime
) -> ArchiveRow:
    """Records the archive written; the first record stays (a second writer wrote the same
    bytes: the file is built from the same ended dossier)."""
    await db.execute(
        """INSERT INTO dossier_archives (dossier, path, sha256, size_bytes, parts, ended_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dossier) DO NOTHING""",
        dossier,
        path,
        sha256,
        size,
        parts,
        ended,
    )
    found = await get(db, dossier)
    assert found is not None
    return found

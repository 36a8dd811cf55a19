"""Archive files: one self-contained ZIP per ended dossier, written when the case ends, and
the export of everything held about one provider organisation.

A ZIP holds `manifest.json` (every other part with its size, media type and SHA-256),
`dossier.json` (the registry's full record: the application, every step with its details,
decisions and their reasons, appeals and hearings, registration periods, the deadlines and
how each was computed, screening results, the e-mails' metadata, the events), each e-mail
as an RFC 5322 `.eml` message and each document as uploaded. Open formats only: a reader
needs an unzip tool and a text editor, not this system.

A dossier's archive is written once (`dossier_archives` holds its SHA-256) and built
deterministically from the ended dossier (fixed entry times, sorted JSON), so a retried or
concurrent write produces the same bytes; the file is replaced atomically, with a `.sha256`
file beside it. Where: `retention.archive_dir` (dev: `.dev/archive/<year>/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.archive import ARCHIVE_DOSSIER, ArchiveInput, ArchiveResult, Manifest, ManifestPart
from models.documents import DocumentType
from registry import archives
from registry.archives import DossierData, StoredDocument
from registry.db import Conn
from registry.errors import NotFound
from runtime.settings import Settings

_EXTENSIONS = {
    DocumentType.PDF.value: "pdf",
    DocumentType.DOCX.value: "docx",
    DocumentType.ODT.value: "odt",
}
_README = """Dit archief is een zelfstandige kopie van {what}, gemaakt door de
opleidingsdatabank (departement WSE). This archive is a self-contained copy of {what}.

manifest.json  every other part: its path, size, media type and SHA-256 (check with
               `sha256sum`); the archive's own SHA-256 is in the .sha256 file beside it
*.json         the registry's record (UTF-8 JSON): application, steps, decisions with their
               reasons, appeals, hearings, registrations, deadlines and how they were
               computed, screening results, e-mails, events
emails/*.eml   every e-mail as sent (RFC 5322; opens in any mail program)
documents/*    the documents as uploaded (PDF, DOCX, ODT)
"""


@dataclass(frozen=True)
class Part:
    path: str
    data: bytes
    media_type: str
    description: str


def _dumps(value: Any) -> bytes:
    return (
        json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1, default=str) + "\n"
    ).encode()


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    t = max(when.astimezone(UTC), datetime(1980, 1, 1, tzinfo=UTC))
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


class ArchiveWriter:
    """A ZIP written part by part, its manifest (each part with its SHA-256) last: a part's
    bytes are held only while it is written. The same parts and moment give the same bytes."""

    def __init__(self, out: IO[bytes], when: datetime) -> None:
        self._stamp = _zip_time(when)
        self._zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        self.listed: list[ManifestPart] = []

    def _entry(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def add(self, part: Part) -> None:
        self._zip.writestr(self._entry(part.path), part.data)
        self.listed.append(
            ManifestPart(
                path=part.path,
                size=len(part.data),
                sha256=hashlib.sha256(part.data).hexdigest(),
                media_type=part.media_type,
                description=part.description,
            )
        )

    def finish(self, manifest: Manifest) -> None:
        full = manifest.model_copy(update={"parts": self.listed})
        self._zip.writestr(self._entry("manifest.json"), _dumps(full.model_dump(mode="json")))
        self._zip.close()

    def close(self) -> None:
        self._zip.close()


def write_zip(out: IO[bytes], parts: Sequence[Part], manifest: Manifest, when: datetime) -> None:
    writer = ArchiveWriter(out, when)
    try:
        for part in parts:
            writer.add(part)
        writer.finish(manifest)
    finally:
        writer.close()


def _eml(row: dict[str, Any], sender: str) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = row["to_address"] or "(verwijderd)"
    msg["Subject"] = row["subject"]
    msg["Message-ID"] = row["message_id"]
    msg["Date"] = format_datetime((row["sent_at"] or row["created_at"]).astimezone(UTC))
    msg["X-ODB-Status"] = row["status"]
    msg.set_content(row["body"] or "(de inhoud is niet meer bewaard)\n")
    return msg.as_bytes()


def _document_path(prefix: str, doc: StoredDocument) -> str:
    return f"{prefix}documents/{doc.id}.{_EXTENSIONS.get(doc.media_type, 'bin')}"


def _document_meta(prefix: str, doc: StoredDocument) -> dict[str, Any]:
    return {
        "id": doc.id,
        "sha256": doc.sha256,
        "size": doc.size,
        "media_type": doc.media_type,
        "name": doc.name,
        "owner": doc.owner,
        "uploaded_by": doc.uploaded_by,
        "uploaded_at": doc.uploaded_at.isoformat(),
        "file": _document_path(prefix, doc),
    }


def dossier_parts(data: DossierData, sender: str, prefix: str = "") -> list[Part]:
    """The parts of one dossier, under `prefix` (a provider's export nests each dossier)."""
    emails = []
    parts: list[Part] = []
    for n, row in enumerate(data.emails, start=1):
        path = f"{prefix}emails/{n:03d}-{row['kind']}.eml"
        emails.append({**{k: v for k, v in row.items() if k != "body"}, "file": path})
        parts.append(Part(path, _eml(row, sender), "message/rfc822", f"e-mail {row['kind']}"))
    docs = [_document_meta(prefix, d) for d in data.documents]
    for doc in data.documents:
        parts.append(
            Part(_document_path(prefix, doc), doc.content, doc.media_type, f"document {doc.name}")
        )
    body = {
        "dossier": data.dossier,
        "ended_at": data.ended_at,
        "record": data.record,
        "case": data.case,
        "emails": emails,
        "events": data.events,
        "training_activity": data.training_activity,
        "documents": docs,
        "documents_purged": {
            doc_id: {"purged_at": when, "why": "retention table, kind documents"}
            for doc_id, when in data.purged_documents.items()
        },
    }
    record = Part(
        f"{prefix}dossier.json",
        _dumps(body),
        "application/json",
        f"dossier {data.dossier}: the registry's full record",
    )
    return [record, *parts]


def dossier_archive(data: DossierData, sender: str, out: IO[bytes]) -> None:
    assert data.ended_at is not None
    parts = [
        Part(
            "README.txt",
            _README.format(what=f"dossier {data.dossier}").encode(),
            "text/plain",
            "what this archive is",
        ),
        *dossier_parts(data, sender),
    ]
    manifest = Manifest(kind="dossier", subject=data.dossier, as_of=data.ended_at, parts=[])
    write_zip(out, parts, manifest, data.ended_at)


@dataclass(frozen=True)
class ProviderExport:
    dossiers: int
    parts: int  # the manifest included
    sha256: str
    size: int


async def export_provider(
    conn: Conn, number: str, sender: str, at: datetime, target: Path
) -> ProviderExport | None:
    """Everything held about one organisation as one ZIP at `target`, read in one snapshot
    and written a dossier (and a document) at a time, compressed off the event loop. None:
    no such organisation. An unknown organisation or a failure leaves no file at `target`."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await archives.provider_head(conn, number)
        if head is None:
            await asyncio.to_thread(target.unlink, missing_ok=True)
            return None
        try:
            out = await asyncio.to_thread(target.open, "wb")
            try:
                writer = ArchiveWriter(out, at)
                try:
                    await _write_provider(conn, head, sender, at, writer)
                finally:
                    writer.close()
            finally:
                out.close()
            sha, size = await asyncio.to_thread(_sha256_of, target)
        except BaseException:
            await asyncio.to_thread(target.unlink, missing_ok=True)
            raise
    return ProviderExport(len(head.dossiers), len(writer.listed) + 1, sha, size)


async def _write_provider(
    conn: Conn,
    head: archives.ProviderHead,
    sender: str,
    at: datetime,
    writer: ArchiveWriter,
) -> None:
    async def add(part: Part) -> None:
        await asyncio.to_thread(writer.add, part)

    await add(
        Part(
            "README.txt",
            _README.format(what=f"alles over organisatie {head.enterprise_number}").encode(),
            "text/plain",
            "what this archive is",
        )
    )
    attached: set[str] = set()
    for dossier in head.dossiers:
        data = await archives.dossier_data(conn, dossier)
        attached |= {d.id for d in data.documents}
        for part in dossier_parts(data, sender, prefix=f"dossiers/{dossier}/"):
            await add(part)
    # Its uploads that no dossier of it names (yet).
    own = []
    for document_id in head.uploads:
        if document_id in attached:
            continue
        doc = await archives.stored_document(conn, document_id)
        if doc is not None:
            own.append(_document_meta("", doc))
            await add(
                Part(_document_path("", doc), doc.content, doc.media_type, f"document {doc.name}")
            )
    await add(
        Part(
            "provider.json",
            _dumps(
                {
                    "provider": head.record,
                    "changes": head.changes,
                    "dossiers": head.dossiers,
                    "documents": own,
                }
            ),
            "application/json",
            "the providers register: the record and every change",
        )
    )
    manifest = Manifest(kind="provider", subject=head.enterprise_number, as_of=at, parts=[])
    await asyncio.to_thread(writer.finish, manifest)


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def read_manifest(path: Path) -> Manifest:
    with zipfile.ZipFile(path) as z:
        return Manifest.model_validate_json(z.read("manifest.json"))


def verify(path: Path) -> list[str]:
    """What does not match the manifest in an archive file (empty: every part matches)."""
    problems = []
    with zipfile.ZipFile(path) as z:
        manifest = Manifest.model_validate_json(z.read("manifest.json"))
        names = set(z.namelist()) - {"manifest.json"}
        for part in manifest.parts:
            if part.path not in names:
                problems.append(f"{part.path}: missing")
                continue
            data = z.read(part.path)
            if hashlib.sha256(data).hexdigest() != part.sha256 or len(data) != part.size:
                problems.append(f"{part.path}: SHA-256 or size differs from the manifest")
        problems += [
            f"{n}: not in the manifest" for n in sorted(names - {p.path for p in manifest.parts})
        ]
    return problems


def _write_atomically(target: Path, write: Any) -> tuple[str, int]:
    """Writes through a temporary file in the same folder, fsynced, then renamed over the
    target: a reader never sees half a file. Returns (SHA-256, size)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            digest = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
            size = f.tell()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sha = digest.hexdigest()
    side = target.with_name(target.name + ".sha256")
    side.write_text(f"{sha}  {target.name}\n", encoding="ascii")
    return sha, size


def archive_file(settings: Settings, dossier: str) -> tuple[Path, str]:
    """The file of a dossier's archive: absolute, and relative to the archive folder."""
    year = dossier.split("-")[1] if dossier.count("-") == 2 else "other"
    relative = f"{year}/{dossier}.zip"
    return settings.archive_path / relative, relative


async def archive_dossier(
    pool: asyncpg.Pool[Any], settings: Settings, dossier: str
) -> ArchiveResult:
    """Writes the ended dossier's archive unless it was written before. Idempotent."""
    found = await archives.get(pool, dossier)
    if found is not None:
        return ArchiveResult(
            dossier=dossier,
            path=found.path,
            sha256=found.sha256,
            size=found.size,
            parts=found.parts,
            created=False,
        )
    try:
        data = await archives.dossier_data(pool, dossier)
    except NotFound as exc:
        raise ApplicationError(str(exc), type="NotFound", non_retryable=True) from exc
    if data.ended_at is None:
        raise ApplicationError(
            f"dossier {dossier} has not ended: only an ended dossier is archived",
            type="InvalidState",
            non_retryable=True,
        )
    target, relative = archive_file(settings, dossier)
    sender = settings.smtp.sender
    sha, size = _write_atomically(target, lambda f: dossier_archive(data, sender, f))
    parts = len(read_manifest(target).parts) + 1
    row = await archives.record(pool, dossier, relative, sha, size, parts, data.ended_at)
    return ArchiveResult(
        dossier=dossier,
        path=row.path,
        sha256=row.sha256,
        size=row.size,
        parts=row.parts,
        created=True,
    )


class ArchiveActivities:
    def __init__(self, pool: asyncpg.Pool[Any], settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name=ARCHIVE_DOSSIER)
    async def archive(self, inp: ArchiveInput) -> ArchiveResult:
        """The ended case's last act: its archive file, written once."""
        result = await archive_dossier(self._pool, self._settings, inp.dossier)
        activity.logger.info(
            "archive.dossier.written" if result.created else "archive.dossier.found",
            extra={"dossier": inp.dossier, "sha256": result.sha256, "path": result.path},
        )
        return result

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
from registry.archives import DossierData, ProviderData, StoredDocument
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


def write_zip(out: IO[bytes], parts: Sequence[Part], manifest: Manifest, when: datetime) -> None:
    """The parts and their manifest (written last, listing each with its SHA-256). The same
    parts and moment give the same bytes."""
    stamp = _zip_time(when)
    listed: list[ManifestPart] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for part in parts:
            info = zipfile.ZipInfo(part.path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            z.writestr(info, part.data)
            listed.append(
                ManifestPart(
                    path=part.path,
                    size=len(part.data),
                    sha256=hashlib.sha256(part.data).hexdigest(),
                    media_type=part.media_type,
                    description=part.description,
                )
            )
        info = zipfile.ZipInfo("manifest.json", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        full = manifest.model_copy(update={"parts": listed})
        z.writestr(info, _dumps(full.model_dump(mode="json")))


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


def provider_export(data: ProviderData, sender: str, at: datetime, out: IO[bytes]) -> int:
    """Everything held about one organisation as one ZIP; returns the number of parts."""
    parts = [
        Part(
            "README.txt",
            _README.format(what=f"alles over organisatie {data.enterprise_number}").encode(),
            "text/plain",
            "what this archive is",
        ),
        Part(
            "provider.json",
            _dumps(
                {
                    "provider": data.record,
                    "changes": data.changes,
                    "dossiers": [d.dossier for d in data.dossiers],
                    "documents": [_document_meta("", d) for d in data.documents],
                }
            ),
            "application/json",
            "the providers register: the record and every change",
        ),
    ]
    for dossier in data.dossiers:
        parts += dossier_parts(dossier, sender, prefix=f"dossiers/{dossier.dossier}/")
    for doc in data.documents:
        parts.append(
            Part(_document_path("", doc), doc.content, doc.media_type, f"document {doc.name}")
        )
    manifest = Manifest(kind="provider", subject=data.enterprise_number, as_of=at, parts=[])
    write_zip(out, parts, manifest, at)
    return len(parts) + 1


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

"""Archive files: one per ended dossier, and a provider organisation's export (no I/O here).

Both are ZIP files (an open format) holding JSON, the e-mails as RFC 5322 `.eml` messages,
the documents as uploaded, and `manifest.json`: every other part with its size, media type
and SHA-256, so anyone can check the file without this system.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

ARCHIVE_DOSSIER = "archive.dossier"
ARCHIVE_FORMAT = "odb-archive"
ARCHIVE_VERSION = 1


class ArchiveInput(BaseModel):
    dossier: str


class ArchiveResult(BaseModel):
    dossier: str
    path: str = Field(description="the file, relative to retention.archive_dir")
    sha256: str = Field(description="SHA-256 of the whole file")
    size: int
    parts: int
    created: bool = Field(description="false: it had been written before (nothing written)")


class ManifestPart(BaseModel):
    path: str
    size: int
    sha256: str
    media_type: str
    description: str


class Manifest(BaseModel):
    format: str = ARCHIVE_FORMAT
    version: int = ARCHIVE_VERSION
    kind: str = Field(description="dossier (an ended dossier) or provider (an export)")
    subject: str = Field(description="the dossier number, or the enterprise number")
    as_of: datetime = Field(description="the dossier's end, or the moment of the export")
    hash_algorithm: str = "sha256"
    parts: list[ManifestPart]

"""An appeal's motivation document: the kinds accepted and the read model (no I/O here)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from models.identity import Actor, RoleKind

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # 10 MB
# Who owns a document other than a provider organisation (the registry's `owner` column).
STAFF_OWNERS = ("bec", "department")


def owners_for(actor: Actor) -> tuple[str, ...]:
    """Whose documents the actor uploads and attaches: its organisation as a provider user,
    and the BEC's or the department's as their staff. The first is the one an upload goes to."""
    found: list[str] = []
    if actor.has(RoleKind.PROVIDER) and actor.organisation is not None:
        found.append(actor.organisation)
    found += [kind.value for kind in (RoleKind.BEC, RoleKind.DEPARTMENT) if actor.has(kind)]
    return tuple(found)


class DocumentType(StrEnum):
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ODT = "application/vnd.oasis.opendocument.text"


class DocumentRecord(BaseModel):
    """A stored document without its bytes: what a case and the API say about it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="the document id (a UUID); an appeal names it as document_id")
    sha256: str = Field(description="SHA-256 of the bytes, lowercase hex")
    size: int = Field(description="bytes")
    media_type: DocumentType = Field(description="as found from the content, not the name")
    name: str = Field(description="the file name as uploaded")
    organisation: str | None = Field(
        description="enterprise number of the organisation that uploaded it, the only one "
        "that owns it (none: the BEC or the department uploaded it)"
    )
    uploaded_by: str
    uploaded_at: datetime


class DocumentReceipt(DocumentRecord):
    created: bool = Field(
        description="false: your organisation stored these bytes before, same id"
    )

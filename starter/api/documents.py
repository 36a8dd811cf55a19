"""Appeal documents: `POST /documents` (multipart upload) and `GET /documents/{id}`.

The media type is found from the content, never from the name or the declared type: a PDF
starts with `%PDF-`; a DOCX is a ZIP holding `word/document.xml`; an ODT is a ZIP whose
`mimetype` entry is `application/vnd.oasis.opendocument.text`. Anything else is refused
(415) naming what was found. At most 10 MB (`api.max_body_bytes` is raised for this route
only, starter/api/limits.py). The bytes go to PostgreSQL with their SHA-256 (registry/documents.py);
the same bytes twice from one organisation are one document; from another organisation, a
document of that organisation's own. Readable by the organisation that uploaded it, the BEC
and the department (registry/documents.py says it in full); for anyone else a document does
not exist (404, the same answer as for an id never given).
"""

import hashlib
import io
import re
import uuid
import zipfile
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Request, Response, UploadFile

from models.documents import (
    MAX_DOCUMENT_BYTES,
    DocumentReceipt,
    DocumentRecord,
    DocumentType,
    owners_for,
)
from models.identity import Actor
from registry import documents as registry_documents
from starter.api.access import forbidden
from starter.api.problems import BODY_PROBLEM_RESPONSES, PROBLEM_RESPONSES, Problem
from starter.client import CaseService

ODT_MIMETYPE = DocumentType.ODT.value.encode()
# Bytes a multipart body may carry beyond the file itself (boundaries, part headers).
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_ROUTE = "/documents"
UPLOAD_BODY_LIMIT = MAX_DOCUMENT_BYTES + MULTIPART_OVERHEAD

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable (application/x-msdownload)"),
    (b"\x7fELF", "a Linux executable (application/x-executable)"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable (application/x-mach-binary)"),
    (b"#!", "a script (text/x-shellscript)"),
    (b"\x89PNG", "a PNG image (image/png)"),
    (b"\xff\xd8\xff", "a JPEG image (image/jpeg)"),
    (b"GIF8", "a GIF image (image/gif)"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (application/msword, .doc)"),
    (b"{\\rtf", "an RTF document (application/rtf)"),
    (b"\x1f\x8b", "a gzip archive (application/gzip)"),
    (b"Rar!", "a RAR archive (application/vnd.rar)"),
    (b"7z\xbc\xaf", "a 7-Zip archive (application/x-7z-compressed)"),
)
ACCEPTED = "PDF, DOCX or ODT"


class Unsupported(ValueError):
    """The content is none of the accepted types; the message says what it is."""


def sniff(content: bytes) -> DocumentType:
    """The document type found from the bytes; `Unsupported` naming what was found."""
    if content.startswith(b"%PDF-"):
        return DocumentType.PDF
    if content.startswith(b"PK\x03\x04"):
        return _zip_type(content)
    for magic, what in _SIGNATURES:
        if content.startswith(magic):
            raise Unsupported(what)
    head = content[:512]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported("unrecognised binary data (application/octet-stream)") from None
    raise Unsupported("plain text (text/plain)")


def _zip_type(content: bytes) -> DocumentType:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    mimetype = entry.read(200).strip()
                if mimetype == ODT_MIMETYPE:
                    return DocumentType.ODT
                raise Unsupported(
                    f"an OpenDocument file of another kind ({mimetype.decode(errors='replace')})"
                )
            if "word/document.xml" in names:
                return DocumentType.DOCX
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise Unsupported("a damaged ZIP archive (application/zip)") from exc
    raise Unsupported("a ZIP archive that is no DOCX or ODT document (application/zip)")


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(filename: str | None) -> str:
    """The file name without any folder part or control characters, at most 255 characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = _UNSAFE_NAME.sub("", name).strip()
    return name[:255] or "document"


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


def may_upload(actor: Actor) -> str:
    """Who the upload belongs to: the user's organisation, or the BEC or the department."""
    owners = owners_for(actor)
    if owners:
        return owners[0]
    raise forbidden(
        "only provider users (for their organisation's appeal), the BEC and the department "
        "upload appeal documents"
    )


def _file_problem(status: int, slug: str, title: str, detail: str) -> Problem:
    return Problem(status, slug, title, f"file: {detail}", field="file")


def check_document(content: bytes) -> DocumentType:
    """The document's type, or a Problem naming `file` (empty, too large, not a PDF, DOCX or
    ODT): a form checks this before it stores anything."""
    if not content:
        raise _file_problem(422, "invalid-input", "Invalid input", "the file is empty")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise _file_problem(
            413,
            "body-too-large",
            "Document too large",
            f"the file has more than {MAX_DOCUMENT_BYTES} bytes (10 MB); at most "
            f"{MAX_DOCUMENT_BYTES} bytes are accepted",
        )
    try:
        return sniff(content)
    except Unsupported as exc:
        raise _file_problem(
            415,
            "unsupported-media-type",
            "Unsupported document type",
            f"the content is {exc}; send a {ACCEPTED} document",
        ) from exc


async def accept_document(
    service: CaseService, actor: Actor, filename: str | None, content: bytes
) -> DocumentReceipt:
    """POST /documents and the appeal page's upload: checked (size, type found from the
    content) before anything is stored; a Problem naming `file` says what was wrong.
    `content` is at most MAX_DOCUMENT_BYTES + 1 bytes of the file (one more tells too large)."""
    owner = may_upload(actor)
    media_type = check_document(content)
    sha256 = hashlib.sha256(content).hexdigest()
    record, created = await service._db(
        lambda conn: registry_documents.store(
            conn,
            content=content,
            sha256=sha256,
            media_type=media_type,
            name=clean_name(filename),
            owner=owner,
            uploaded_by=actor.subject,
        )
    )
    return DocumentReceipt(**record.model_dump(), created=created)


async def readable_document(
    service: CaseService, actor: Actor, key: str
) -> tuple[DocumentRecord, bytes]:
    """GET /documents/{id} and the dossier page's link: someone else's document answers
    exactly as one that does not exist (404, no oracle)."""
    if not owners_for(actor):  # a role that reads no document, asked before any lookup
        raise forbidden(
            "only the organisation that uploaded a document, the BEC and the department "
            "read documents"
        )
    record = await service._db(lambda conn: registry_documents.readable(conn, key, actor))
    if record is None:
        raise Problem(404, "not-found", "Not found", f"no document {key}")
    content = await service._db(lambda conn: registry_documents.content(conn, key))
    if content is None:  # pragma: no cover - a row without content cannot be stored
        raise Problem(404, "not-found", "Not found", f"no document {key}")
    return record, content


DOCUMENT_CONTENT: dict[str, Any] = {
    t.value: {"schema": {"type": "string", "format": "binary"}} for t in DocumentType
}


def router(actor_dependency: Any) -> APIRouter:
    """The document routes; `actor_dependency` is the API's verified-token dependency."""
    routes = APIRouter(responses=PROBLEM_RESPONSES, tags=["documents"])
    ActorDep = Annotated[Actor, Depends(actor_dependency)]
    ServiceDep = Annotated[CaseService, Depends(_service)]

    @routes.post(
        UPLOAD_ROUTE,
        status_code=201,
        response_model=DocumentReceipt,
        summary="Upload an appeal's motivation document (PDF, DOCX or ODT, at most 10 MB); "
        "the same bytes again from your organisation give the same document (200)",
        openapi_extra={
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "encoding": {
                            "file": {"contentType": ", ".join(t.value for t in DocumentType)}
                        }
                    }
                }
            }
        },
        responses={
            200: {
                "model": DocumentReceipt,
                "description": "your organisation stored these bytes before",
            },
            400: BODY_PROBLEM_RESPONSES[400],
            415: {
                **BODY_PROBLEM_RESPONSES[415],
                "description": "the content is no PDF, DOCX or ODT (`detail` names what it is)",
            },
        },
    )
    async def upload_document(
        file: Annotated[
            UploadFile,
            File(
                description="the document: PDF, DOCX or ODT, 1 byte to 10 MB; its type is "
                "found from its content, never from its name or declared type",
                json_schema_extra={"minLength": 1, "maxLength": MAX_DOCUMENT_BYTES},
            ),
        ],
        actor: ActorDep,
        service: ServiceDep,
        response: Response,
    ) -> DocumentReceipt:
        content = await file.read(MAX_DOCUMENT_BYTES + 1)
        receipt = await accept_document(service, actor, file.filename, content)
        if not receipt.created:
            response.status_code = 200
        return receipt

    @routes.get(
        "/documents/{document_id}",
        summary="Read a document (the organisation that uploaded it, the BEC, the department)",
        response_class=Response,
        responses={200: {"content": DOCUMENT_CONTENT, "description": "the document's bytes"}},
    )
    async def read_document(
        document_id: Annotated[uuid.UUID, Path(description="the id POST /documents gave")],
        actor: ActorDep,
        service: ServiceDep,
    ) -> Response:
        record, content = await readable_document(service, actor, str(document_id))
        return Response(
            content,
            media_type=record.media_type.value,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.name)}",
                "ETag": f'"{record.sha256}"',
            },
        )

    return routes

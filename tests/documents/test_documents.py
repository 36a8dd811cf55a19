"""Appeal documents through the real API on the real registry: upload, dedupe, who reads,
and the refusals (size, emptiness, content type found from the bytes, not the name)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from typing import Any

import httpx

from models.documents import MAX_DOCUMENT_BYTES
from models.identity import Actor, Role, RoleKind
from registry import documents
from tests.fixtures.api import Api

BEC = Actor(subject="bec.secretariaat", roles=(Role(kind=RoleKind.BEC),))


def pdf(tag: str = "") -> bytes:
    return b"%PDF-1.7\n" + f"motivatie {tag} {os.urandom(8).hex()}\n".encode() + b"%%EOF\n"


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", f"<w:document>{os.urandom(8).hex()}</w:document>")
    return buf.getvalue()


def odt(mimetype: str = "application/vnd.oasis.opendocument.text") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", mimetype)
        z.writestr("content.xml", f"<office:document>{os.urandom(8).hex()}</office:document>")
    return buf.getvalue()


async def upload(
    api: Api, content: bytes, name: str = "motivatie.pdf", persona: str = "provider"
) -> httpx.Response:
    return await api.http.post(
        "/documents",
        files={"file": (name, content, "application/octet-stream")},
        headers=api.auth(persona),
    )


def problem(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


async def test_upload_returns_id_hash_size_and_type_found_from_content(api: Api) -> None:
    for content, media_type in (
        (pdf(), "application/pdf"),
        (docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (odt(), "application/vnd.oasis.opendocument.text"),
    ):
        response = await upload(api, content, name="beroep.bin")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert body["size"] == len(content)
        assert body["media_type"] == media_type
        assert body["name"] == "beroep.bin"
        assert body["organisation"] == "0123456749"
        assert body["created"] is True
        record = await documents.named(api.pool, body["id"])
        assert record is not None and record.sha256 == body["sha256"]


async def test_a_pdf_renamed_exe_is_a_pdf(api: Api) -> None:
    response = await upload(api, pdf(), name="motivatie.exe")
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == "application/pdf"


async def test_the_same_bytes_twice_are_one_document(api: Api) -> None:
    content = pdf("twice")
    first = await upload(api, content)
    second = await upload(api, content, name="other-name.pdf")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["created"] is False
    count = await api.pool.fetchval(
        "SELECT count(*) FROM documents WHERE sha256 = $1", hashlib.sha256(content).hexdigest()
    )
    assert count == 1


async def test_refusals_name_the_field_and_the_type_found(api: Api) -> None:
    cases = [
        (b"MZ\x90\x00" + os.urandom(200), "motivatie.pdf", 415, "Windows executable"),
        (b"\x7fELF" + os.urandom(200), "motivatie.pdf", 415, "Linux executable"),
        (b"Geachte commissie, ...", "motivatie.pdf", 415, "plain text"),
        (odt("application/vnd.oasis.opendocument.spreadsheet"), "x.odt", 415, "spreadsheet"),
        (b"PK\x03\x04broken", "x.docx", 415, "damaged ZIP"),
        (b"", "motivatie.pdf", 422, "empty"),
    ]
    for content, name, status, words in cases:
        response = await upload(api, content, name=name)
        assert response.status_code == status, (words, response.text)
        body = problem(response)
        assert body["field"] == "file", body
        assert words in body["detail"], body
    before = await api.pool.fetchval("SELECT count(*) FROM documents")
    big = b"%PDF-1.7\n" + b"0" * (11 * 1024 * 1024)
    response = await upload(api, big)
    assert response.status_code == 413, response.text
    assert problem(response)["field"] == "file"
    just_over = b"%PDF-1.7\n" + b"0" * (MAX_DOCUMENT_BYTES - 8)
    response = await upload(api, just_over)
    assert response.status_code == 413, response.text
    assert problem(response)["field"] == "file"
    missing = await api.http.post(
        "/documents",
        files={"other": ("a.pdf", pdf(), "application/pdf")},
        headers=api.auth("provider"),
    )
    assert missing.status_code == 422 and problem(missing)["field"] == "file", missing.text
    assert await api.pool.fetchval("SELECT count(*) FROM documents") == before


async def test_exactly_10_mb_is_accepted(api: Api) -> None:
    content = b"%PDF-1.7\n" + os.urandom(MAX_DOCUMENT_BYTES - 9)
    assert len(content) == MAX_DOCUMENT_BYTES
    response = await upload(api, content)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == MAX_DOCUMENT_BYTES


async def test_who_uploads(api: Api) -> None:
    for persona, status in (
        ("bec", 201),
        ("department", 201),
        ("voc_reviewer", 403),
        ("no_role", 403),
    ):
        response = await upload(api, pdf(persona), persona=persona)
        assert response.status_code == status, (persona, response.text)
    assert (await api.http.post("/documents", files={"file": ("a.pdf", pdf())})).status_code == 401


async def test_who_reads(api: Api) -> None:
    content = pdf("read")
    doc = (await upload(api, content)).json()["id"]
    for persona, status in (
        ("provider", 200),
        ("bec", 200),
        ("department", 200),
        ("other_provider", 404),  # another organisation's document does not exist for it
        ("voc_reviewer", 403),
        ("no_role", 403),
    ):
        response = await api.http.get(f"/documents/{doc}", headers=api.auth(persona))
        assert response.status_code == status, (persona, response.text)
        if status == 200:
            assert response.content == content
            assert response.headers["content-type"] == "application/pdf"
            assert response.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    unknown = await api.http.get(
        "/documents/00000000-0000-4000-8000-000000000000", headers=api.auth("bec")
    )
    assert unknown.status_code == 404
    malformed = await api.http.get("/documents/not-a-uuid", headers=api.auth("bec"))
    assert malformed.status_code == 422 and problem(malformed)["field"] == "document_id"


async def test_a_document_the_bec_uploaded_is_read_by_the_provider_of_its_dossier(
    api: Api,
) -> None:
    """An appeal received by e-mail: the BEC uploads; once attached to the dossier, its
    provider reads it, another provider still does not."""
    dossier = await api.case_in("under_review")
    doc = (await upload(api, pdf("email"), persona="bec")).json()["id"]
    other = await api.http.get(f"/documents/{doc}", headers=api.auth("provider"))
    assert other.status_code == 404
    async with api.pool.acquire() as conn:
        await documents.attach(conn, doc, dossier, BEC)
    own = await api.http.get(f"/documents/{doc}", headers=api.auth("provider"))
    assert own.status_code == 200
    foreign = await api.http.get(f"/documents/{doc}", headers=api.auth("other_provider"))
    assert foreign.status_code == 404

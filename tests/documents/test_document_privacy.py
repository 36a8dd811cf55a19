"""A document belongs to the organisation that uploaded it: another organisation uploading
the same bytes gets a document of its own, never learns that the first exists, and cannot
read or attach it by naming its id (through the portal or through the BEC)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.documents.test_documents import pdf, upload
from tests.fixtures.api import ORG, OTHER_ORG, Api

NEVER_GIVEN = "00000000-0000-4000-8000-000000000000"


async def test_the_same_bytes_from_another_organisation_are_its_own_document(api: Api) -> None:
    content = pdf("shared")
    mine = await upload(api, content, name="beroep-vooruit.pdf")
    assert mine.status_code == 201, mine.text
    a = mine.json()
    theirs = await upload(api, content, name="b.pdf", persona="other_provider")
    assert theirs.status_code == 201, theirs.text  # new for B: nothing says A holds it
    b = theirs.json()
    assert b["id"] != a["id"]
    assert (b["organisation"], b["name"], b["uploaded_by"]) == (
        OTHER_ORG,
        "b.pdf",
        "user-other_provider",
    )
    assert ORG not in theirs.text and "beroep-vooruit" not in theirs.text
    # B reads its own, and A's id answers exactly like an id never given.
    assert (
        await api.http.get(f"/documents/{b['id']}", headers=api.auth("other_provider"))
    ).content == content
    foreign = await api.http.get(f"/documents/{a['id']}", headers=api.auth("other_provider"))
    missing = await api.http.get(f"/documents/{NEVER_GIVEN}", headers=api.auth("other_provider"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(a["id"], "?") == missing.json()["detail"].replace(
        NEVER_GIVEN, "?"
    )
    # A's record is as it was; B's second upload of the bytes is B's first document again.
    again = await upload(api, content, persona="other_provider")
    assert (again.status_code, again.json()["id"]) == (200, b["id"])
    row = await api.pool.fetchrow(
        "SELECT name, owner, uploaded_by FROM documents WHERE id = $1::uuid", a["id"]
    )
    assert row is not None and tuple(row) == ("beroep-vooruit.pdf", ORG, "user-provider")


async def test_another_organisations_document_cannot_be_attached_to_an_appeal(api: Api) -> None:
    content = pdf("theirs")
    a_doc = (await upload(api, content, name="geheim.pdf")).json()["id"]
    dossier = await api.case_in("refused", owner="other_provider")
    for document_id in (a_doc, NEVER_GIVEN):
        refused = await api.act(
            dossier,
            "appeal",
            "other_provider",
            {"motivation": "Wij gaan in beroep.", "document_id": document_id},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "document_id"
        assert "geheim" not in refused.text and ORG not in refused.text
    case = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("other_provider"))
    assert case.json()["state"] == "refused" and case.json()["appeals"] == []
    attached = await api.pool.fetchval(
        "SELECT count(*) FROM document_dossiers WHERE dossier = $1", dossier
    )
    assert attached == 0
    read = await api.http.get(f"/documents/{a_doc}", headers=api.auth("other_provider"))
    assert read.status_code == 404


async def test_the_bec_attaches_only_what_the_bec_uploaded(api: Api) -> None:
    provider_doc = (await upload(api, pdf("provider's"))).json()["id"]
    dossier = await api.case_in("refused")
    body = {
        "received_at": datetime.now(UTC).isoformat(),
        "motivation": f"Beroep tegen de weigering van {dossier}, per e-mail.",
        "document_id": provider_doc,
    }
    refused = await api.act(dossier, "appeal-by-email", "bec", body)
    assert refused.status_code == 422 and refused.json()["field"] == "document_id", refused.text
    bec_doc = (await upload(api, pdf("e-mailed"), persona="bec")).json()["id"]
    done = await api.act(dossier, "appeal-by-email", "bec", {**body, "document_id": bec_doc})
    assert done.status_code == 200, done.text


async def test_a_reviewer_sees_no_document_ids_and_a_provider_no_staff_ids(api: Api) -> None:
    content = pdf("motivatie")
    doc = (await upload(api, content)).json()["id"]
    dossier = await api.case_in("refused")
    appealed = await api.act(
        dossier, "appeal", "provider", {"motivation": "Breed inzetbaar.", "document_id": doc}
    )
    assert appealed.status_code == 200, appealed.text
    heard = await api.act(dossier, "hearing", "bec", {"side": "provider"})
    assert heard.status_code == 200, heard.text

    reviewer = (await api.http.get(f"/dossiers/{dossier}", headers=api.auth("voc_reviewer"))).json()
    assert reviewer["appeals"][0]["document_id"] is None
    assert doc not in str(reviewer)
    assert (
        await api.http.get(f"/documents/{doc}", headers=api.auth("voc_reviewer"))
    ).status_code == 403

    provider = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
    text = provider.text
    for staff in ("user-voc_reviewer", "user-bec"):
        assert staff not in text, staff
    assert "user-voc_reviewer" not in appealed.text  # a decision's answer to the provider too
    case = provider.json()
    assert case["decisions"][0]["decided_by"] == "reviewer VOC"
    assert case["appeals"][0]["hearings"][0]["recorded_by"] == "BEC"
    assert {h["by"] for h in case["history"]} <= {"provider", "reviewer VOC", "BEC", "system"}
    department = (await api.http.get(f"/dossiers/{dossier}", headers=api.auth("department"))).json()
    assert department["decisions"][0]["decided_by"] == "user-voc_reviewer"
    assert department["appeals"][0]["document_id"] == doc

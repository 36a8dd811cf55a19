"""An appeal e-mailed to the BEC, registered with its motivation document through the real
API: the provider reads the document, the acknowledgment quotes its name and hash, and an
unknown document is refused by name with nothing written."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from devstack.smtp_sink import SmtpSink
from tests.documents.test_documents import pdf, upload
from tests.fixtures.api import Api


async def test_an_emailed_appeal_with_its_document(api: Api, smtp_sink: SmtpSink) -> None:
    dossier = await api.case_in("refused")
    content = pdf("per e-mail")
    uploaded = await upload(api, content, name="beroepschrift.pdf", persona="bec")
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    received_at = datetime.now(UTC).isoformat()
    body: dict[str, Any] = {
        "received_at": received_at,
        "motivation": f"Beroep tegen de weigering van {dossier}, per e-mail.",
    }

    unknown = await api.act(
        dossier,
        "appeal-by-email",
        "bec",
        {**body, "document_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["field"] == "document_id"
    assert (await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))).json()[
        "state"
    ] == "refused"  # nothing written

    done = await api.act(dossier, "appeal-by-email", "bec", {**body, "document_id": document["id"]})
    assert done.status_code == 200, done.text
    appeal = done.json()["appeals"][-1]
    assert appeal["route"] == "email" and appeal["document_id"] == document["id"]

    # The provider of the dossier may now read the document the BEC uploaded.
    read = await api.http.get(f"/documents/{document['id']}", headers=api.auth("provider"))
    assert read.status_code == 200 and read.content == content
    [ack] = await smtp_sink.wait_for(
        lambda m: f"{dossier}.appeal_received" in (m["Message-ID"] or "")
    )
    payload = ack.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "beroepschrift.pdf" in text and hashlib.sha256(content).hexdigest() in text

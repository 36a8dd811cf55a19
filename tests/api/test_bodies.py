"""Bad bodies get a 4xx problem that names the field the portal sent, and nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.api import Api, application_body


async def _submit_raw(api: Api, content: bytes, **headers: str) -> Any:
    return await api.http.post(
        "/applications",
        content=content,
        headers={
            **api.auth("provider"),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
            **headers,
        },
    )


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"volume": "veertig"}, "volume", "decimal"),
        ({"volume": "12"}, "volume", "VOV minimum"),
        ({"start_date": "12/05/2027"}, "start_date", "date"),
        ({"start_date": "2027-02-30"}, "start_date", "date"),
        ({"volume_unit": "hours"}, "volume_unit", "contact_hours"),
        ({"contact_email": "geen-adres"}, "contact_email", "e-mail"),
        ({"provider": "0123.456.748"}, "provider", "mod-97"),
        ({"joint_committee": "PC abc"}, "joint_committee", "PC 200"),
        ({"occupation_codes": ["ok", 7]}, "occupation_codes[1]", "string"),
        ({"favourite_colour": "blauw"}, "favourite_colour", "unknown field"),
        ({"title": None}, "title", "string"),
    ],
)
async def test_bad_application_names_the_field(
    api: Api, changes: dict[str, Any], field: str, words: str
) -> None:
    body = application_body(**changes)
    response = await api.http.post(
        "/applications",
        json=body,
        headers={**api.auth("provider"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:odb:problem:invalid-input"
    assert problem["field"] == field
    assert words in problem["detail"]
    written = await api.pool.fetchval(
        "SELECT count(*) FROM applications WHERE title = $1", body.get("title") or ""
    )
    assert written == 0


async def test_missing_field_is_named(api: Api) -> None:
    body = application_body()
    del body["start_date"]
    response = await api.http.post(
        "/applications",
        json=body,
        headers={**api.auth("provider"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "start_date"
    assert "required" in response.json()["detail"]


async def test_malformed_json_says_where(api: Api) -> None:
    response = await _submit_raw(api, b'{"title": "Lassen", ')
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:odb:problem:malformed-json"
    assert "malformed JSON at" in response.json()["detail"]


async def test_missing_idempotency_key_is_named(api: Api) -> None:
    response = await api.http.post(
        "/applications", json=application_body(), headers=api.auth("provider")
    )
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


async def test_oversized_body_is_413(api: Api) -> None:
    limit = api.settings.api.max_body_bytes
    body = application_body(description="x" * (limit + 10))
    response = await api.http.post(
        "/applications",
        json=body,
        headers={**api.auth("provider"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:odb:problem:body-too-large"
    assert str(limit) in response.json()["detail"]


async def test_oversized_chunked_body_is_413(api: Api) -> None:
    limit = api.settings.api.max_body_bytes

    async def chunks() -> Any:
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    response = await api.http.post(
        "/applications",
        content=chunks(),
        headers={
            **api.auth("provider"),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 413, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("review-decision", {"approve": "misschien"}, "approve"),
        ("review-decision", {"approve": True, "actor": {"subject": "x"}}, "actor"),
        ("hearing", {"side": "provider", "held_on": "gisteren"}, "held_on"),
        ("hearing", {"side": "jury"}, "side"),
        ("receipt-date", {"deadline": "appeal_window", "reason": "x"}, "received_on"),
    ],
)
async def test_bad_decision_body_names_the_field(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    dossier = await api.case_in("under_review")
    persona = {"review-decision": "voc_reviewer", "hearing": "bec"}.get(path, "department")
    response = await api.act(dossier, path, persona, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_bad_dossier_number_and_date_are_named(api: Api) -> None:
    bad_dossier = await api.http.get("/dossiers/12345", headers=api.auth("department"))
    assert bad_dossier.status_code == 422
    assert bad_dossier.json()["field"] == "dossier"
    bad_day = await api.http.get(
        "/open-data/registered.csv?on=31-12-2027", headers=api.auth("department")
    )
    assert bad_day.status_code == 422
    assert bad_day.json()["field"] == "on"


async def test_openapi_documents_the_bodies(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    assert "/applications" in spec["paths"]
    review = spec["components"]["schemas"]["ReviewDecisionRequest"]
    assert set(review["properties"]) == {"approve", "reason"}
    assert "TrainingApplication" in spec["components"]["schemas"]


async def test_unknown_provider_is_404_naming_the_field(api: Api) -> None:
    response = await api.http.post(
        "/applications",
        json=application_body(provider="0203.201.241", provider_name="Onbekend bv"),
        headers={
            **api.auth("provider", org="0203.201.241"),
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 404, response.text
    assert response.json()["field"] == "provider"
    assert "opleidingsdatabank@vlaanderen.be" in response.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "Lassen\u0000 voor gevorderden"}, "title"),
        ({"description": "regel 1\u0000regel 2"}, "description"),
        ({"provider_name": "Vooruit\u0000 vzw"}, "provider_name"),
        ({"occupation_codes": ["K1401", "\u0000"]}, "occupation_codes[1]"),
        ({"certification": "\u0000"}, "certification"),
        ({"contact_email": "dossiers\u0000@vooruit.example.be"}, "contact_email"),
    ],
)
async def test_nul_in_application_text_is_422_naming_the_field(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    """PostgreSQL cannot store NUL: refused up front with the field named, never a 500."""
    response = await api.submit(**changes)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert field != "contact_email" or "e-mail" in response.json()["detail"]
    assert field == "contact_email" or "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "persona", "body", "field"),
    [
        ("review-decision", "voc_reviewer",
         {"approve": False, "reason": "te\u0000 smal, weigering"}, "reason"),
        ("appeal", "provider", {"motivation": "Beroep tegen\u0000 de weigering."}, "motivation"),
        ("appeal", "provider",
         {"motivation": "Beroep tegen de weigering.", "document_reference": "\u0000"},
         "document_reference"),
        ("hearing", "bec", {"side": "provider", "note": "gehoord\u0000"}, "note"),
        ("withdraw", "provider", {"reason": "\u0000"}, "reason"),
        ("revoke", "department", {"reason": "voldoet niet\u0000 meer"}, "reason"),
    ],
)  # fmt: skip
async def test_nul_in_decision_text_is_422_naming_the_field(
    api: Api, path: str, persona: str, body: dict[str, Any], field: str
) -> None:
    dossier = await api.case_in("under_review")
    response = await api.act(dossier, path, persona, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert "NUL" in response.json()["detail"]
    status = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("department"))
    assert status.json()["state"] == "under_review"


@pytest.mark.parametrize(
    ("path", "persona", "body", "field", "words"),
    [
        ("review-decision", "voc_reviewer",
         {"approve": False, "reason": "  kort  "}, "reason", "at least 10"),
        ("review-decision", "voc_reviewer", {"approve": 1}, "approve", "boolean"),
        ("revoke", "department", {"reason": "kort"}, "reason", "at least 10"),
        ("appeal-by-email", "bec",
         {"motivation": "kort", "received_at": "2026-01-05T09:00:00+01:00"},
         "motivation", "at least 10"),
        ("receipt-date", "department",
         {"deadline": "removal", "received_on": "2027-01-05", "reason": "datum bevestigd"},
         "deadline", "appeal_window"),
        ("hearing", "bec", {"side": "provider", "held_on": 1700000000}, "held_on", "YYYY-MM-DD"),
    ],
)  # fmt: skip
async def test_rules_of_the_schema_are_the_servers(
    api: Api, path: str, persona: str, body: dict[str, Any], field: str, words: str
) -> None:
    """What the OpenAPI document states (a refusal's reason, strict booleans and days, the
    deadlines that can be corrected) is what the server refuses, with the field named."""
    dossier = await api.case_in("under_review")
    response = await api.act(dossier, path, persona, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]


async def test_non_json_body_is_415(api: Api) -> None:
    response = await api.http.post(
        "/applications",
        content=b"title=Lassen",
        headers={
            **api.auth("provider"),
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]


async def test_wrong_method_is_405_with_allow(api: Api) -> None:
    response = await api.http.delete("/applications", headers=api.auth("provider"))
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert response.json()["type"] == "urn:odb:problem:method-not-allowed"


async def test_volume_forms(api: Api) -> None:
    """A volume is a whole number or a decimal string: a binary fraction is refused."""
    for volume, status in (("40.5", 201), (40, 201), (40.5, 422), ("40.555", 422)):
        response = await api.submit(volume=volume)
        assert response.status_code == status, (volume, response.text)

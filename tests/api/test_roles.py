"""Each decision takes effect for its role, and the role rules' finer points (which body,
which organisation, idempotency). Who gets which status on every route is the authorization
matrix (test_authorization_matrix.py); the case workflow re-checks roles in its validators."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from tests.fixtures.api import OTHER_ORG, Api, application_body, brussels_today

DECISIONS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    # path: (allowed persona, state the case needs, body, state after)
    "review-decision": ("voc_reviewer", "under_review", {"approve": True}, "registered"),
    "appeal": ("provider", "refused", {"motivation": "Wij gaan in beroep."}, "in_appeal"),
    "hearing": ("bec", "in_appeal", {"side": "provider"}, "in_appeal"),
    "bec-decision": (
        "bec",
        "heard",
        {"granted": True, "reason": "het beroep is gegrond"},
        "registered",
    ),
    "stop": ("provider", "registered", {"reason": "niet meer aangeboden"}, "ended"),
    "revoke": ("department", "registered", {"reason": "voldoet niet meer"}, "ended"),
    "withdraw": ("provider", "under_review", {"reason": "vergissing"}, "ended"),
    "receipt-date": (
        "department",
        "refused",
        {
            "deadline": "appeal_window",
            "received_on": brussels_today().isoformat(),
            "reason": "datum van ontvangst bevestigd door de opleider",
        },
        "refused",
    ),
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def waiting(api: Api) -> str:
    """A case under review at the VOC, the target of every refused request."""
    return await api.case_in("under_review")


@pytest.mark.parametrize("path", list(DECISIONS))
async def test_decision_allowed_for_its_role(api: Api, path: str) -> None:
    persona, state, body, after = DECISIONS[path]
    dossier = await api.case_in(state)
    response = await api.act(dossier, path, persona, body)
    assert response.status_code == 200, response.text
    assert response.json()["dossier"] == dossier
    assert response.json()["state"] == after


async def test_reviewer_of_another_body_is_told_which_body_decides(api: Api, waiting: str) -> None:
    response = await api.act(waiting, "review-decision", "pc200_reviewer", {"approve": True})
    assert response.status_code == 403
    assert "VOC" in response.json()["detail"]


async def test_pc_case_is_decided_by_its_joint_committee(api: Api) -> None:
    dossier = await api.case_in("under_review", joint_committee="PC 200")
    refused = await api.act(dossier, "review-decision", "voc_reviewer", {"approve": True})
    assert refused.status_code == 403
    done = await api.act(dossier, "review-decision", "pc200_reviewer", {"approve": True})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "registered"


async def test_submit_without_provider_role_gets_the_local_administrator_guidance(
    api: Api,
) -> None:
    response = await api.submit("no_role")
    problem = response.json()
    assert problem["type"] == "urn:odb:problem:missing-provider-role"
    assert "lokale beheerder" in problem["detail"]
    assert "DWSE organisatieverantwoordelijke, context opleidingsdatabank" in problem["detail"]


async def test_provider_cannot_submit_for_another_organisation(api: Api) -> None:
    response = await api.submit("other_provider")
    assert response.status_code == 403
    assert response.json()["field"] == "provider"


@pytest.mark.parametrize(
    ("persona", "query", "expected"),
    [
        ("provider", "", 200),
        ("provider", f"?provider={OTHER_ORG}", 403),
        ("other_provider", "", 200),
        ("no_role", "", 403),
        ("voc_reviewer", "", 403),
        ("pc200_reviewer", "", 403),
        ("bec", "", 403),
        ("department", "?provider=0123.456.749", 200),
        ("department", "", 403),
    ],
)
async def test_list_dossiers_by_role(
    api: Api, waiting: str, persona: str, query: str, expected: int
) -> None:
    response = await api.http.get(f"/dossiers{query}", headers=api.auth(persona))
    assert response.status_code == expected, response.text
    if expected == 200:
        listed = {d["dossier"] for d in response.json()["items"]}
        assert (waiting in listed) == (persona != "other_provider")


async def test_same_idempotency_key_gives_one_dossier(api: Api) -> None:
    body = application_body()
    headers = {**api.auth("provider"), "Idempotency-Key": "portal-retry-0001"}
    first = await api.http.post("/applications", json=body, headers=headers)
    again = await api.http.post("/applications", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "created": False}
    other = await api.http.post(
        "/applications", json={**body, "title": "Iets anders"}, headers=headers
    )
    assert other.status_code == 409
    assert "Idempotency" in other.text or "idempotency" in other.text


async def test_a_retried_decision_has_one_effect(api: Api) -> None:
    dossier = await api.case_in("under_review")
    headers = {**api.auth("voc_reviewer"), "Idempotency-Key": "decision-retry-01"}
    url = f"/dossiers/{dossier}/review-decision"
    first = await api.http.post(url, json={"approve": True}, headers=headers)
    again = await api.http.post(url, json={"approve": True}, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert len(again.json()["decisions"]) == 1


async def test_workflow_refusal_passes_through_as_409(api: Api) -> None:
    dossier = await api.case_in("under_review")
    response = await api.act(
        dossier, "appeal", "provider", {"motivation": "te vroeg: nog niet geweigerd"}
    )
    assert response.status_code == 409, response.text
    assert response.json()["type"] == "urn:odb:problem:invalid-state"
    assert response.json()["detail"]


async def test_refusal_without_reason_is_invalid_input(api: Api) -> None:
    dossier = await api.case_in("under_review")
    response = await api.act(dossier, "review-decision", "voc_reviewer", {"approve": False})
    assert response.status_code == 422, response.text
    assert "reason" in response.json()["detail"]


async def test_unknown_dossier_is_404(api: Api) -> None:
    response = await api.http.get("/dossiers/ODB-1999-999999", headers=api.auth("department"))
    assert response.status_code == 404
    assert response.json()["type"] == "urn:odb:problem:not-found"

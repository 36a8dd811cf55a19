"""What a provider can learn of another organisation's dossiers: nothing. Each answer is the
one a dossier number never given gets, word for word; staff keep their answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest_asyncio

from starter.auth import mint_dev_token
from tests.api.operations import DECISION_CASES
from tests.fixtures.api import ORG, OTHER_ORG, Api, brussels_today

NEVER_GIVEN = "ODB-2020-999999"


def _same(one: dict[str, Any], other: dict[str, Any], one_id: str, other_id: str) -> bool:
    """Equal once each answer's own dossier number is taken out."""
    return str(one).replace(one_id, "?") == str(other).replace(other_id, "?")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def theirs(api: Api) -> str:
    """A registered dossier of the first organisation (A), probed by the other (B)."""
    return await api.case_in("registered")


async def test_another_organisations_dossier_answers_like_a_missing_one(
    api: Api, theirs: str
) -> None:
    no_roles = mint_dev_token(api.settings, "nobody", org=OTHER_ORG, roles=())
    for persona, headers in (
        ("other_provider", api.auth("other_provider")),
        ("no roles elsewhere", {"Authorization": f"Bearer {no_roles}"}),
    ):
        # Bodies the decision's own role would succeed with: the refusal is the dossier's.
        now = {
            "received_at": datetime.now(UTC).isoformat(),
            "received_on": brussels_today().isoformat(),
        }
        requests = [("GET", "", None)] + [
            ("POST", f"/{route}", {k: v or now[k] for k, v in body.items()})
            for route, (_, body) in DECISION_CASES.items()
        ]
        for method, suffix, body in requests:
            probe = await api.http.request(
                method, f"/dossiers/{theirs}{suffix}", json=body, headers=headers
            )
            missing = await api.http.request(
                method, f"/dossiers/{NEVER_GIVEN}{suffix}", json=body, headers=headers
            )
            assert probe.status_code == missing.status_code, (persona, suffix, probe.text)
            assert probe.status_code == 404, (persona, suffix, probe.text)
            assert _same(probe.json(), missing.json(), theirs, NEVER_GIVEN), (
                persona,
                suffix,
                probe.text,
                missing.text,
            )
            assert "VOC" not in probe.text and ORG not in probe.text


async def test_the_public_register_answers_only_for_registered_trainings(
    api: Api, theirs: str
) -> None:
    under_review = await api.case_in("under_review")
    today = brussels_today().isoformat()
    answers = {}
    for dossier in (theirs, under_review, NEVER_GIVEN):
        response = await api.http.get(
            f"/dossiers/{dossier}/registered",
            params={"on": today},
            headers=api.auth("other_provider"),
        )
        assert response.status_code == 200, response.text
        answers[dossier] = response.json()["registered"]
    assert answers == {theirs: True, under_review: False, NEVER_GIVEN: False}


async def test_a_resubmission_cannot_probe_another_organisations_dossier(
    api: Api, theirs: str
) -> None:
    answers = []
    for predecessor in (theirs, NEVER_GIVEN):
        response = await api.submit(
            "other_provider", provider=OTHER_ORG, predecessor_dossier=predecessor
        )
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "predecessor_dossier"
        answers.append(response.json()["detail"].replace(predecessor, "?"))
    assert answers[0] == answers[1]


async def test_a_reviewer_never_decides_a_dossier_of_its_own_organisation(api: Api) -> None:
    dossier = await api.case_in("under_review")
    token = mint_dev_token(api.settings, "dual", org=ORG, roles=("provider", "reviewer:VOC"))
    both = {"Authorization": f"Bearer {token}"}
    response = await api.http.post(
        f"/dossiers/{dossier}/review-decision", json={"approve": True}, headers=both
    )
    assert response.status_code == 409, response.text
    assert "conflict of interest" in response.json()["detail"]
    case = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("department"))
    assert case.json()["state"] == "under_review"
    # Staff keep their answers: a reviewer of another body is told which body decides.
    other_body = await api.act(dossier, "review-decision", "pc200_reviewer", {"approve": True})
    assert other_body.status_code == 403 and "VOC" in other_body.json()["detail"]

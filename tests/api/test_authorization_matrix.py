"""The authorization matrix: every operation of the app, for every persona, one expected status
per cell, run against the real app on the real dev server (the worklists read visibility).

A route the app serves without a row here fails the test, so a new route cannot forget its
rules. Each 2xx a provider gets is searched for anything of another organisation: its
enterprise number, its dossiers, its documents, and the ids of staff members.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from runtime.settings import Settings
from starter.auth import mint_dev_token
from tests.api.operations import DECISION_CASES, PROVIDER_FACTS, sample
from tests.documents.test_documents import pdf
from tests.fixtures.api import ORG, OTHER_ORG, Api, brussels_today, serving

# P own provider (the target dossier's organisation), O another organisation's provider,
# R reviewer of the dossier's body (VOC), Q reviewer of another body (PC 200), B the BEC,
# D the department, N a token without roles, T no token, E expired, A wrong audience,
# C algorithm confusion (an HMAC signature under an RS256 header).
PERSONAS = ["P", "O", "R", "Q", "B", "D", "N", "T", "E", "A", "C"]
MATRIX_ORG = "0417497106"  # the provider the register rows change (not P's or O's)
MATRIX = """
POST /applications                                201 403 403 403 403 403 403 401 401 401 401
GET  /dossiers/{dossier}                          200 404 200 403 200 200 404 401 401 401 401
GET  /dossiers                                    200 200 403 403 403 403 403 401 401 401 401
GET  /dossiers/{dossier}/registered               200 200 200 200 200 200 200 401 401 401 401
GET  /open-data/registered.csv                    200 200 200 200 200 200 200 401 401 401 401
GET  /open-data/figures.csv                       200 200 200 200 200 200 200 401 401 401 401
GET  /reports/{year}                              403 403 403 403 403 200 403 401 401 401 401
GET  /health                                      200 200 200 200 200 200 200 200 200 200 200
POST /dossiers/{dossier}/review-decision          403 404 200 403 403 403 404 401 401 401 401
POST /dossiers/{dossier}/appeal                   200 404 403 403 403 403 404 401 401 401 401
POST /dossiers/{dossier}/appeal-by-email          403 404 403 403 200 403 404 401 401 401 401
POST /dossiers/{dossier}/hearing                  403 404 403 403 200 403 404 401 401 401 401
POST /dossiers/{dossier}/bec-decision             403 404 403 403 200 403 404 401 401 401 401
POST /dossiers/{dossier}/stop                     200 404 403 403 403 403 404 401 401 401 401
POST /dossiers/{dossier}/revoke                   403 404 403 403 403 200 404 401 401 401 401
POST /dossiers/{dossier}/withdraw                 200 404 403 403 403 403 404 401 401 401 401
POST /dossiers/{dossier}/receipt-date             403 404 403 403 403 200 404 401 401 401 401
GET  /worklist                                    200 200 200 200 200 200 403 401 401 401 401
POST /documents                                   201 201 403 403 201 201 403 401 401 401 401
GET  /documents/{document_id}                     200 404 403 403 200 200 403 401 401 401 401
GET  /events                                      200 200 200 200 200 200 403 401 401 401 401
PUT  /providers/{enterprise_number}               403 403 403 403 403 200 403 401 401 401 401
POST /providers/{enterprise_number}/deactivate    403 403 403 403 403 200 403 401 401 401 401
POST /providers/{enterprise_number}/reactivate    403 403 403 403 403 200 403 401 401 401 401
GET  /providers/{enterprise_number}               200 404 403 403 403 200 403 401 401 401 401
GET  /providers                                   403 403 403 403 403 200 403 401 401 401 401
GET  /providers/{enterprise_number}/export        403 403 403 403 403 200 403 401 401 401 401
"""
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    (method, path): dict(zip(PERSONAS, map(int, statuses), strict=True))
    for method, path, *statuses in (line.split() for line in MATRIX.strip().splitlines())
}
# The public register answers anyone signed in about any training: not another's secret.
PUBLIC = {("GET", "/dossiers/{dossier}/registered"), ("GET", "/open-data/registered.csv")}
# People's ids: staff (as the matrix and the fixtures' personas sign), and each provider's.
STAFF_IDS = {"user-R", "user-Q", "user-B", "user-D"} | {
    f"user-{p}" for p in ("voc_reviewer", "pc200_reviewer", "bec", "department")
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def headers_for(settings: Settings, persona: str) -> dict[str, str]:
    roles = {
        "P": (ORG, ("provider",)),
        "O": (OTHER_ORG, ("provider",)),
        "R": (None, ("reviewer:VOC",)),
        "Q": (None, ("reviewer:PC 200",)),
        "B": (None, ("bec",)),
        "D": (None, ("department",)),
        "N": (None, ()),
        "E": (ORG, ("provider",)),
        "A": (ORG, ("provider",)),
    }
    if persona == "T":
        return {}
    if persona == "C":
        claims = {
            "iss": settings.auth.issuer,
            "aud": settings.auth.audience,
            "sub": "x",
            "exp": int(time.time()) + 600,
            "roles": ["department"],
        }
        signing = f"{_b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}." + _b64(
            json.dumps(claims).encode()
        )
        secret = (settings.auth.dev_secret or "").encode()
        sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
        return {"Authorization": f"Bearer {signing}.{_b64(sig)}"}
    org, role_texts = roles[persona]
    extra: dict[str, Any] = {"aud": "another-service"} if persona == "A" else {}
    token = mint_dev_token(
        settings,
        f"user-{persona}",
        org=org,
        roles=role_texts,
        ttl_seconds=-600 if persona == "E" else 600,
        extra=extra,
    )
    return {"Authorization": f"Bearer {token}"}


# Nobody decides on their own organisation's dossier. K: a token of P's organisation holding
# only the row's role; X: one of P's organisation holding every role (provider and all staff
# roles). Columns: K on P's dossier, K on O's, X on P's, X on O's. A deciding role on its own
# organisation's dossier is a conflict of interest (409, with the sentence); the same token
# acts on another organisation's dossier, and as provider on its own.
CONFLICTS = """
review-decision   reviewer:VOC  409 200 409 200
appeal-by-email   bec           409 200 409 200
hearing           bec           409 200 409 200
bec-decision      bec           409 200 409 200
revoke            department    409 200 409 200
receipt-date      department    409 200 409 200
appeal            provider      200 404 200 403
stop              provider      200 404 200 403
withdraw          provider      200 404 200 403
"""
EVERY_ROLE = ("provider", "reviewer:VOC", "bec", "department")
CONFLICT_CELLS: dict[str, tuple[str, dict[tuple[str, str], int]]] = {
    route: (
        role,
        dict(zip([("K", "P"), ("K", "O"), ("X", "P"), ("X", "O")], map(int, cells), strict=True)),
    )
    for route, role, *cells in (line.split() for line in CONFLICTS.strip().splitlines())
}


@dataclass
class World:
    """What the requests point at, and what each provider must never see of the other."""

    api: Api
    shared: dict[str, str] = field(default_factory=dict)  # state -> a dossier of P in it
    foreign: dict[str, set[str]] = field(default_factory=dict)  # persona -> markers
    document: str = ""

    async def dossier_in(self, state: str, fresh: bool) -> str:
        if fresh:
            dossier = await self.api.case_in(state)
        else:
            if state not in self.shared:
                self.shared[state] = await self.api.case_in(state)
            dossier = self.shared[state]
        self.foreign["O"].add(dossier)
        return dossier


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool[Any], test_settings: Settings
) -> AsyncIterator[World]:
    async with serving(dev_env, pg_pool, test_settings, "matrix") as api:
        theirs = await api.case_in("registered", owner="other_provider")
        their_doc = await api.http.post(
            "/documents", files={"file": ("b.pdf", pdf("O"))}, headers=api.auth("other_provider")
        )
        my_doc = await api.http.post(
            "/documents", files={"file": ("a.pdf", pdf("P"))}, headers=api.auth("provider")
        )
        await api.http.put(
            f"/providers/{MATRIX_ORG}",
            json=PROVIDER_FACTS,
            headers=api.auth("department"),
        )
        world = World(api, document=my_doc.json()["id"])
        world.foreign = {
            persona: markers | STAFF_IDS
            for persona, markers in {
                "P": {OTHER_ORG, theirs, their_doc.json()["id"], "user-O", "user-other_provider"},
                "O": {ORG, world.document, "user-P", "user-provider"},
            }.items()
        }
        yield world


async def _request(
    world: World, method: str, path: str, persona: str
) -> tuple[str, dict[str, Any]]:
    """The URL and a request that would succeed for the persona the row allows."""
    kwargs = sample(method, path, persona)
    if method == "POST" and path.startswith("/dossiers/{dossier}/"):
        state, _ = DECISION_CASES[path.rsplit("/", 1)[1]]
        fresh = 200 <= EXPECTED[(method, path)][persona] < 300
        dossier = await world.dossier_in(state, fresh=fresh)
        # Built after the dossier's own decisions: its moments come later.
        return path.format(dossier=dossier), sample(method, path, persona)
    url = path
    if "{dossier}" in path:
        url = path.format(dossier=await world.dossier_in("registered", fresh=False))
    if "{document_id}" in path:
        url = path.format(document_id=world.document)
    if "{year}" in path:
        url = path.format(year=brussels_today().year)
    if "{enterprise_number}" in path:
        # The export reads every dossier: of the register-only organisation, kept small.
        own = ORG if method == "GET" and not path.endswith("/export") else MATRIX_ORG
        url = path.format(enterprise_number=own)
    return url, kwargs


def test_every_route_has_a_row(world: World) -> None:
    app = world.api.app
    assert app is not None
    served = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    missing = sorted(served - set(EXPECTED))
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert not sorted(set(EXPECTED) - served), "rows for routes the app no longer serves"


@pytest.mark.parametrize(("method", "path"), list(EXPECTED))
async def test_each_persona_gets_its_cell(world: World, method: str, path: str) -> None:
    api = world.api
    wrong: list[str] = []
    for persona in PERSONAS:
        expected = EXPECTED[(method, path)][persona]
        url, kwargs = await _request(world, method, path, persona)
        headers = {**headers_for(api.settings, persona), **kwargs.pop("headers", {})}
        answer = await api.http.request(method, url, headers=headers, **kwargs)
        if answer.status_code != expected:
            wrong.append(
                f"{persona}: {answer.status_code} (expected {expected}) {answer.text[:200]}"
            )
            continue
        if 200 <= expected < 300 and persona in world.foreign and (method, path) not in PUBLIC:
            leaked = sorted(m for m in world.foreign.get(persona, set()) if m in answer.text)
            if leaked:
                wrong.append(f"{persona}: the answer carries {leaked}")
    assert not wrong, f"{method} {path}:\n  " + "\n  ".join(wrong)


def test_every_decision_has_a_conflict_row() -> None:
    assert set(CONFLICT_CELLS) == set(DECISION_CASES)


@pytest.mark.parametrize("route", list(CONFLICT_CELLS))
async def test_nobody_decides_on_their_own_organisations_dossier(world: World, route: str) -> None:
    api = world.api
    role, cells = CONFLICT_CELLS[route]
    state, _ = DECISION_CASES[route]
    tokens = {"K": (role,), "X": EVERY_ROLE}
    wrong: list[str] = []
    for (token, owner), expected in cells.items():
        fresh = 200 <= expected < 300
        if owner == "P":
            dossier = await world.dossier_in(state, fresh=fresh)
        else:
            dossier = await api.case_in(state, owner="other_provider")
        jwt = mint_dev_token(api.settings, f"user-{token}", org=ORG, roles=tokens[token])
        before = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("department"))
        answer = await api.http.post(
            f"/dossiers/{dossier}/{route}",
            headers={"Authorization": f"Bearer {jwt}"},
            **sample("POST", f"/dossiers/{{dossier}}/{route}"),
        )
        cell = f"{token} on {owner}'s {dossier}"
        if answer.status_code != expected:
            wrong.append(f"{cell}: {answer.status_code} (expected {expected}) {answer.text[:200]}")
            continue
        if expected == 409:
            detail = answer.json()["detail"]
            sentence = f"conflict of interest: you also act for organisation {ORG}, the provider"
            after = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("department"))
            kind = answer.json()["type"]
            if not detail.startswith(f"{sentence} of {dossier}; ") or kind.split(":")[-1] != (
                "conflict"
            ):
                wrong.append(f"{cell}: {answer.text[:300]}")
            elif after.json()["as_of_step"] != before.json()["as_of_step"]:
                wrong.append(f"{cell}: refused, yet the dossier changed")
    assert not wrong, f"{route}:\n  " + "\n  ".join(wrong)

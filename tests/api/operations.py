"""A request that would succeed, for every operation of the API: what the route-table tests
(the authorization matrix, the registry outage) send. An operation without a sample here
fails those tests by name, so a new route cannot be left out of them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.documents.test_documents import pdf
from tests.fixtures.api import ORG, application_body, brussels_today

# Each decision: (the state its dossier needs, a body its own role's request succeeds with;
# "" stands for the moment of sending).
DECISION_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "review-decision": ("under_review", {"approve": True}),
    "appeal": ("refused", {"motivation": "Wij gaan in beroep."}),
    "appeal-by-email": ("refused", {"motivation": "Beroep per e-mail.", "received_at": ""}),
    "hearing": ("in_appeal", {"side": "provider"}),
    "bec-decision": ("heard", {"granted": True, "reason": "het beroep is gegrond"}),
    "stop": ("registered", {"reason": "niet meer aangeboden"}),
    "revoke": ("registered", {"reason": "voldoet niet meer"}),
    "withdraw": ("under_review", {"reason": "vergissing"}),
    "receipt-date": (
        "refused",
        {"deadline": "appeal_window", "received_on": "", "reason": "ontvangst bevestigd"},
    ),
}
PROVIDER_FACTS = {"name": "Matrix Opleider bv", "contact_email": "m@x.example.be"}


def decision_body(route: str) -> dict[str, Any]:
    _, body = DECISION_CASES[route]
    now = {
        "received_at": datetime.now(UTC).isoformat(),
        "received_on": brussels_today().isoformat(),
    }
    return {k: now[k] if v == "" else v for k, v in body.items()}


def sample(method: str, path: str, persona: str = "") -> dict[str, Any]:
    """The query, body or file of a request to `method path` (path parameters aside)."""
    if method == "POST" and path.startswith("/dossiers/{dossier}/"):
        return {"json": decision_body(path.rsplit("/", 1)[1])}
    operation = (method, path)
    if operation == ("POST", "/applications"):
        return {
            "json": {**application_body(), "provider": ORG},
            "headers": {"Idempotency-Key": f"sample-{persona}-{time.time_ns()}"},
        }
    if operation == ("POST", "/documents"):
        return {"files": {"file": ("m.pdf", pdf(persona))}}
    if operation == ("PUT", "/providers/{enterprise_number}"):
        return {"json": PROVIDER_FACTS}
    if operation == ("POST", "/providers/{enterprise_number}/deactivate"):
        return {"json": {"reason": "matrix"}}
    if path.endswith("/registered") or path.endswith(".csv"):
        return {"params": {"on": brussels_today().isoformat()}}
    if method == "GET" or operation == ("POST", "/providers/{enterprise_number}/reactivate"):
        return {}
    raise KeyError(f"{method} {path}: add a sample request to tests/api/operations.py")

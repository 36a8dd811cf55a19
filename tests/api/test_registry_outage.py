"""With PostgreSQL down, every operation of the OpenAPI document answers 503 with Retry-After
naming the registry, in our words only (no driver text), and the connection stays usable.
Operations come from the app's own document: a new route cannot forget the outage mapping."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from devstack.ports import free_port
from runtime.settings import Settings
from starter.api.app import create_app
from tests.api.operations import sample
from tests.api.test_authorization_matrix import EXPECTED, headers_for
from tests.fixtures.api import ORG, Api

# Only these answer without the registry: the process's own health.
NO_REGISTRY = {("GET", "/health")}
OUR_WORDS = re.compile(
    r"^the registry \(PostgreSQL\): cannot be reached( right now)?; retry in \d+ seconds "
    r"with the same Idempotency-Key: the request will have one effect$"
)


def _down(settings: Settings) -> Settings:
    dead = {
        **settings.postgres.model_dump(),
        "url": f"postgresql://odb@127.0.0.1:{free_port()}/odb",
    }
    return settings.model_copy(update={"postgres": settings.postgres.model_validate(dead)})


async def test_every_operation_answers_503_naming_the_registry(api: Api) -> None:
    app = create_app(_down(api.settings), client=api.env.client)
    spec = app.openapi()
    operations = [(m.upper(), p) for p, item in spec["paths"].items() for m in item]
    assert set(operations) == set(EXPECTED)  # the matrix knows every route, and so do we
    wrong: list[str] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://odb.test"
    ) as http:
        for method, path in operations:
            # As the persona the matrix allows: the request would succeed with the registry up.
            persona = next(p for p, status in EXPECTED[(method, path)].items() if status < 300)
            kwargs: dict[str, Any] = sample(method, path, persona)
            url = path.format(
                dossier="ODB-2027-000001",
                document_id=uuid.uuid4(),
                enterprise_number=ORG,
                year=2027,
            )
            headers = {**headers_for(api.settings, persona), **kwargs.pop("headers", {})}
            answer = await http.request(method, url, headers=headers, **kwargs)
            if (method, path) in NO_REGISTRY:
                if answer.status_code != 200:
                    wrong.append(f"{method} {path}: {answer.status_code}")
                continue
            detail = answer.json().get("detail", "") if answer.content else ""
            if (
                answer.status_code != 503
                or not answer.headers.get("retry-after", "").isdigit()
                or not OUR_WORDS.match(detail)
            ):
                wrong.append(f"{method} {path} as {persona}: {answer.status_code} {detail!r}")
    assert not wrong, "\n".join(wrong)

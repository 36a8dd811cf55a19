"""The OpenAPI document is exact: schemathesis generates requests from it (valid and invalid)
and sends them over HTTP to the real app (uvicorn on a free loopback port, real worker,
Temporal and PostgreSQL), once per persona. A schema-valid request is never refused with 422,
an invalid one never gets 2xx or 5xx, every answer's status, headers and body are documented,
and a 405 says what is allowed."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import from_schema
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished

from models.documents import DocumentType
from models.enterprise import ENTERPRISE_NUMBER_PATTERN
from models.text import WHITESPACE_CLASS
from starter.api.app import create_app
from tests.documents.test_documents import docx, odt, pdf
from tests.fixtures.api import Api, over_http

# Tokens of the personas the issue names: each sees the API as that user does.
FUZZ_PERSONAS = ("provider", "voc_reviewer", "pc200_reviewer", "bec", "department")
# Bounded: the whole run (every persona) stays well under a minute on a shared machine.
MAX_EXAMPLES = 8
MAX_SECONDS_PER_PERSONA = 8


def _enterprise_number(first8: int) -> str:
    return f"{first8:08d}{97 - first8 % 97:02d}"


# The schema's `format: be-enterprise-number` (its check digits are 97 - first eight mod 97)
# is not a format schemathesis knows: it is told how to make such numbers, and a number its
# pattern-driven phases draw gets its check digits set, as the format says.
schemathesis.openapi.format(
    "be-enterprise-number", st.integers(0, 19_999_999).map(_enterprise_number)
)


# A document part is generated as a real document of its declared type: what the server
# accepts is decided by the content (tests/documents/ tries every other content).
for _media_type, _make in (
    (DocumentType.PDF.value, lambda tag: pdf(tag)),
    (DocumentType.DOCX.value, lambda tag: docx()),
    (DocumentType.ODT.value, lambda tag: odt()),
):
    schemathesis.openapi.media_type(_media_type, st.text(max_size=8).map(_make))


def _with_check_digits(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(ENTERPRISE_NUMBER_PATTERN, value):
        return value
    digits = re.sub(r"[^0-9]", "", value[2:] if value[:2].upper() == "BE" else value)
    return _enterprise_number(int(digits.zfill(10)[:8]))


@schemathesis.hook
def map_case(ctx: schemathesis.HookContext, case: schemathesis.Case[Any]) -> Any:
    """What JSON Schema cannot say, the generator is told here, and docs/api.md lists
    (section "What a schema-valid request can still be refused for")."""
    for part, name in (
        (case.query, "provider"),
        (case.body, "provider"),
        (case.path_parameters, "enterprise_number"),
    ):
        if isinstance(part, dict) and name in part:
            part[name] = _with_check_digits(part[name])
    body = case.body
    if isinstance(body, dict):
        start, end = body.get("start_date"), body.get("end_date")
        if isinstance(start, str) and isinstance(end, str) and end < start:  # ISO text order
            body["start_date"], body["end_date"] = end, start
    return case


@dataclass
class Served:
    url: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(api: Api) -> AsyncIterator[Served]:
    """The same app the in-process tests use, served by uvicorn on the session's loop."""
    app = create_app(api.settings, client=api.env.client, pool=api.pool)
    async with over_http(app) as url:
        yield Served(url)


def _run(url: str, spec: dict[str, object], token: str) -> list[str]:
    config = schemathesis.Config.from_dict(
        {
            "base-url": url,
            "headers": {"Authorization": f"Bearer {token}"},
            "seed": 10,
            "max-time": MAX_SECONDS_PER_PERSONA,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "no-shrink": True},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "max_response_time": 25,
                # A body over the size limit is refused before it is read (413, documented
                # on every operation), whatever else is wrong with it.
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "406",
                        "409",
                        "413",
                        "415",
                        "422",
                        "428",
                        "429",
                        "5xx",
                    ]
                },
            },
            "operations": [
                # A cursor is opaque: only one the API gave out is valid (others: 422).
                *(
                    {
                        "include-operation-id": operation,
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ["2xx", "401", "403", "422"]
                            },
                        },
                    }
                    for operation in ("read_worklist_worklist_get", "list_dossiers_dossiers_get")
                ),
                # What a schema cannot know: a document id that is no upload of this
                # caller's organisation, and a day after today or before the decision it
                # concerns (422 naming the field).
                *(
                    {
                        "include-operation-id": operation,
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": [
                                    "2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"
                                ]
                            },
                        },
                    }
                    for operation in (
                        "appeal_dossiers__dossier__appeal_post",
                        "appeal_by_email_dossiers__dossier__appeal_by_email_post",
                        "hearing_dossiers__dossier__hearing_post",
                        "receipt_date_dossiers__dossier__receipt_date_post",
                    )
                ),
                # A document's type and emptiness are checked from its bytes (415, 422).
                {
                    "include-operation-id": "upload_document_documents_post",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "403", "413", "415", "422"]
                        },
                    },
                },
            ],
        }
    )
    schema = schemathesis.openapi.from_dict(spec, config=config)
    problems: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        problems.append(
                            f"{event.label}: {failure.title}: {failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, NonFatalError | FatalError):
            problems.append(f"error: {event}")
        elif isinstance(event, EngineFinished):
            break
    return problems


@pytest.mark.timeout(110)
async def test_schemathesis_finds_nothing(api: Api, served: Served) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    found: list[str] = []
    for persona in FUZZ_PERSONAS:
        token = api.auth(persona)["Authorization"].removeprefix("Bearer ")
        # schemathesis is synchronous: it runs in a thread while this loop serves the app.
        problems = await asyncio.to_thread(_run, served.url, spec, token)
        found += [f"[{persona}] {p}" for p in problems]
    unique = sorted(set(found))
    assert not unique, f"{len(unique)} findings:\n\n" + "\n\n".join(unique[:400])


def test_the_schemas_whitespace_is_what_str_strip_removes() -> None:
    """models/text.py spells the whitespace class by hand so that Python and JSON-schema
    regexes read it alike: it must be exactly what the server trims."""
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert re.fullmatch(f"[{WHITESPACE_CLASS}]+", spaces)
    assert not re.search(
        f"[{WHITESPACE_CLASS}]", "".join(c for c in map(chr, range(0x3100)) if not c.isspace())
    )

"""Dossier numbers: unique under concurrency, idempotent per key, bad input refused."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from models.application import TrainingApplication
from models.errors import Refusal
from registry import applications, queries
from registry.errors import Conflict, InvalidInput, NotFound
from starter import registry_reads
from tests.registry.helpers import new_provider, payload

NOW = datetime(2027, 2, 1, 10, 0, tzinfo=UTC)


async def _allocate(pool: asyncpg.Pool[Any], key: str, data: Any) -> tuple[str, bool]:
    async with pool.acquire() as conn:
        return await applications.allocate(conn, key, data, NOW)


async def _count_applications(pool: asyncpg.Pool[Any], provider: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM applications WHERE provider = $1", provider)
    )


async def test_hundred_concurrent_submissions_get_distinct_dossiers(
    pg_pool: asyncpg.Pool[Any],
) -> None:
    provider = await new_provider(pg_pool)
    results = await asyncio.gather(
        *(
            _allocate(pg_pool, f"k-{uuid.uuid4()}", payload(provider, title=f"Opleiding {i}"))
            for i in range(100)
        )
    )
    numbers = [d for d, created in results]
    assert all(created for _, created in results)
    assert len(set(numbers)) == 100
    assert all(re.fullmatch(r"ODB-2027-\d{6}", d) for d in numbers)
    assert await _count_applications(pg_pool, provider) == 100


async def test_replayed_submission_returns_the_same_dossier(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    key = f"portal-{uuid.uuid4()}"
    first = await _allocate(pg_pool, key, payload(provider))
    # The portal retries concurrently too: still one dossier.
    again = await asyncio.gather(*(_allocate(pg_pool, key, payload(provider)) for _ in range(5)))
    assert first[1] is True
    assert {d for d, _ in again} == {first[0]}
    assert not any(created for _, created in again)
    assert await _count_applications(pg_pool, provider) == 1


async def test_conflicting_payload_under_same_key_is_refused(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    key = f"portal-{uuid.uuid4()}"
    dossier, _ = await _allocate(pg_pool, key, payload(provider))
    with pytest.raises(Conflict) as err:
        await _allocate(pg_pool, key, payload(provider, title="Een andere opleiding"))
    assert err.value.refusal == Refusal.CONFLICT
    assert key in err.value.message and dossier in err.value.message
    assert await _count_applications(pg_pool, provider) == 1
    record = await queries.dossier_record(pg_pool, dossier)
    assert record.summary.title == "Lassen voor gevorderden"


async def test_unknown_provider_is_refused_with_what_to_do(pg_pool: asyncpg.Pool[Any]) -> None:
    with pytest.raises(NotFound) as err:
        await _allocate(pg_pool, f"k-{uuid.uuid4()}", payload("0403170701"))
    assert "0403170701" in err.value.message
    assert "opleidingsdatabank@vlaanderen.be" in err.value.message
    assert err.value.refusal == Refusal.NOT_FOUND
    assert await _count_applications(pg_pool, "0403170701") == 0


async def test_unknown_predecessor_is_refused(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    with pytest.raises(NotFound, match="your organisation has no dossier ODB-1999-000001"):
        await _allocate(
            pg_pool, f"k-{uuid.uuid4()}", payload(provider, predecessor_dossier="ODB-1999-000001")
        )
    assert await _count_applications(pg_pool, provider) == 0


BAD_INPUTS = [
    ("invalid enterprise number", {"provider": "0123456789"}, "provider", "mod-97"),
    ("enterprise number too short", {"provider": "12345"}, "provider", "10 digits"),
    ("hours below minimum", {"volume": "20"}, "volume", "VOV minimum"),
    (
        "study points below minimum",
        {"volume_unit": "study_points", "volume": "2"},
        "volume",
        "VOV minimum",
    ),
    ("missing title", {"title": None}, "title", "Field required"),
    ("start date not a date", {"start_date": "next monday"}, "start_date", "valid date"),
    ("start date impossible", {"start_date": "2027-02-30"}, "start_date", "date"),
    (
        "end before start",
        {"start_date": "2027-09-01", "end_date": "2027-08-01"},
        "end_date",
        "cannot end before",
    ),
    ("bad e-mail", {"contact_email": "geen-adres"}, "contact_email", "not an e-mail"),
    ("unknown field", {"prijs": 100}, "prijs", "Extra inputs"),
    ("bad joint committee", {"joint_committee": "comité 12"}, "joint_committee", "competent body"),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "rule"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
async def test_bad_input_is_refused_naming_field_and_rule(
    pg_pool: asyncpg.Pool[Any], case: str, change: dict[str, Any], field: str, rule: str
) -> None:
    provider = await new_provider(pg_pool)
    data = payload(provider)
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(InvalidInput) as err:
        await _allocate(pg_pool, f"k-{uuid.uuid4()}", data)
    fields = [f for f, _ in err.value.problems]
    assert field in fields, fields
    assert rule in err.value.message
    assert err.value.refusal == Refusal.INVALID_INPUT
    print(f"{case}: {err.value.message}")  # noqa: T201 - the report lists these
    assert await _count_applications(pg_pool, provider) == 0


async def test_missing_idempotency_key_is_refused(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    with pytest.raises(InvalidInput, match="idempotency_key"):
        await _allocate(pg_pool, "  ", payload(provider))
    assert await _count_applications(pg_pool, provider) == 0


async def test_dossier_summary_is_the_record_summary(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    dossier, _ = await _allocate(pg_pool, f"k-{uuid.uuid4()}", payload(provider))
    summary = await queries.dossier_summary(pg_pool, dossier)
    assert summary == (await queries.dossier_record(pg_pool, dossier)).summary
    assert summary is not None and summary.provider == provider
    assert await queries.dossier_summary(pg_pool, "ODB-1999-000001") is None


async def test_a_replayed_key_keeps_its_first_submission_time(pg_pool: asyncpg.Pool[Any]) -> None:
    provider = await new_provider(pg_pool)
    key = f"portal-{uuid.uuid4()}"
    application = TrainingApplication.model_validate(payload(provider))
    later = NOW + timedelta(hours=1)
    async with pg_pool.acquire() as conn:
        first = await registry_reads.allocate(conn, key, application, NOW)
        again = await registry_reads.allocate(conn, key, application, later)
        owner = await registry_reads.owner(conn, first[0])
    assert first[:3] == (first[0], True, NOW)
    assert again[:3] == (first[0], False, NOW)
    assert owner is not None and owner.submitted_at == NOW

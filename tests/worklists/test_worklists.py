"""Each role's worklist on the dev server against the seeded cases (tests/ops/conftest.py:
under review at VOC and PC 200, refused with its window open, a negative screening with its
window open, a removal this year, an overdue appeal, withdrawn, terminated): exactly the
expected dossiers, in order, paged with a cursor; bad cursors refused naming `cursor`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from ops.searches import WORKLIST_BY_NAME
from registry import worklists as registry_worklists
from runtime.settings import Settings
from starter.worklists import Scope, _params
from tests.fixtures.api import auth
from tests.ops.conftest import Seeded, eventually

pytestmark = pytest.mark.devserver


async def lists(
    http: httpx.AsyncClient, settings: Settings, persona: str, **params: Any
) -> dict[str, Any]:
    response = await http.get("/worklist", params=params, headers=auth(settings, persona))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {f"{p['list']}|{p['parameter']}": p for p in body["lists"]}


def dossiers(page: dict[str, Any]) -> list[str]:
    return [i["dossier"] for i in page["items"]]


async def settled(
    http: httpx.AsyncClient, settings: Settings, persona: str, expected: dict[str, list[str]]
) -> dict[str, Any]:
    """Reads until visibility shows what the seeds should give (eventually consistent)."""
    got = await eventually(
        lambda: lists(http, settings, persona),
        lambda got: {k: dossiers(v) for k, v in got.items()} == expected,
    )
    assert {k: dossiers(v) for k, v in got.items()} == expected
    return got


async def test_reviewers_see_their_body_oldest_first(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    got = await settled(
        worklist_http,
        test_settings,
        "voc_reviewer",
        {"waiting-for-reviewer|VOC": [seeded.voc_review, seeded.other_provider]},
    )
    page = got["waiting-for-reviewer|VOC"]
    assert page["count"] == 2 and page["next_cursor"] is None
    item = page["items"][0]
    assert item["title"].startswith("Lassen") or item["title"]
    assert item["days_waiting"] == 0 and item["overdue"] is False
    assert item["deadline"].startswith("review service norm (60 days) reached on")
    assert item["waiting_since"] is not None
    await settled(
        worklist_http,
        test_settings,
        "pc200_reviewer",
        {"waiting-for-reviewer|PC 200": [seeded.pc200_review]},
    )


async def test_the_bec_sees_open_appeals_with_missing_hearings(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    got = await settled(
        worklist_http, test_settings, "bec", {"waiting-for-bec|None": [seeded.overdue]}
    )
    item = got["waiting-for-bec|None"]["items"][0]
    assert item["missing_hearings"] == ["provider", "department"]
    assert item["missing_document"] is True
    assert item["overdue"] is True
    assert "overdue" in item["deadline"] and item["deadline_on"] is not None


async def test_the_department_sees_its_four_lists(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    got = await settled(
        worklist_http,
        test_settings,
        "department",
        {
            "appeals-overdue|None": [seeded.overdue],
            "removals-this-year|None": [seeded.removal_this_year],
            "failed-or-stuck|None": [seeded.terminated],
            "appeals-without-document|None": [seeded.overdue],
        },
    )
    removal = got["removals-this-year|None"]["items"][0]
    assert removal["deadline"].startswith("removal from the registry after 31 december")
    stuck = got["failed-or-stuck|None"]["items"][0]
    assert stuck["state"] == "terminated" and stuck["overdue"] is True


async def test_a_provider_sees_where_it_can_appeal_nearest_first_paged(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    key = "appeal-windows-of-provider|0123456749"
    got = await settled(
        worklist_http, test_settings, "provider", {key: [seeded.window_soon, seeded.refused]}
    )
    assert [i["deadline_on"] for i in got[key]["items"]] == [
        seeded.soon_window.last_day.isoformat(),
        seeded.refused_window.last_day.isoformat(),
    ]
    first = await lists(worklist_http, test_settings, "provider", limit=1)
    assert dossiers(first[key]) == [seeded.window_soon] and first[key]["count"] == 2
    cursor = first[key]["next_cursor"]
    second = await lists(worklist_http, test_settings, "provider", cursor=cursor, limit=1)
    assert dossiers(second[key]) == [seeded.refused]
    assert second[key]["next_cursor"] is None
    # The same list by name gives the same first page.
    named = await lists(
        worklist_http, test_settings, "provider", limit=1, list="appeal-windows-of-provider"
    )
    assert dossiers(named[key]) == [seeded.window_soon]
    await settled(
        worklist_http,
        test_settings,
        "other_provider",
        {"appeal-windows-of-provider|0203201340": []},
    )


async def test_paging_a_reviewer_list_one_by_one(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    await settled(
        worklist_http,
        test_settings,
        "voc_reviewer",
        {"waiting-for-reviewer|VOC": [seeded.voc_review, seeded.other_provider]},
    )
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await lists(worklist_http, test_settings, "voc_reviewer", **params))[
            "waiting-for-reviewer|VOC"
        ]
        seen += dossiers(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [seeded.voc_review, seeded.other_provider]


async def test_bad_cursors_and_lists_are_refused(
    worklist_http: httpx.AsyncClient, seeded: Seeded, test_settings: Settings
) -> None:
    provider_page = await lists(worklist_http, test_settings, "provider", limit=1)
    cursor = provider_page["appeal-windows-of-provider|0123456749"]["next_cursor"]
    assert cursor
    payload, sig = cursor.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b"0123456749", b"0203201340")).decode()
    cases = [
        ("provider", {"cursor": "garbage"}, 422, "cursor"),
        ("provider", {"cursor": f"{forged.rstrip('=')}.{sig}"}, 422, "cursor"),
        (
            "provider",
            {"cursor": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")},
            422,
            "cursor",
        ),
        ("other_provider", {"cursor": cursor}, 422, "cursor"),  # another organisation's
        ("bec", {"cursor": cursor}, 422, "cursor"),
        ("provider", {"cursor": cursor, "list": "waiting-for-bec"}, 422, "cursor"),
        ("provider", {"list": "waiting-for-bec"}, 403, "list"),
        ("provider", {"list": "nonsense"}, 422, "list"),
        ("provider", {"limit": 0}, 422, "limit"),
        ("provider", {"limit": 101}, 422, "limit"),
        ("no_role", {}, 403, None),
    ]
    for persona, params, status, field in cases:
        response = await worklist_http.get(
            "/worklist", params=params, headers=auth(test_settings, persona)
        )
        assert response.status_code == status, (persona, params, response.text)
        assert response.json()["field"] == field, (persona, params, response.text)
    assert (await worklist_http.get("/worklist")).status_code == 401


# A sort key of each kind, as a cursor carries it.
_KEY_OF_KIND = {
    "timestamptz": "2026-01-01T00:00:00+00:00",
    "date": "2026-01-01",
    "boolean": "false",
    "text": "ODB-2026-000001",
}


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _scans(child)


@pytest.mark.parametrize("name", sorted(registry_worklists.LISTS))
async def test_a_list_is_counted_and_paged_from_its_index_without_reading_each_case(
    ops_registry: tuple[asyncpg.Pool[Any], Settings], seeded: Seeded, name: str
) -> None:
    """At 100,000 cases a count that read every listed case's row was most of a worklist
    page's time (bench/web_pages.py): each list's index holds the columns the list filters
    on, so its count and the choice of a page's dossiers are index-only scans; only the
    page's own rows are read (by their key)."""
    pool, _ = ops_registry
    kinds = [kind for _, kind in registry_worklists.LISTS[name].order]
    scope = Scope(WORKLIST_BY_NAME[name], "VOC")
    for after in (None, [_KEY_OF_KIND[kind] for kind in kinds]):
        sql = registry_worklists.statements(name, _params(scope, datetime.now(UTC)), after, 25)
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE case_rows")  # as autovacuum keeps it
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")
                await conn.execute("SET LOCAL enable_bitmapscan = off")
                for text, args in ((sql.count, sql.count_args), (sql.page, sql.page_args)):
                    plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + text, *args)
                    plan = json.loads(plan) if isinstance(plan, str) else plan
                    scans = [
                        node
                        for node in _scans(plan[0]["Plan"])
                        if node.get("Relation Name") == "case_rows"
                    ]
                    listing = [n for n in scans if n.get("Index Name") != "case_rows_pkey"]
                    assert len(listing) == 1, (name, scans)
                    assert listing[0]["Node Type"] == "Index Only Scan", (name, plan)

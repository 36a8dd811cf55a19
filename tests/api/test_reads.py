"""Portal reads come from the registry's current-state rows: a decision that answered 200 is
in the very next read and worklist page (no waiting), the row is the case as its workflow
holds it after each step, and an organisation's list pages by a cursor and filters by state."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from models.case_row import CaseRow
from registry import case_rows
from rules.case_view import case_row
from starter.client import CaseService
from tests.fixtures.api import ORG, OTHER_ORG, Api

# What the worklists and the portal rely on (not when or as of which step).
COMPARED = [f for f in CaseRow.model_fields if f not in ("last_step", "last_step_at", "status")]


async def _worklist(api: Api, persona: str, name: str) -> list[str]:
    """Every item of the list, page by page (other modules' cases share the registry)."""
    found: list[str] = []
    params = {"list": name, "limit": "100"}
    while True:
        answer = await api.http.get("/worklist", params=params, headers=api.auth(persona))
        assert answer.status_code == 200, answer.text
        page = answer.json()["lists"][0]
        found += [i["dossier"] for i in page["items"]]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


async def test_a_decision_is_in_the_next_read_and_worklist_page(api: Api) -> None:
    dossier = await api.case_in("under_review")
    assert dossier in await _worklist(api, "voc_reviewer", "waiting-for-reviewer")
    decided = await api.act(
        dossier,
        "review-decision",
        "voc_reviewer",
        {"approve": False, "reason": "te smal voor de arbeidsmarkt"},
    )
    assert decided.status_code == 200, decided.text
    # At once, no waiting: the row was written in the decision's own transaction.
    read = (await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))).json()
    assert (read["state"], read["as_of_step"]) == ("refused", "review")
    assert dossier not in await _worklist(api, "voc_reviewer", "waiting-for-reviewer")
    listed = await api.http.get(
        "/dossiers", params={"state": "refused"}, headers=api.auth("provider")
    )
    assert dossier in {d["dossier"] for d in listed.json()["items"]}


async def test_the_row_is_the_case_as_its_workflow_holds_it_after_each_step(api: Api) -> None:
    service = CaseService(api.settings, client=api.env.client, pool=api.pool)
    dossier = await api.case_in("under_review")
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (
            "review-decision",
            "voc_reviewer",
            {"approve": False, "reason": "te smal voor de arbeidsmarkt"},
        ),
        ("appeal", "provider", {"motivation": "De opleiding is breed inzetbaar."}),
        ("hearing", "bec", {"side": "provider"}),
        ("hearing", "bec", {"side": "department"}),
        ("bec-decision", "bec", {"granted": True, "reason": "het beroep is gegrond"}),
        ("stop", "provider", {"reason": "niet meer aangeboden"}),
    ]
    for path, persona, body in [("", "", {}), *steps]:
        if path:
            done = await api.act(dossier, path, persona, body)
            assert done.status_code == 200, done.text
        live = await service.live_status(dossier)
        row = await case_rows.get(api.pool, dossier)
        assert row is not None
        expected = case_row(live, step=row.last_step, at=row.last_step_at)
        differs = {
            f: (getattr(row, f), getattr(expected, f))
            for f in COMPARED
            if getattr(row, f) != getattr(expected, f)
        }
        assert not differs, (path or "submitted", differs)


async def test_an_organisations_list_pages_by_cursor_and_filters_by_state(api: Api) -> None:
    mine = [await api.case_in("under_review", owner="other_provider") for _ in range(3)]
    headers = api.auth("other_provider")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "1", "state": "under_review"} | ({"cursor": cursor} if cursor else {})
        page = (await api.http.get("/dossiers", params=params, headers=headers)).json()
        seen += [d["dossier"] for d in page["items"]]
        assert page["count"] >= 3
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[:3] == list(reversed(mine))  # newest first, each once
    assert len(seen) == len(set(seen)) == page["count"]
    # A cursor is for its own list: another filter, or another organisation, is refused.
    first = (
        await api.http.get(
            "/dossiers", params={"limit": "1", "state": "under_review"}, headers=headers
        )
    ).json()["next_cursor"]
    other_filter = await api.http.get("/dossiers", params={"cursor": first}, headers=headers)
    assert other_filter.status_code == 422 and other_filter.json()["field"] == "cursor"
    as_department = await api.http.get(
        "/dossiers",
        params={"cursor": first, "provider": "0123456749", "state": "under_review"},
        headers=api.auth("department"),
    )
    assert as_department.status_code == 422, as_department.text
    ok = await api.http.get(
        "/dossiers",
        params={"cursor": first, "provider": OTHER_ORG, "state": "under_review"},
        headers=api.auth("department"),
    )
    assert ok.status_code == 200, ok.text


async def test_a_case_from_before_the_rows_reads_as_the_registrys_record(api: Api) -> None:
    dossier = await api.case_in("refused")
    await api.pool.execute("DELETE FROM case_rows WHERE dossier = $1", dossier)
    read = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
    assert read.status_code == 200, read.text
    # The refusal's step, or its notice's if the e-mail went out before this read.
    assert read.json()["state"] == "refused"
    assert read.json()["as_of_step"] in ("review", "review-notified")
    foreign = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("other_provider"))
    missing = await api.http.get("/dossiers/ODB-2020-999999", headers=api.auth("other_provider"))
    assert foreign.status_code == missing.status_code == 404


async def test_a_screening_result_whose_notice_is_not_sent_yet_breaks_no_read(api: Api) -> None:
    """The yearly run writes each result before its e-mail goes out (during a mail outage,
    hours before): the provider's dossier does not show it yet (the case learns it from its
    notice), the department's full record and the organisation's export show it as not yet
    notified; none of them fails."""
    dossier = await api.case_in("registered")
    await api.pool.execute(
        """INSERT INTO screening_results (dossier, step, year, passed, score, rubric_version,
                                          criteria, remarks, outcome)
           VALUES ($1, 'screening-2099', 2099, false, 31.5, 'test-1', '{}'::jsonb,
                   'Score 31.5/100, drempel 60.', 'failed')""",
        dossier,
    )
    try:
        seen = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("provider"))
        assert seen.status_code == 200, seen.text
        assert [s["year"] for s in seen.json()["screenings"]] == []
        export = await api.http.get(f"/providers/{ORG}/export", headers=api.auth("department"))
        assert export.status_code == 200, export.text
        with zipfile.ZipFile(io.BytesIO(export.content)) as z:
            record = json.loads(z.read(f"dossiers/{dossier}/dossier.json"))["record"]
        [result] = [s for s in record["screenings"] if s["year"] == 2099]
        assert result["notified_on"] is None
    finally:
        await api.pool.execute(
            "DELETE FROM screening_results WHERE dossier = $1 AND year = 2099", dossier
        )

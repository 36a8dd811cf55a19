"""The department's figures over the real app, worker and registry: what the department does
shows in this year's report ("so far, until today"), as JSON and CSV; the open data holds
every year's figures per body and nothing personal; a year the register has no report of,
or another role, gets a clear answer."""

from __future__ import annotations

import csv
import io
from typing import Any

from models.report import CSV_COLUMNS
from tests.fixtures.api import Api, brussels_today


async def _report(api: Api, year: int) -> dict[str, Any]:
    answer = await api.http.get(f"/reports/{year}", headers=api.auth("department"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _of(report: dict[str, Any], body: str) -> dict[str, Any]:
    return next((b for b in report["bodies"] if b["body"] == body), {})


async def test_what_happens_today_shows_in_this_years_figures_so_far(api: Api) -> None:
    today = brussels_today()
    before = await _report(api, today.year)
    await api.case_in("registered")
    await api.case_in("refused")
    await api.case_in("in_appeal")
    after = await _report(api, today.year)

    assert after["complete"] is False
    assert after["period"] == f"{today.year}, so far, until {today}"
    assert after["last_day"] == today.isoformat()
    assert after["bodies"][0]["body"] == "all"
    for body in ("all", "VOC"):
        was, now = _of(before, body), _of(after, body)

        def grew(figure: str, was: dict[str, Any] = was, now: dict[str, Any] = now) -> int:
            return int(now[figure]) - int(was.get(figure) or 0)

        assert grew("received") == 3, body
        assert grew("decisions") == 3 and grew("approved") == 1 and grew("refused") == 2
        assert grew("decided_within_norm") == 3  # decided the day they came in
        assert grew("appeals_received") == 1 and grew("appeals_against_refusal") == 1
        assert grew("registered_last_day") == 1
    assert _of(after, "all")["decision_days_median"] is not None


async def test_the_csv_of_a_year_has_a_line_per_body_with_the_total_first(api: Api) -> None:
    year = brussels_today().year
    await api.case_in("registered")
    answer = await api.http.get(
        f"/reports/{year}", headers={**api.auth("department"), "Accept": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[0]["body"] == "all" and rows[0]["year"] == str(year)
    assert rows[0]["complete"] == "false"
    assert {r["body"] for r in rows} >= {"all", "VOC"}
    json_figures = _of(await _report(api, year), "all")
    assert int(rows[0]["received"]) == json_figures["received"]


async def test_the_open_data_holds_every_years_figures_and_nothing_personal(api: Api) -> None:
    await api.case_in("registered")
    answer = await api.http.get("/open-data/figures.csv", headers=api.auth("provider"))
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == CSV_COLUMNS
    years = sorted({int(r["year"]) for r in rows})
    assert years == list(range(years[0], brussels_today().year + 1))  # no year left out
    text = answer.text.lower()
    for personal in ("odb-", "@", "provider", "contact", "title"):
        assert personal not in text


async def test_a_year_before_the_register_or_to_come_is_refused_naming_the_year(
    api: Api,
) -> None:
    year = brussels_today().year
    before = await api.http.get("/reports/1999", headers=api.auth("department"))
    assert before.status_code == 422, before.text
    assert "1999" in before.text and "the register starts in" in before.text
    ahead = await api.http.get(f"/reports/{year + 1}", headers=api.auth("department"))
    assert ahead.status_code == 422, ahead.text
    assert f"{year + 1} has not begun" in ahead.text
    word = await api.http.get("/reports/vorig-jaar", headers=api.auth("department"))
    assert word.status_code == 422, word.text


async def test_only_the_department_reads_the_report(api: Api) -> None:
    year = brussels_today().year
    for persona in ("provider", "voc_reviewer", "bec"):
        answer = await api.http.get(f"/reports/{year}", headers=api.auth(persona))
        assert answer.status_code == 403, (persona, answer.text)
        assert "department" in answer.json()["detail"]
    anonymous = await api.http.get(f"/reports/{year}")
    assert anonymous.status_code == 401

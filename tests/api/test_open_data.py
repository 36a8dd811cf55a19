"""The open data is data: a title that a spreadsheet would run as a formula arrives as text,
and a title with a line break is one cell of one line to a CSV reader."""

from __future__ import annotations

import csv
import io
import uuid

from tests.fixtures.api import Api, brussels_today


async def test_a_title_like_a_formula_is_not_a_formula_in_the_csv(api: Api) -> None:
    tag = uuid.uuid4().hex[:6]
    titles = {
        start: f'{start}HYPERLINK("http://evil.example/?{tag}","Lassen")' for start in "=+-@"
    }
    dossiers = {
        start: await api.case_in("registered", title=title) for start, title in titles.items()
    }
    export = await api.http.get(
        "/open-data/registered.csv",
        params={"on": brussels_today().isoformat()},
        headers=api.auth("department"),
    )
    rows = {r["dossier"]: r for r in csv.DictReader(io.StringIO(export.text))}
    for start, dossier in dossiers.items():
        assert rows[dossier]["title"] == "'" + titles[start]
    plain = await api.case_in("registered", title=f"Lassen {tag}")
    again = await api.http.get(
        "/open-data/registered.csv",
        params={"on": brussels_today().isoformat()},
        headers=api.auth("department"),
    )
    plain_row = {r["dossier"]: r for r in csv.DictReader(io.StringIO(again.text))}[plain]
    assert plain_row["title"] == f"Lassen {tag}"  # an ordinary title is left as it is


async def test_a_title_with_a_line_break_stays_one_cell_of_its_own_line(api: Api) -> None:
    tag = uuid.uuid4().hex[:6]
    broken = await api.case_in("registered", title=f"Lassen\nvoor gevorderden {tag}")
    after = await api.case_in("registered", title=f"Solderen {tag}")
    export = await api.http.get(
        "/open-data/registered.csv",
        params={"on": brussels_today().isoformat()},
        headers=api.auth("department"),
    )
    rows = {r["dossier"]: r for r in csv.DictReader(io.StringIO(export.text))}
    assert rows[broken]["title"] == f"Lassen\nvoor gevorderden {tag}"
    assert rows[after]["title"] == f"Solderen {tag}"
    assert set(rows[after]) == set(rows[broken])  # no cell shifted into another line

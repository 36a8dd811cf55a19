"""The department's charts (starter/report_charts.py): drawn on the server as static SVG
(no script, nothing fetched), each beside a table that holds every number it draws, and the
review times split at the service norm."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from typing import Any

from models.report import BodyFigures, DaysBucket, YearReport
from registry.reports import bucket_bounds
from starter import report_charts

SVG = "{http://www.w3.org/2000/svg}"


def _report(year: int, complete: bool = True, **figures: Any) -> YearReport:
    values = {name: 0 for name in BodyFigures.model_fields if name != "body"}
    values.update(figures)
    bounds = bucket_bounds(60)
    days = [
        DaysBucket(
            from_day=low,
            to_day=bounds[i + 1] - 1 if i + 1 < len(bounds) else None,
            decisions=3 * i,
            within_norm=i + 1 < len(bounds) and bounds[i + 1] - 1 <= 60,
        )
        for i, low in enumerate(bounds)
    ]
    return YearReport(
        year=year, complete=complete, first_day=date(year, 1, 1),
        last_day=date(year, 12, 31), period=str(year), service_norm_days=60,
        computed_at=datetime.now(UTC), bodies=[BodyFigures(body="all", **values)],
        decision_days=days,
    )  # fmt: skip


def _static_svg(chart: report_charts.Chart) -> ET.Element:
    root = ET.fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    assert [e for e in root.iter() if e.tag == f"{SVG}script"] == []
    assert "pygal.org" not in chart.svg and "https://" not in chart.svg
    return root


def test_the_funnels_draw_the_years_stages_and_table_every_number() -> None:
    report = _report(2027, received=1200, decisions=1100, refused=180,
                     appeals_against_refusal=35, appeals_granted=14, screened=4915,
                     screening_failed=700, screening_incomplete=56, removals=701,
                     resubmitted_after_screening=40)  # fmt: skip
    applications, screening = report_charts.funnels(report)
    for chart in (applications, screening):
        _static_svg(chart)
        assert all(row[1] in chart.svg for row in chart.rows)  # the bars print their values
    assert applications.rows[0] == ("ingediend", "1200")
    assert ("negatief", "756") in screening.rows
    page = screening.html("/charts/screening.svg")
    assert '<img src="/charts/screening.svg" alt="">' in page
    assert "<table>" in page and '<th scope="row">geschrapt</th><td class="num">701</td>' in page


def test_the_figures_over_the_years_table_each_year_and_mark_one_not_over() -> None:
    reports = [_report(2027, received=10, registered_last_day=90),
               _report(2028, complete=False, received=4, registered_last_day=95)]  # fmt: skip
    chart = report_charts.over_the_years(reports)
    _static_svg(chart)
    assert [row[0] for row in chart.rows] == ["2027", "2028 (tot nu toe)"]
    assert chart.headers[-1] == "geregistreerd op 31 december"
    assert chart.rows[1][1] == "4" and chart.rows[1][-1] == "95"


def test_review_times_are_split_at_the_service_norm() -> None:
    chart = report_charts.review_times(_report(2027))
    _static_svg(chart)
    assert "servicenorm: 60 dagen" in chart.title
    norm_rows = {row[0]: row[2] for row in chart.rows}
    assert norm_rows["50-59"] == "binnen" and norm_rows["60-60"] == "binnen"
    assert norm_rows["61-69"] == "over" and norm_rows["180+"] == "over"
    assert "binnen de norm (≤ 60 dagen)" in chart.svg

"""The department's figures as charts (in Dutch, for the department's page), drawn on the
server as SVG (pygal), each with its numbers in a table beside it: the table is what a
screen reader reads, the chart is the same numbers drawn. No script and nothing fetched:
the SVG is static (pygal's script and comments are left out).

    funnels(report)          the year: ingediend -> beslist -> geweigerd -> beroep ->
                             gegrond; gescreend -> negatief -> beroep -> geschrapt /
                             opnieuw ingediend
    over_the_years(reports)  the main figures of every year
    review_times(report)     the year's decisions by days to decision, the norm marked
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pygal
from pygal.style import Style

from models.report import BodyFigures, YearReport

WIDTH, HEIGHT = 720, 340
# Dark enough on white for text and bars (WCAG AA contrast for the labels).
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#0b0c0c",
    foreground_strong="#0b0c0c",
    foreground_subtle="#505a5f",
    colors=("#1d70b8", "#d4351c", "#00703c", "#4c2c92", "#b58840", "#505a5f", "#003078"),
    font_family="sans-serif",
    title_font_size=15,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    value_font_size=11,
)


@dataclass(frozen=True)
class Chart:
    key: str  # an id for the page (anchors, aria)
    title: str
    svg: str  # inline <svg>, no XML declaration, no script
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def html(self, src: str | None = None) -> str:
        """The chart and its table, one figure: the table carries every number. `src`: the
        chart's URL, shown as an image (a page whose Content-Security-Policy allows no
        inline style: an image's SVG is styled by its own document); None: inline."""
        head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in self.headers)
        body = "".join(
            "<tr>"
            + f'<th scope="row">{html.escape(row[0])}</th>'
            + "".join(f'<td class="num">{html.escape(cell)}</td>' for cell in row[1:])
            + "</tr>"
            for row in self.rows
        )
        drawn = self.svg if src is None else f'<img src="{html.escape(src)}" alt="">'
        return (
            f'<figure class="chart" id="{self.key}" aria-labelledby="{self.key}-title">'
            f'<h3 id="{self.key}-title">{html.escape(self.title)}</h3>'
            f'<div class="chart-svg" aria-hidden="true">{drawn}</div>'
            f"<table><caption>{html.escape(self.title)}: the numbers</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></figure>"
        )


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "style": STYLE,
        "width": WIDTH,
        "height": HEIGHT,
        "js": [],  # pygal's tooltips load a script from a CDN: none, ever
        "disable_xml_declaration": True,
        "explicit_size": True,
        "print_values": True,
        "legend_at_bottom": True,
        **extra,
    }


SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


def _svg(chart: Any) -> str:
    """The chart as a static SVG document: pygal's inline script (its tooltips' settings)
    and its comments (links to its site) are left out."""
    root = ET.fromstring(chart.render(is_unicode=True))  # comments are not kept
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == f"{{{SVG_NS}}}script":
                parent.remove(child)
    return ET.tostring(root, encoding="unicode")


def _num(value: int | float | None) -> str:
    return "-" if value is None else f"{value:g}"


def funnels(report: YearReport, body: str = "all") -> list[Chart]:
    """The year's two funnels of `body`: applications and the yearly screening."""
    b = report.of(body) or BodyFigures(body=body, **_zeros())
    applications = [
        ("ingediend", b.received),
        ("beslist", b.decisions),
        ("geweigerd", b.refused),
        ("beroep tegen weigering", b.appeals_against_refusal),
        ("beroepen gegrond (alle)", b.appeals_granted),
    ]
    screening = [
        ("gescreend", b.screened),
        ("negatief", b.screening_failed + b.screening_incomplete),
        ("beroep tegen screening", b.appeals_against_screening),
        ("geschrapt", b.removals),
        ("opnieuw ingediend", b.resubmitted_after_screening),
    ]
    charts = []
    for key, title, stages in (
        ("funnel-applications", f"Aanvragen in {_period(report)}", applications),
        ("funnel-screening", f"De jaarlijkse screening in {_period(report)}", screening),
    ):
        chart = pygal.HorizontalBar(**_config(title=title, show_legend=False))
        # pygal draws a horizontal bar chart's first label at the bottom: the funnel's
        # first stage goes last, so it is read from the top.
        chart.x_labels = [label for label, _ in reversed(stages)]
        chart.add(body, [value for _, value in reversed(stages)])
        charts.append(
            Chart(key, title, _svg(chart), ("stap", "aantal"),
                  tuple((label, _num(value)) for label, value in stages))
        )  # fmt: skip
    return charts


OVER_THE_YEARS = [
    ("ingediend", "received"),
    ("beslist", "decisions"),
    ("geweigerd", "refused"),
    ("beroepen", "appeals_received"),
    ("negatieve screenings", "screening_failed"),
    ("geschrapt", "removals"),
]


def over_the_years(reports: list[YearReport], body: str = "all") -> Chart:
    """The main flows of every year, and the register on 31 December (right-hand axis)."""
    title = "De cijfers over de jaren"
    years = [str(r.year) if r.complete else f"{r.year} (tot nu toe)" for r in reports]
    figures = [r.of(body) for r in reports]
    chart = pygal.Line(**_config(title=title, print_values=False, dots_size=3))
    chart.x_labels = years
    series: list[tuple[str, list[int | None]]] = []
    for label, name in OVER_THE_YEARS:
        values = [getattr(f, name) if f else None for f in figures]
        if name == "screening_failed":
            values = [(f.screening_failed + f.screening_incomplete) if f else None
                      for f in figures]  # fmt: skip
        series.append((label, values))
        chart.add(label, values)
    registered = [f.registered_last_day if f else None for f in figures]
    chart.add("geregistreerd op 31 december", registered, secondary=True)
    series.append(("geregistreerd op 31 december", registered))
    rows = tuple((year, *(_num(values[i]) for _, values in series)) for i, year in enumerate(years))
    return Chart("over-the-years", title, _svg(chart), ("jaar", *(s for s, _ in series)), rows)


def review_times(report: YearReport) -> Chart:
    """The year's review decisions by days from submission, within the norm and beyond."""
    norm = report.service_norm_days
    title = f"Dagen van indiening tot beslissing in {_period(report)} (servicenorm: {norm} dagen)"
    buckets = report.decision_days
    labels = [f"{b.from_day}-{b.to_day}" if b.to_day is not None else f"{b.from_day}+"
              for b in buckets]  # fmt: skip
    chart = pygal.StackedBar(**_config(title=title, x_label_rotation=45, print_zeroes=False))
    chart.x_labels = labels
    chart.add(f"binnen de norm (≤ {norm} dagen)",
              [b.decisions if b.within_norm else None for b in buckets])  # fmt: skip
    chart.add(f"over de norm (> {norm} dagen)",
              [None if b.within_norm else b.decisions for b in buckets])  # fmt: skip
    rows = tuple(
        (label, str(b.decisions), "binnen" if b.within_norm else "over")
        for label, b in zip(labels, buckets, strict=True)
    )
    return Chart("review-times", title, _svg(chart), ("dagen", "beslissingen", "servicenorm"), rows)


def _period(report: YearReport) -> str:
    if report.complete:
        return str(report.year)
    return f"{report.year} (tot nu toe, tot en met {report.last_day:%d-%m-%Y})"


def _zeros() -> dict[str, Any]:
    return {name: 0 for name in BodyFigures.model_fields if name != "body"}

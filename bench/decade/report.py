"""The report: one HTML page per simulated year (figures and plots, drawn as inline SVG: no
plotting library), an index in Markdown with the run's totals, where the time went and
every violation, and the raw figures as JSON."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.decade import oracle
from bench.decade.params import Params
from bench.decade.results import ShardResult, Violation, YearStats

MiB = 2**20

# (label, count keys summed) in the order the tables show them.
DECISIONS = [
    ("submitted", ("submitted",)),
    ("resubmitted", ("resubmitted",)),
    ("approved", ("approved",)),
    ("refused", ("refused",)),
    ("withdrawn", ("withdrawn",)),
    ("BEC granted", ("bec_granted",)),
    ("BEC rejected", ("bec_rejected",)),
    ("stopped", ("stopped",)),
    ("revoked", ("revoked",)),
]
APPEALS = [
    ("through the portal", ("appeals_portal",)),
    ("by e-mail (BEC)", ("appeals_email",)),
    ("on the last day", ("appeals_on_last_day",)),
    ("late, refused", ("late_appeals_refused",)),
    ("decided before the hearings, refused", ("premature_decisions_refused",)),
]
SCREENING = [
    ("screened", ("screened",)),
    ("negative", ("negative",)),
    ("not yet due", ("not_yet_due",)),
    ("removed", ("removed",)),
    ("replaced by a resubmission", ("replaced",)),
    ("refusals become final", ("refusals_final",)),
]
DEADLINES = [
    ("BEC decided within 60 days", ("bec_in_time",)),
    ("BEC late: flagged overdue from day 61", ("bec_flagged",)),
    ("BEC decided after being flagged", ("bec_late",)),
]
OPERATIONS = [
    ("notices sent", ("notices_sent",)),
    ("SMTP outages", ("smtp_outages",)),
    ("worker restarts", ("worker_restarts",)),
    ("deploys with a new patch", ("deploys",)),
]
CHECKS = [
    ("days checked (per shard)", ("days_checked",)),
    ("as-of answers compared", ("as_of_checked",)),
    ("notices found sent", ("notices_checked",)),
    ("runs described", ("described",)),
    ("workflow vs registry compared", ("agreement_checked",)),
]


@dataclass
class Year:
    """One simulated year, every shard together."""

    year: int
    counts: Counter[str]
    registered_by_day: list[int]
    wall_sum: float
    wall_max: float
    wall: dict[str, float]
    largest_history: int
    largest_history_of: str


def merge(results: Sequence[ShardResult]) -> list[Year]:
    years: dict[int, list[YearStats]] = {}
    for r in results:
        for y in r.years:
            years.setdefault(y.year, []).append(y)
    merged = []
    for year, parts in sorted(years.items()):
        counts: Counter[str] = Counter()
        wall: dict[str, float] = {}
        for p in parts:
            counts.update(p.counts)
            for k, v in p.wall.items():
                wall[k] = wall.get(k, 0.0) + v
        days = max(len(p.registered_by_day) for p in parts)
        series = [
            sum(p.registered_by_day[i] for p in parts if i < len(p.registered_by_day))
            for i in range(days)
        ]
        big = max(parts, key=lambda p: p.largest_history)
        merged.append(
            Year(
                year=year,
                counts=counts,
                registered_by_day=series,
                wall_sum=sum(p.wall_seconds for p in parts),
                wall_max=max(p.wall_seconds for p in parts),
                wall=wall,
                largest_history=big.largest_history,
                largest_history_of=big.largest_history_of,
            )
        )
    return merged


def _sum(counts: Counter[str], keys: tuple[str, ...]) -> int:
    return sum(counts.get(k, 0) for k in keys)


# ---------------------------------------------------------------- SVG


def line_chart(values: Sequence[float], first: date, *, title: str, width: int = 720,
               height: int = 220) -> str:  # fmt: skip
    if not values:
        return ""
    pad_l, pad_b, pad_t = 60, 30, 24
    w, h = width - pad_l - 10, height - pad_b - pad_t
    low, high = min(values), max(values)
    if high == low:
        high = low + 1
    n = max(len(values) - 1, 1)
    points = " ".join(
        f"{pad_l + w * i / n:.1f},{pad_t + h - h * (v - low) / (high - low):.1f}"
        for i, v in enumerate(values)
    )
    ticks = []
    for month in range(1, 13):
        day = date(first.year, month, 1)
        i = (day - first).days
        if 0 <= i <= n:
            x = pad_l + w * i / n
            ticks.append(
                f'<line x1="{x:.1f}" y1="{pad_t + h}" x2="{x:.1f}" y2="{pad_t + h + 4}" '
                f'stroke="#888"/><text x="{x:.1f}" y="{pad_t + h + 16}" font-size="10" '
                f'text-anchor="middle">{day:%b}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>'
        f'<text x="{pad_l - 6}" y="{pad_t + 4}" font-size="10" text-anchor="end">{high:g}</text>'
        f'<text x="{pad_l - 6}" y="{pad_t + h}" font-size="10" text-anchor="end">{low:g}</text>'
        f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#888"/>'
        f'<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{points}"/>'
        + "".join(ticks)
        + "</svg>"
    )


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 720,
              bar: int = 18) -> str:  # fmt: skip
    if not items:
        return ""
    pad_l, pad_t = 250, 24
    top = max((v for _, v in items), default=0) or 1
    w = width - pad_l - 70
    height = pad_t + len(items) * (bar + 6) + 6
    rows = []
    for i, (label, value) in enumerate(items):
        y = pad_t + i * (bar + 6)
        length = w * value / top
        rows.append(
            f'<text x="{pad_l - 8}" y="{y + bar - 5}" font-size="11" text-anchor="end">'
            f"{html.escape(label)}</text>"
            f'<rect x="{pad_l}" y="{y}" width="{length:.1f}" height="{bar}" fill="#4a90c2"/>'
            f'<text x="{pad_l + length + 4}" y="{y + bar - 5}" font-size="11">{value:g}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<text x="10" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>'
        + "".join(rows)
        + "</svg>"
    )


# ---------------------------------------------------------------- pages


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td style='text-align:right'>{html.escape(str(v))}"
        "</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def year_page(y: Year, violations: Sequence[Violation], params: Params) -> str:
    c = y.counts
    sections = [
        ("Decisions", DECISIONS),
        ("Appeals", APPEALS),
        ("Yearly screening and removals", SCREENING),
        ("Deadlines", DEADLINES),
        ("Notices and faults", OPERATIONS),
    ]
    parts = [
        f"<h1>Simulated year {y.year}</h1>",
        f"<p>{params.trainings} trainings at the start, {params.shards} shard(s); seed "
        f"{params.seed}. Violations this year: <b>{c.get('violations', 0)}</b>. Registered "
        f"at the end of the year: <b>{c.get('registered_end', 0)}</b>.</p>",
        line_chart(
            y.registered_by_day, date(y.year, 1, 1),
            title="Registered trainings, each day (the open-data export)",
        ),
    ]
    for title, keys_of in sections:
        items = [(label, float(_sum(c, keys))) for label, keys in keys_of]
        parts.append(bar_chart(items, title=title))
    wall = sorted(
        ((k, v) for k, v in y.wall.items() if k not in ("days", "checks")),
        key=lambda kv: -kv[1],
    )
    parts.append(
        bar_chart([(k, round(v, 1)) for k, v in wall], title="Wall time, seconds (all shards)")
    )
    parts.append(
        _table(
            [
                ("wall time, all shards (s)", f"{y.wall_sum:.1f}"),
                ("wall time, slowest shard (s)", f"{y.wall_max:.1f}"),
                ("largest history (events)", f"{y.largest_history} ({y.largest_history_of})"),
                *[(label, _sum(c, keys)) for label, keys in CHECKS],
            ]
        )
    )
    mine = [v for v in violations if v.day.startswith(str(y.year))]
    if mine:
        listed = "".join(f"<li><code>{html.escape(v.line())}</code></li>" for v in mine[:200])
        parts.append(f"<h2>Violations</h2><ul>{listed}</ul>")
    style = (
        "body{font-family:sans-serif;max-width:760px;margin:2em auto}"
        "td{padding:2px 12px;border-bottom:1px solid #eee}svg{display:block;margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{y.year}</title>"
        f"<style>{style}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )


def calendar_facts(params: Params) -> list[str]:
    first, last = params.start_year, params.start_year + params.years - 1
    easter = oracle.easter_sundays(first, last)
    changes = oracle.clock_changes(first, last)
    return [
        f"years {first}-{last}: leap years "
        f"{', '.join(map(str, oracle.leap_years(first, last))) or 'none'}"
        f"; {len(changes)} clock changes; Easter Sundays "
        f"{min(easter):%d %B %Y} … {max(easter):%d %B %Y} (earliest {min(easter, key=_md):%d %B},"
        f" latest {max(easter, key=_md):%d %B})",
    ]


def _md(day: date) -> tuple[int, int]:
    return day.month, day.day


def write(
    folder: Path,
    params: Params,
    results: Sequence[ShardResult],
    *,
    wall_seconds: float,
    peak_rss: dict[str, int],
    notes: Sequence[str] = (),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    years = merge(results)
    violations = sorted(
        (v for r in results for v in r.violations), key=lambda v: (v.day, v.shard, v.dossier)
    )
    total_violations = sum(r.violations_total for r in results)
    for y in years:
        (folder / f"year-{y.year}.html").write_text(year_page(y, violations, params))
    largest = max(results, key=lambda r: r.largest_history, default=None)
    lines = [
        f"# Ten years in an afternoon: {params.trainings} trainings x {params.years} years",
        "",
        f"Seed {params.seed}; {params.shards} shard(s) of about {params.shard_size} trainings, "
        f"{params.parallel} at a time. " + " ".join(calendar_facts(params)) + ".",
        "",
        f"- **violations: {total_violations}**",
        f"- wall time: {wall_seconds:.0f} s ({wall_seconds / 60:.1f} min)",
        "- peak memory (resident, sampled each second): "
        + ", ".join(f"{k} {v / MiB:.0f} MiB" for k, v in peak_rss.items()),
    ]
    if largest is not None:
        lines.append(
            f"- largest history: {largest.largest_history} events "
            f"(shard {largest.shard}: {largest.largest_history_of})"
        )
    lines.append(
        "- event digests (same seed, same decade): "
        + ", ".join(f"s{r.shard} {r.digest[:12]}" for r in results)
    )
    lines += [*(f"- {n}" for n in notes), "", "## Per simulated year", ""]
    head = ["year", "registered 31/12", "submitted", "approved", "refused", "appeals",
            "BEC in time / flagged", "screened", "negative", "removed", "replaced",
            "notices", "violations", "wall s (sum / slowest shard)"]  # fmt: skip
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for y in years:
        c = y.counts
        lines.append(
            "| "
            + " | ".join(
                str(x)
                for x in [
                    f"[{y.year}](year-{y.year}.html)",
                    c.get("registered_end", 0),
                    c.get("submitted", 0) + c.get("resubmitted", 0),
                    c.get("approved", 0),
                    c.get("refused", 0),
                    c.get("appeals_portal", 0) + c.get("appeals_email", 0),
                    f"{c.get('bec_in_time', 0)} / {c.get('bec_flagged', 0)}",
                    c.get("screened", 0),
                    c.get("negative", 0),
                    c.get("removed", 0),
                    c.get("replaced", 0),
                    c.get("notices_sent", 0),
                    c.get("violations", 0),
                    f"{y.wall_sum:.0f} / {y.wall_max:.0f}",
                ]
            )
            + " |"
        )
    lines += figures_table(results)
    wall: dict[str, float] = {}
    for y in years:
        for k, v in y.wall.items():
            if k not in ("days", "checks"):
                wall[k] = wall.get(k, 0.0) + v
    total = sum(wall.values()) or 1.0
    seed_s = sum(r.seed_seconds for r in results)
    lines += ["", "## Where the time goes (seconds, all shards)", ""]
    lines.append(f"- seeding the register: {seed_s:.0f}")
    for k, v in sorted(wall.items(), key=lambda kv: -kv[1]):
        lines.append(f"- {k}: {v:.0f} ({100 * v / total:.0f} %)")
    lines += ["", "## Shards", ""]
    for r in results:
        lines.append(
            f"- shard {r.shard}: {r.trainings} trainings, {r.wall_seconds:.0f} s, peak RSS "
            f"Python {r.peak_rss_python / MiB:.0f} MiB, server {r.peak_rss_server / MiB:.0f} MiB"
            f", largest history {r.largest_history} ({r.largest_history_of}), "
            f"{r.api_calls} API calls, {r.jumps} clock jumps, {r.violations_total} violations"
        )
    if violations:
        lines += ["", f"## Violations ({total_violations})", "", "```"]
        lines += [v.line() for v in violations[:500]]
        lines.append("```")
    (folder / "index.md").write_text("\n".join(lines) + "\n")
    (folder / "results.json").write_text(
        json.dumps(
            {
                "params": params.as_dict(),
                "wall_seconds": wall_seconds,
                "peak_rss": peak_rss,
                "shards": [r.to_json() for r in results],
            },
            indent=1,
            default=str,
        )
    )
    return folder / "index.md"


# (column, figures summed) of the yearly figures table: the report's `all` row of each shard.
FIGURES = [
    ("received", ("received",)),
    ("decided", ("decisions",)),
    ("approved", ("approved",)),
    ("refused", ("refused",)),
    ("within norm", ("decided_within_norm",)),
    ("appeals", ("appeals_received",)),
    ("of refusals", ("appeals_against_refusal",)),
    ("of screenings", ("appeals_against_screening",)),
    ("granted", ("appeals_granted",)),
    ("rejected", ("appeals_rejected",)),
    ("overdue", ("appeals_overdue",)),
    ("screened", ("screened",)),
    ("negative", ("screening_failed", "screening_incomplete")),
    ("removed", ("removals",)),
    ("resubmitted", ("resubmissions",)),
    ("withdrawn", ("withdrawals",)),
    ("stopped", ("stops",)),
    ("revoked", ("revocations",)),
    ("final refusals", ("refusals_final",)),
    ("registered 1/1", ("registered_first_day",)),
    ("registered 31/12", ("registered_last_day",)),
    ("notices", ("notices_sent",)),
    ("sent late", ("notices_sent_late",)),
]


def figures_table(results: Sequence[ShardResult]) -> list[str]:
    """The department's figures of every simulated year (the system's report, every shard
    summed), and how many of them the simulation's own count confirmed."""
    by_year: dict[int, list[YearStats]] = {}
    for r in results:
        for y in r.years:
            by_year.setdefault(y.year, []).append(y)
    lines = ["", "## The department's figures (GET /reports/{year}, all shards)", ""]
    lines.append(
        "Each year's report compared, figure by figure and body by body, with what the "
        "simulation counted itself (bench/decade/figures.py); the notices sent and sent late "
        "within the bounds it draws from its own outages (lowest..highest, summed)."
    )
    bounded = ["notices bounds", "late bounds"]
    lines += ["", "| year | " + " | ".join([*(c for c, _ in FIGURES), *bounded])
              + " | compared | differing |"]  # fmt: skip
    lines.append("|" + "---|" * (len(FIGURES) + len(bounded) + 3))
    for year, parts in sorted(by_year.items()):
        totals = [p.figures.get("all", {}) for p in parts]
        cells = [
            str(sum(int(t.get(k) or 0) for t in totals for k in keys)) for _, keys in FIGURES
        ]
        for figure in ("notices_sent", "notices_sent_late"):
            ranges = [p.bounds.get("all", {}).get(figure, [0, 0]) for p in parts]
            cells.append(f"{sum(r[0] for r in ranges)}..{sum(r[1] for r in ranges)}")
        compared = sum(p.counts.get("figures_compared", 0) for p in parts)
        differing = sum(p.counts.get("figures_differing", 0) for p in parts)
        lines.append(
            f"| {year} | " + " | ".join(cells) + f" | {compared}/{len(parts)} | {differing} |"
        )
    return lines


def first_days(year: int) -> list[date]:
    return [date(year, 1, 1) + timedelta(days=i) for i in range(366)]

"""`python -m ops report`: the department's figures of a year, from the registry.

    python -m ops report                  this year so far, one figure a line, a column a body
    python -m ops report --year 2027      a whole year (or so far, while it is not over)
    python -m ops report --year 2027 --csv    the same as CSV (the open data's columns)

The same figures as `GET /reports/{year}` (registry/reports.py, one snapshot); their
meanings: docs/reports.md. Exit codes: 0 printed, 2 a year it has no report of (named),
4 the registry unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import asyncpg

from models.report import FIGURES, YearReport
from registry import reports
from registry.db import create_pool
from registry.errors import InvalidInput
from runtime.settings import ConfigError, load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="the department's figures of a year, per competent body")
    p.add_argument("--year", type=_year, help="calendar year, Europe/Brussels (default: this one)")
    p.add_argument("--csv", action="store_true", help="CSV: a line per body, the total first")


def _year(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a year such as 2027") from None
    if not 1000 <= value <= 9999:
        raise argparse.ArgumentTypeError(f"{value} is not a year such as 2027")
    return value


async def _report(year: int | None) -> YearReport:
    settings = load_settings()
    now = datetime.now(UTC)
    pool = await create_pool(settings, min_size=0, max_size=1, timeout=5)
    try:
        async with pool.acquire() as conn:
            asked = year or now.astimezone(reports.BRUSSELS).year
            return await reports.year_report(conn, asked, now, settings.review.service_norm_days)
    finally:
        await pool.close()


def text(report: YearReport) -> str:
    """One figure a line, one column per body (the total first)."""
    head = [f"figures of {report.period} (service norm {report.service_norm_days} days)", ""]
    names = ["figure", *(b.body for b in report.bodies)]
    rows = [names]
    for figure in FIGURES:
        values = [getattr(b, figure) for b in report.bodies]
        rows.append([figure, *("-" if v is None else str(v) for v in values)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(names))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(head + lines) + "\n"


def main(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_report(args.year))
    except InvalidInput as exc:
        sys.stderr.write(f"--year: {'; '.join(rule for _, rule in exc.problems)}\n")
        return 2
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        sys.stderr.write(f"the registry is unavailable: {exc}; is the stack running?\n")
        return 4
    sys.stdout.write(reports.as_csv([report]) if args.csv else text(report))
    return 0

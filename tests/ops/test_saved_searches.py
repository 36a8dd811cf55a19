"""Every saved search of docs/ops.md, run on the dev server against the seeded cases,
returns exactly the dossiers it should."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from ops import searches
from ops.metrics import METRICS
from ops.searches import BY_NAME, SAVED_SEARCHES, STUCK_AFTER, week_of
from rules.deadlines import BRUSSELS
from rules.guards import REFUSAL_FINAL_AFTER_DAYS
from tests.ops.conftest import Seeded, UiServer, eventually
from tests.workflows.harness import ORG, OTHER_ORG

pytestmark = pytest.mark.devserver


async def run(server: UiServer, name: str, expected: set[str], **params: object) -> None:
    query = BY_NAME[name].query(**params)  # type: ignore[arg-type]

    async def ids() -> set[str]:
        return {wf.id async for wf in server.client.list_workflows(query)}

    found = await eventually(ids, lambda got: got == expected)
    assert found == expected, f"{name}: {query}"


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=BRUSSELS)


async def test_waiting_for_a_reviewer_of_a_body(ops_server: UiServer, seeded: Seeded) -> None:
    await run(
        ops_server,
        "waiting-for-reviewer",
        {seeded.voc_review, seeded.other_provider},
        body="VOC",
    )
    await run(ops_server, "waiting-for-reviewer", {seeded.pc200_review}, body="pc 200")
    await run(ops_server, "waiting-for-reviewer", set(), body="PC 118")


async def test_appeals_past_their_60_day_deadline(ops_server: UiServer, seeded: Seeded) -> None:
    await run(ops_server, "appeals-overdue", {seeded.overdue})


async def test_appeal_windows_closing_this_week(ops_server: UiServer, seeded: Seeded) -> None:
    refused_week = week_of(noon(seeded.refused_window.last_day))
    soon_week = week_of(noon(seeded.soon_window.last_day))
    assert refused_week != soon_week  # the seeds are ~20 days apart
    # The week each window closes in finds that case only (the other is refused or
    # removal-scheduled, so both kinds of appeal window are covered).
    await run(
        ops_server,
        "appeal-windows-this-week",
        {seeded.refused},
        now=noon(seeded.refused_window.last_day),
    )
    # Monday morning of that week and its Sunday evening still count; the next Monday not.
    monday = refused_week[0] + timedelta(hours=8)
    await run(
        ops_server,
        "appeal-windows-this-week",
        {seeded.window_soon},
        now=noon(seeded.soon_window.last_day),
    )
    await run(ops_server, "appeal-windows-this-week", {seeded.refused}, now=monday)
    await run(
        ops_server,
        "appeal-windows-this-week",
        set(),
        now=refused_week[1] + timedelta(minutes=1),
    )
    # Today: neither closes this week (10 and 30 days away).
    await run(ops_server, "appeal-windows-this-week", set(), now=datetime.now(UTC))


async def test_removals_due_this_year(ops_server: UiServer, seeded: Seeded) -> None:
    year = seeded.today.year
    await run(
        ops_server,
        "removals-this-year",
        {seeded.removal_this_year}
        | ({seeded.window_soon} if seeded.soon_removal.last_day.year == year else set()),
        now=noon(seeded.today),
    )
    next_year = seeded.soon_removal.last_day.year
    await run(
        ops_server,
        "removals-this-year",
        {seeded.window_soon} | ({seeded.removal_this_year} if next_year == year else set()),
        now=noon(seeded.soon_removal.last_day),
    )


async def test_cases_of_one_provider(ops_server: UiServer, seeded: Seeded) -> None:
    await run(ops_server, "cases-of-provider", {seeded.other_provider}, provider="0203.201.340")
    # Running and ended cases, each once (not the runs they continued as new from).
    await run(ops_server, "cases-of-provider", seeded.of_main_provider, provider=ORG)
    assert ORG != OTHER_ORG


async def test_failed_or_stuck(ops_server: UiServer, seeded: Seeded) -> None:
    def stuck(now: datetime) -> set[str]:
        """The terminated case, and each case whose next deadline passed over an hour
        before `now` (from December on, this year's 31 December removal is one of them
        when the refused case's window closes next year); a refused case only an hour
        after its refusal became final (its window's end plus the grace for appeals
        e-mailed in time): till then it waits on purpose."""
        deadlines = seeded.next_deadlines()
        grace = {seeded.refused: timedelta(days=REFUSAL_FINAL_AFTER_DAYS)}
        return {seeded.terminated} | {
            d
            for d, deadline in deadlines.items()
            if deadline.due_at + grace.get(d, timedelta(0)) < now - STUCK_AFTER
        }

    await run(ops_server, "failed-or-stuck", {seeded.terminated}, now=datetime.now(UTC))
    # Seen from just after the refused case's refusal should have become final: if its case
    # still shows that deadline then (no worker took the timer), it is stuck, as is the case
    # whose window closed earlier; one whose deadline passed less than an hour ago is not.
    final = seeded.refused_window.due_at + timedelta(days=REFUSAL_FINAL_AFTER_DAYS)
    late = final + STUCK_AFTER + timedelta(minutes=1)
    assert {seeded.refused, seeded.window_soon} <= stuck(late)
    await run(ops_server, "failed-or-stuck", stuck(late), now=late)
    early = final + STUCK_AFTER - timedelta(minutes=1)
    assert seeded.refused not in stuck(early) and seeded.window_soon in stuck(early)
    await run(ops_server, "failed-or-stuck", stuck(early), now=early)


async def test_a_refused_case_is_not_stuck_while_its_refusal_waits_to_become_final(
    ops_server: UiServer, seeded: Seeded
) -> None:
    """Its window closed over an hour ago, yet the case waits on purpose (an appeal
    e-mailed in time can still be registered): no alarm until the refusal is final. Found
    by the ten-year simulation (bench/decade): every refusal raised the failed-or-stuck
    alarm for four days."""
    for after in (STUCK_AFTER + timedelta(minutes=1), timedelta(days=REFUSAL_FINAL_AFTER_DAYS)):
        now = seeded.refused_window.due_at + after
        found = await ops_server.env.client.count_workflows(
            f"({searches.failed_or_stuck(now)}) AND WorkflowId = '{seeded.refused}'"
        )
        assert found.count == 0, after


async def test_the_worklists_searches(ops_server: UiServer, seeded: Seeded) -> None:
    """The searches behind the worklists (tests/worklists/ checks their order and paging)."""
    await run(ops_server, "waiting-for-bec", {seeded.overdue})
    await run(ops_server, "appeals-without-document", {seeded.overdue})
    await run(
        ops_server,
        "appeal-windows-of-provider",
        {seeded.refused, seeded.window_soon},
        provider=ORG,
    )
    await run(ops_server, "appeal-windows-of-provider", set(), provider=OTHER_ORG)


def test_every_saved_search_is_tested() -> None:
    tested = {
        "waiting-for-bec",
        "appeals-without-document",
        "appeal-windows-of-provider",
        "waiting-for-reviewer",
        "appeals-overdue",
        "appeal-windows-this-week",
        "removals-this-year",
        "cases-of-provider",
        "failed-or-stuck",
    }
    assert {s.name for s in SAVED_SEARCHES} == tested


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("waiting-for-reviewer", {}, "waiting-for-reviewer: needs body"),
        ("waiting-for-reviewer", {"body": "ABC"}, "body: 'ABC' is not a competent body"),
        ("cases-of-provider", {"provider": "0123456748"}, "provider: enterprise number"),
        ("removals-this-year", {"now": datetime(2026, 5, 1)}, "now: give a timezone-aware"),
    ],
)
def test_bad_parameters_are_named(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BY_NAME[name].query(**params)  # type: ignore[arg-type]


def test_the_ops_page_documents_the_searches_and_metrics_as_coded() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "ops.md").read_text(encoding="utf-8")
    example = datetime(2027, 3, 10, 9, 0, tzinfo=BRUSSELS)
    for s in SAVED_SEARCHES:
        query = s.query(now=example, body="PC 200", provider="0123.456.749")
        assert f"`{s.name}" in page, s.name
        assert f"`{query}`" in page, f"docs/ops.md shows another filter for {s.name}: {query}"
    for metric in METRICS:
        assert f"`{metric.name}`" in page, metric.name


async def test_the_command_line_runs_a_saved_search(ops_server: UiServer, seeded: Seeded) -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": ops_server.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": ops_server.client.namespace,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops",
        "find",
        "waiting-for-reviewer",
        "--body",
        "PC 200",
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == [seeded.pc200_review, "RUNNING", "under_review"]

"""The simulation's oracle (bench/decade/oracle.py) stands apart from the system's rules:
it imports nothing of the project, gives the dates worked out by hand, and agrees with
`rules/` on every day of the decade (a disagreement is a defect in one of the two)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from bench.decade import figures, oracle
from bench.decade.world import Dossier, Notice, World
from rules import deadlines, screening

PROJECT_PACKAGES = {"rules", "models", "workflows", "registry", "activities", "starter",
                    "runtime", "ops", "devstack", "worker"}  # fmt: skip


def test_the_oracle_imports_nothing_of_the_project() -> None:
    code = (
        "import json, sys; import bench.decade.oracle; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert not [m for m in loaded if m.split(".")[0] in PROJECT_PACKAGES]


@pytest.mark.parametrize(
    ("received", "days", "last"),
    [
        # +30 is Easter Sunday 2027, the Monday is Easter Monday: Tuesday.
        (date(2027, 2, 26), 30, date(2027, 3, 30)),
        # +30 is Saturday 1 May (Labour Day too): Monday 3 May.
        (date(2027, 4, 1), 30, date(2027, 5, 3)),
        # +60 is Ascension Thursday 6 May 2027: Friday.
        (date(2027, 3, 7), 60, date(2027, 5, 7)),
        # +30 is Saturday 25 December 2027 (Christmas): Monday 27 December.
        (date(2027, 11, 25), 30, date(2027, 12, 27)),
        # A leap year: 30 days from 30 January 2028 is 29 February (a Tuesday).
        (date(2028, 1, 30), 30, date(2028, 2, 29)),
        # +30 is a plain Wednesday.
        (date(2027, 3, 1), 30, date(2027, 3, 31)),
        # +30 is Whit Monday 2029 (21 May): Tuesday.
        (date(2029, 4, 21), 30, date(2029, 5, 22)),
    ],
)
def test_the_oracles_last_days_worked_out_by_hand(received: date, days: int, last: date) -> None:
    assert oracle.last_day(received, days) == last


def test_the_oracles_day_ends_in_brussels_across_clock_changes() -> None:
    # The night summer time starts (28 March 2027, 02:00 -> 03:00) and ends (31 October).
    assert oracle.end_of(date(2027, 3, 27)) == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert oracle.end_of(date(2027, 3, 28)) == datetime(2027, 3, 28, 22, 0, tzinfo=UTC)
    assert oracle.end_of(date(2027, 10, 30)) == datetime(2027, 10, 30, 22, 0, tzinfo=UTC)
    assert oracle.end_of(date(2027, 10, 31)) == datetime(2027, 10, 31, 23, 0, tzinfo=UTC)
    assert oracle.removal_day(date(2027, 1, 15)) == date(2028, 12, 31)
    assert len(oracle.clock_changes(2027, 2036)) == 20
    assert oracle.leap_years(2027, 2036) == [2028, 2032, 2036]


def test_the_oracle_and_the_rules_agree_on_every_day_of_the_decade() -> None:
    day, end = date(2026, 1, 1), date(2037, 12, 31)
    wrong: list[str] = []
    while day <= end:
        window = deadlines.appeal_window(day)
        bec = deadlines.bec_decision_deadline(day)
        removal = deadlines.removal_after_negative_screening(day)
        mine = (oracle.appeal_last_day(day), oracle.bec_last_day(day), oracle.removal_day(day))
        theirs = (window.last_day, bec.last_day, removal.last_day)
        if mine != theirs or window.due_at != oracle.end_of(window.last_day):
            wrong.append(f"{day}: oracle {mine}, rules {theirs}")
        if oracle.first_screening_year(day) != screening.first_screening_year(day):
            wrong.append(f"{day}: first screening year differs")
        day += timedelta(days=1)
    assert wrong == []


def test_the_decades_own_count_of_the_figures_imports_nothing_of_the_project() -> None:
    code = (
        "import json, sys; import bench.decade.figures; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert not [m for m in loaded if m.split(".")[0] in PROJECT_PACKAGES]


def test_the_decades_percentiles_are_values_that_occurred_worked_out_by_hand() -> None:
    assert figures.percentile([11, 4, 9, 6], 0.5) == 6  # the lower middle
    assert figures.percentile([3, 1, 2], 0.5) == 2
    assert figures.percentile(list(range(1, 11)), 0.9) == 9
    assert figures.percentile(list(range(1, 12)), 0.9) == 10
    assert figures.percentile([], 0.5) is None


def test_the_decade_counts_a_year_of_two_dossiers_as_worked_out_by_hand() -> None:
    world = World()
    at = datetime(2027, 3, 1, 9, tzinfo=UTC)
    world.add(Dossier("ODB-2027-000001", 0, "p", "VOC", at, reviewed_on=date(2027, 5, 10),
                      review="refused", refusal_last_day=date(2027, 6, 14)))  # fmt: skip
    b = world.add(Dossier("ODB-2027-000002", 1, "p", "PC 200", at, reviewed_on=date(2027, 3, 5),
                          review="approved", start=date(2027, 3, 5)))  # fmt: skip
    b.screenings[2027] = "failed"
    b.removal_on = date(2028, 12, 31)
    got = figures.expected(world, 2027, date(2027, 12, 31))
    assert got["all"]["received"] == 2 and got["all"]["decisions"] == 2
    assert got["VOC"]["refused"] == 1 and got["PC 200"]["approved"] == 1
    # 1 March -> 10 May is 70 days (past the norm of 60), -> 5 March 4 days.
    assert got["all"]["decision_days_max"] == 70 and got["all"]["decision_days_median"] == 4
    assert got["all"]["decided_within_norm"] == 1
    assert got["VOC"]["refusals_final"] == 1  # its window lapsed without an appeal
    assert got["PC 200"]["screening_failed"] == 1 and got["PC 200"]["removals"] == 0
    assert got["all"]["registered_first_day"] == 0 and got["all"]["registered_last_day"] == 1
    assert figures.expected(world, 2028, date(2028, 12, 31))["PC 200"]["removals"] == 1


def test_the_decade_bounds_the_notices_sent_late_by_its_own_outages() -> None:
    world = World()
    at = datetime(2027, 3, 1, 9, tzinfo=UTC)
    world.add(Dossier("ODB-2027-000001", 0, "p", "VOC", at))
    world.add(Dossier("ODB-2027-000002", 1, "p", "PC 200", at))
    down, up = datetime(2027, 6, 1, 8, tzinfo=UTC), datetime(2027, 6, 1, 10, tzinfo=UTC)
    world.outages.append((down, up))
    minute = timedelta(minutes=1)

    def queued(dossier: str, when: datetime, copies: int = 1) -> None:
        body = world.dossiers[dossier].body
        world.notices.append(Notice(dossier, body, "k", when - minute, when + minute, copies))

    queued("ODB-2027-000001", down + timedelta(minutes=10))  # waits 1 h 50: late for sure
    queued("ODB-2027-000001", up - timedelta(minutes=30))  # waits 30 min: in time
    queued("ODB-2027-000002", up - timedelta(hours=1), copies=2)  # at the boundary: either
    queued("ODB-2027-000002", datetime(2027, 7, 1, 9, tzinfo=UTC))  # no outage: in time
    got = figures.notice_bounds(world, 2027)
    assert got["VOC"] == {"notices_sent": (2, 2), "notices_sent_late": (1, 1)}
    assert got["PC 200"] == {"notices_sent": (3, 3), "notices_sent_late": (0, 2)}
    assert got["all"] == {"notices_sent": (5, 5), "notices_sent_late": (1, 3)}
    assert figures.notice_bounds(world, 2028)["all"] == {
        "notices_sent": (0, 0), "notices_sent_late": (0, 0)}  # fmt: skip
    report = {"bodies": [{"body": "all", "notices_sent": 5, "notices_sent_late": 4}]}
    outside = list(figures.out_of_bounds(got, report))
    assert ("all", "notices_sent_late", 4, (1, 3)) in outside
    # A worker stopped while a notice may wait to go out: it may be late too.
    world.worker_stops.append(datetime(2027, 7, 1, 9, 1, tzinfo=UTC))
    assert figures.notice_bounds(world, 2027)["PC 200"]["notices_sent_late"] == (0, 3)

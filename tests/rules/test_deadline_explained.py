"""How a deadline was counted, in words a provider reads on the dossier page
(rules.deadlines.explain): pure, no servers."""

from __future__ import annotations

from datetime import date

from rules.deadlines import appeal_window, bec_decision_deadline, explain
from rules.deadlines import removal_after_negative_screening as removal


def test_a_window_ending_on_a_working_day_names_the_start_and_the_last_day() -> None:
    assert (
        explain(appeal_window(date(2027, 6, 8))) == "30 dagen na 8 juni 2027: donderdag 8 juli 2027"
    )


def test_a_window_ending_in_a_weekend_says_where_it_moved_and_why() -> None:
    assert explain(appeal_window(date(2027, 6, 10))) == (
        "30 dagen na 10 juni 2027, verschoven naar maandag 12 juli 2027 wegens "
        "zaterdag 10 juli 2027 (weekend) en zondag 11 juli 2027 (weekend)"
    )


def test_a_window_ending_on_a_public_holiday_names_the_holiday() -> None:
    assert explain(appeal_window(date(2027, 6, 21))) == (
        "30 dagen na 21 juni 2027, verschoven naar donderdag 22 juli 2027 wegens "
        "woensdag 21 juli 2027 (Nationale feestdag, een wettelijke feestdag)"
    )


def test_the_bec_deadline_is_counted_in_its_own_days() -> None:
    assert explain(bec_decision_deadline(date(2027, 1, 4))).startswith("60 dagen na 4 januari 2027")


def test_a_removal_names_the_notice_and_the_31st_of_december_after() -> None:
    assert explain(removal(date(2027, 3, 3))) == (
        "negatieve screening gemeld op 3 maart 2027: verwijderd na 31 december van het jaar "
        "daarna, zondag 31 december 2028"
    )

"""How a deadline was counted, in words (rules.deadlines.explain): the same count the case
used, with the move over a weekend or a holiday named."""

from __future__ import annotations

from datetime import date

from rules.deadlines import appeal_window, bec_decision_deadline, explain


def test_sixty_days_without_a_move_names_start_and_last_day() -> None:
    deadline = bec_decision_deadline(date(2029, 12, 20))
    assert explain(deadline.kind, deadline.starts_on, deadline.last_day) == (
        "60 dagen na 20 december 2029: maandag 18 februari 2030"
    )


def test_a_window_ending_on_a_holiday_says_where_it_moved_and_why() -> None:
    window = appeal_window(date(2029, 3, 3))
    assert explain(window.kind, window.starts_on, window.last_day) == (
        "30 dagen na 3 maart 2029: maandag 2 april 2029, verschoven naar dinsdag 3 april 2029 "
        "wegens Paasmaandag (wettelijke feestdag)"
    )


def test_a_window_ending_on_a_weekend_moves_to_monday() -> None:
    window = appeal_window(date(2029, 3, 16))  # + 30 = Sunday 15 April 2029
    assert explain(window.kind, window.starts_on, window.last_day) == (
        "30 dagen na 16 maart 2029: zondag 15 april 2029, verschoven naar maandag 16 april 2029 "
        "wegens het weekend"
    )


def test_a_last_day_the_rule_does_not_give_is_stated_as_kept() -> None:
    text = explain("appeal_window", date(2029, 3, 16), date(2029, 4, 20))
    assert text.endswith("vastgelegd als laatste dag: vrijdag 20 april 2029")

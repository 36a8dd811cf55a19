"""Dates and numbers on the pages the Flemish way: the weekday first, Brussels time, a dot
between thousands, a comma before a fraction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from models.dutch import dutch_long_date, dutch_number
from starter.web.render import datum, datumtijd, getal, ondernemingsnummer


def test_a_day_is_written_with_its_weekday_in_dutch() -> None:
    assert dutch_long_date(date(2027, 11, 29)) == "maandag 29 november 2027"
    assert dutch_long_date(date(2030, 2, 18)) == "maandag 18 februari 2030"


def test_a_moment_is_shown_as_its_day_and_time_in_brussels() -> None:
    late_evening_utc = datetime(2027, 11, 30, 23, 30, tzinfo=UTC)  # 00.30 in Brussels
    assert datum(late_evening_utc) == "woensdag 1 december 2027"
    assert datumtijd(late_evening_utc) == "woensdag 1 december 2027 om 00.30 uur"
    summer = datetime(2027, 7, 1, 12, 5, tzinfo=UTC)  # CEST: two hours ahead
    assert datumtijd(summer) == "donderdag 1 juli 2027 om 14.05 uur"


def test_numbers_group_thousands_with_a_dot_and_fractions_with_a_comma() -> None:
    assert dutch_number(1234) == "1.234"
    assert dutch_number(1234567) == "1.234.567"
    assert dutch_number(-1234) == "-1.234"
    assert getal(Decimal("40.00")) == "40"
    assert getal(Decimal("12.50")) == "12,5"
    assert getal(Decimal("1234.25")) == "1.234,25"


def test_an_enterprise_number_is_written_as_the_kbo_writes_it() -> None:
    assert ondernemingsnummer("0123456749") == "0123.456.749"

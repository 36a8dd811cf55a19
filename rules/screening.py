"""Pure rules of the yearly screening: which year's screening a training is first due in.

The screening of year Y judges the data of year Y-1, so it covers the trainings whose
registration started on or before 1 January of Y-1 (they were registered for all of Y-1);
a later one is "not yet due" that year. The registry's population query applies the same
rule through the SQL function `odb_first_screening_year` (migrations/0102), and a test
checks the two agree day by day.
"""

from __future__ import annotations

from datetime import date


def data_year(screening_year: int) -> int:
    """The calendar year whose activity a screening judges."""
    return screening_year - 1


def first_screening_year(registered_from: date) -> int:
    """The first screening year Y with `registered_from` on or before 1 January of Y-1."""
    on_new_years_day = (registered_from.month, registered_from.day) == (1, 1)
    return registered_from.year + (1 if on_new_years_day else 2)


def is_due(registered_from: date, screening_year: int) -> bool:
    return first_screening_year(registered_from) <= screening_year


def registration_start(own: date, predecessor: date | None) -> date:
    """Where a training's registration history starts. A resubmitted training (the
    successor of a registered one, same provider) continues its predecessor's history
    rather than starting over; `predecessor` is that predecessor's own registration start
    (itself already continued from its predecessor), None when there is none or it was
    never registered."""
    return own if predecessor is None else min(own, predecessor)

"""The department's watch and care beyond the providers register, as service functions for
its web pages, over the same registry code the ops commands run (`python -m ops retention
--hold/--release`, `python -m ops stuck`, `python -m starter screen status`). Each checks
the department role once, here."""

from __future__ import annotations

import asyncpg

from models.identity import Actor
from models.retention import HoldInput
from registry import activity_watch, screening
from registry import retention as retention_repo
from registry.errors import InvalidInput
from rules import guards
from starter.client import CaseService


async def holds(service: CaseService, actor: Actor) -> list[asyncpg.Record]:
    """The dossiers kept whole (dossier, reason, held_by, held_at), by dossier number."""
    guards.department_staff(
        actor, "list the retention holds", "de bewaringen van dossiers bekijken"
    )
    return await service._db(retention_repo.holds)


async def hold(service: CaseService, actor: Actor, inp: HoldInput) -> bool:
    """Keeps the dossier whole until released; False when it already was (nothing
    changes: a resent form places one hold). An unknown dossier: InvalidInput naming it."""
    guards.department_staff(actor, "place a retention hold", "een dossier in bewaring houden")
    try:
        return await service._db(
            lambda conn: retention_repo.hold(conn, inp.dossier, inp.reason, actor.subject)
        )
    except asyncpg.ForeignKeyViolationError:
        raise InvalidInput([("dossier", f"there is no dossier {inp.dossier}")]) from None


async def release(service: CaseService, actor: Actor, dossier: str) -> bool:
    """The next purge applies the retention table to it again; False: it was not held."""
    guards.department_staff(actor, "release a retention hold", "een bewaring opheffen")
    return await service._db(lambda conn: retention_repo.release(conn, dossier))


async def screening_runs(service: CaseService, actor: Actor) -> list[screening.RunProgress]:
    guards.department_staff(
        actor, "follow the yearly screening", "de jaarlijkse screening opvolgen"
    )
    return await service._db(screening.runs)


async def screening_outcomes(
    service: CaseService, actor: Actor, year: int, after: str, limit: int
) -> tuple[int, list[screening.TrainingOutcome], bool]:
    guards.department_staff(
        actor, "follow the yearly screening", "de jaarlijkse screening opvolgen"
    )
    return await service._db(lambda conn: screening.outcomes_page(conn, year, after, limit))


async def stuck_activities(service: CaseService, actor: Actor) -> list[activity_watch.Stuck]:
    """Activities (of cases and screenings) that keep failing and are still retried."""
    guards.department_staff(
        actor, "see the failing activities", "de mislukkende activiteiten bekijken"
    )
    return await service._db(activity_watch.listing)

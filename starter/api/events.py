"""`GET /events?after=<cursor>&limit=N`: the events feed for pull consumers (issue 14).

The cursor is the feed's sequence number (a decimal string; `next_cursor` is the last event's
CloudEvents `sequence`, zero-padded to 19 digits, and leading zeros are optional on the way
in): the registry commits events in sequence order (registry/events.py), so "everything
after n" never changes once read, and the number stays valid across restarts. The portal
stores the last `next_cursor` and asks again from it after its own outage. A provider user
reads the events of its organisation's dossiers, a reviewer those of its body's, the BEC and
the department all of them.
No `from __future__ import annotations`: FastAPI reads the live annotations.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from models.events import SEQUENCE_DIGITS, EventPage
from models.identity import Actor, RoleKind
from registry import events
from starter.api import access
from starter.api.problems import PROBLEM_RESPONSES
from starter.client import CaseService

CURSOR_PATTERN = rf"^[0-9]{{1,{SEQUENCE_DIGITS}}}$"
MAX_SEQ = 2**63 - 1  # a larger cursor (19 nines) is past every event: an empty page


def events_router(current_actor: object) -> APIRouter:
    """The router; `current_actor` is the API's token dependency (starter/api/app.py)."""
    router = APIRouter(responses=PROBLEM_RESPONSES)

    @router.get(
        "/events",
        response_model=EventPage,
        tags=["events"],
        summary="Events (CloudEvents 1.0) after a cursor, in the feed's total order",
    )
    async def read_events(
        request: Request,
        actor: Annotated[Actor, Depends(current_actor)],
        after: Annotated[
            str,
            Query(
                pattern=CURSOR_PATTERN,
                description="the `next_cursor` of the previous page (the last event's "
                "`sequence`; leading zeros optional); 0 (default): from the start",
            ),
        ] = "0",
        limit: Annotated[int, Query(ge=1, le=500, description="events per page")] = 100,
    ) -> EventPage:
        everything = actor.has(RoleKind.BEC) or actor.has(RoleKind.DEPARTMENT)
        provider = actor.organisation if actor.has(RoleKind.PROVIDER) else None
        bodies = tuple(r.body for r in actor.roles if r.kind == RoleKind.REVIEWER and r.body)
        if not (everything or provider or bodies):
            raise access.forbidden(
                "only provider users (their organisation's dossiers), reviewers (their "
                "body's), the BEC and the department read events"
            )
        service: CaseService = request.app.state.service
        page = await service._db(
            lambda conn: events.feed(
                conn,
                min(int(after), MAX_SEQ),
                limit,
                everything=everything,
                provider=provider,
                bodies=bodies,
            )
        )
        cursor = page[-1].sequence if page else after
        return EventPage(events=page, next_cursor=cursor)

    return router

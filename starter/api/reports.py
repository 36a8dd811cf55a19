"""The department's figures (issue 30): `GET /reports/{year}` for the department, as JSON or
as CSV (`Accept: text/csv`), and every year's figures per body as open data
(`GET /open-data/figures.csv`): counts and days, no personal data."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from models.identity import Actor
from models.report import YearReport
from registry.reports import as_csv
from rules import guards
from starter.api.problems import PROBLEM_RESPONSES
from starter.client import CaseService

CSV = "text/csv"

YearPath = Annotated[
    int, Path(ge=1000, le=9999, description="the calendar year (Europe/Brussels), e.g. 2027")
]


def _service(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def wants_csv(accept: str | None) -> bool:
    """CSV when the asker names it before (or without) JSON."""
    kinds = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    return CSV in kinds and (
        "application/json" not in kinds or kinds.index(CSV) < kinds.index("application/json")
    )


def router(actor_dependency: Any) -> APIRouter:
    routes = APIRouter(responses=PROBLEM_RESPONSES, tags=["reports"])
    ActorDep = Annotated[Actor, Depends(actor_dependency)]
    ServiceDep = Annotated[CaseService, Depends(_service)]

    @routes.get(
        "/reports/{year}",
        response_model=YearReport,
        summary="The department's figures of a year, per competent body (department); "
        "CSV with Accept: text/csv",
        responses={200: {"content": {CSV: {}}}},
    )
    async def year_report(
        year: YearPath,
        actor: ActorDep,
        service: ServiceDep,
        accept: Annotated[str | None, Header()] = None,
    ) -> Any:
        guards.department_staff(
            actor, "read the department's figures", "de cijfers van het departement bekijken"
        )
        found = await service.year_reports([year])
        if wants_csv(accept):
            return _csv(as_csv(found), f"figures-{year}.csv")
        return found[0]

    @routes.get(
        "/open-data/figures.csv",
        summary="Open data: every year's figures per competent body, as CSV (no personal data)",
        response_class=Response,
        responses={200: {"content": {CSV: {}}}},
    )
    async def figures(_: ActorDep, service: ServiceDep) -> Response:
        return _csv(as_csv(await service.year_reports()), "figures.csv")

    return routes

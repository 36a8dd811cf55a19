"""The department's figures page (/departement/cijfers): a year's figures per competent
body, its funnels, the figures over the years and the review times against the service
norm, each chart drawn on the server (starter/report_charts.py) beside a table of its
numbers. The same figures as
GET /reports/{year} (CaseService.year_reports); the department only."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from models.identity import Actor, RoleKind
from models.report import FIGURES, YearReport
from registry.errors import InvalidInput
from starter import report_charts
from starter.client import CaseService
from starter.web.errors import forbidden, not_found
from starter.web.render import page
from starter.web.services import service_of
from starter.web.signin import require_user

# The figures of every year, computed once for a page and its charts (the page and its four
# images ask within a second): a minute old at most, said on the page.
CACHE_SECONDS = 60.0
CHARTS: dict[str, Callable[[YearReport, list[YearReport]], report_charts.Chart]] = {
    "aanvragen": lambda year, _: report_charts.funnels(year)[0],
    "screening": lambda year, _: report_charts.funnels(year)[1],
    "verloop": lambda _, years: report_charts.over_the_years(years),
    "beoordelingstijd": lambda year, _: report_charts.review_times(year),
}
LABELS: dict[str, str] = {
    "received": "Ingediende aanvragen",
    "decisions": "Beslissingen van de beoordelaars",
    "approved": "Goedgekeurd",
    "refused": "Geweigerd",
    "decision_days_median": "Dagen tot de beslissing: mediaan",
    "decision_days_p90": "Dagen tot de beslissing: 90e percentiel",
    "decision_days_max": "Dagen tot de beslissing: langste",
    "decided_within_norm": "Beslist binnen de servicenorm",
    "within_norm_share": "Aandeel binnen de servicenorm",
    "appeals_received": "Beroepen ontvangen door de BEC",
    "appeals_against_refusal": "Beroepen tegen een weigering",
    "appeals_against_screening": "Beroepen tegen een negatieve screening",
    "appeals_granted": "Beroepen gegrond",
    "appeals_rejected": "Beroepen ongegrond",
    "appeals_overdue": "Beroepen over de termijn van 60 dagen",
    "bec_days_median": "Dagen tot de beslissing van de BEC: mediaan",
    "bec_days_p90": "Dagen tot de beslissing van de BEC: 90e percentiel",
    "screened": "Gescreend",
    "screening_passed": "Screening positief",
    "screening_failed": "Screening negatief",
    "screening_incomplete": "Screening onvolledig (negatief)",
    "removals": "Geschrapt na een negatieve screening",
    "resubmissions": "Opnieuw ingediend",
    "resubmitted_after_refusal": "Opnieuw ingediend na een weigering",
    "resubmitted_after_screening": "Opnieuw ingediend na een negatieve screening",
    "resubmissions_approved": "Opnieuw ingediend: geregistreerd",
    "resubmissions_refused": "Opnieuw ingediend: geweigerd",
    "resubmissions_withdrawn": "Opnieuw ingediend: ingetrokken",
    "resubmissions_open": "Opnieuw ingediend: nog niet beslist",
    "withdrawals": "Ingetrokken aanvragen",
    "stops": "Stopgezette registraties",
    "revocations": "Ingetrokken registraties (departement)",
    "refusals_final": "Weigeringen definitief (geen beroep)",
    "registered_first_day": "Geregistreerd op 1 januari",
    "registered_last_day": "Geregistreerd op de laatste dag",
    "notices_sent": "Verstuurde e-mails",
    "notices_sent_late": "E-mails laat verstuurd (storing)",
}
_cache: dict[int, tuple[float, list[YearReport]]] = {}
# Drawn once per computation of the figures: (that computation, year, chart) -> chart.
_drawn: dict[tuple[int, int, str], report_charts.Chart] = {}


async def every_year(service: CaseService) -> list[YearReport]:
    """The figures of every year of the register, from one snapshot (cached a minute)."""
    key = id(service)
    found = _cache.get(key)
    if found is not None and time.monotonic() - found[0] < CACHE_SECONDS:
        return found[1]
    reports = await service.year_reports()
    _cache[key] = (time.monotonic(), reports)
    _drawn.clear()
    return reports


def drawn(years: list[YearReport], year: YearReport, chart: str) -> report_charts.Chart:
    """The chart of `year` from the figures of `years`, drawn once while they are cached."""
    key = (id(years), year.year, chart)
    found = _drawn.get(key)
    if found is None:
        found = _drawn[key] = CHARTS[chart](year, years)
    return found


def _department(request: Request) -> Actor | Response:
    actor = require_user(request)
    if not actor.has(RoleKind.DEPARTMENT):
        return forbidden(request, "Deze pagina is voor het departement WSE.")
    return actor


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/departement/cijfers")
    async def figures(request: Request, jaar: int | None = None) -> Response:
        actor = _department(request)
        if isinstance(actor, Response):
            return actor
        service = service_of(request)
        years = await every_year(service)
        year = jaar if jaar is not None else years[-1].year
        chosen = next((r for r in years if r.year == year), None)
        if chosen is None:
            try:  # the registry's own rule decides which years have figures
                await service.year_reports([year])
            except InvalidInput:
                problem = (
                    f"Er zijn geen cijfers van {year}: het register heeft cijfers van "
                    f"{years[0].year} tot en met {years[-1].year}."
                )
                return page(
                    request,
                    "department/figures.html",
                    {
                        "title": "Cijfers",
                        "problem": problem,
                        "report": None,
                        "years": years,
                        "year": year,
                    },
                    status=422,
                )
            chosen = years[-1]
        charts = {key: drawn(years, chosen, key) for key in CHARTS}
        return page(
            request,
            "department/figures.html",
            {
                "title": f"Cijfers {chosen.year}",
                "problem": None,
                "report": chosen,
                "years": years,
                "year": chosen.year,
                "labels": LABELS,
                "figures": FIGURES,
                "charts": charts,
            },
        )

    @routes.get("/departement/cijfers/{year}/{chart}.svg")
    async def chart_svg(request: Request, year: int, chart: str) -> Response:
        actor = _department(request)
        if isinstance(actor, Response):
            return actor
        years = await every_year(service_of(request))
        chosen = next((r for r in years if r.year == year), None)
        if chosen is None or chart not in CHARTS:
            return not_found(request)
        return Response(drawn(years, chosen, chart).svg, media_type="image/svg+xml")

    return routes

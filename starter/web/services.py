"""What a page handler takes from the application: the one `CaseService` (the same service
functions the API's routes call)."""

from __future__ import annotations

from starlette.requests import Request

from starter.client import CaseService


def service_of(request: Request) -> CaseService:
    service: CaseService = request.app.state.service
    return service

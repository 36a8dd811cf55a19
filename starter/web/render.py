"""Templates and the Flemish way of writing dates and numbers. One template per page under
starter/web/templates; every page extends base.html (skip link, header, main, footer)."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from models.dutch import dutch_long_date, dutch_number
from starter.web import labels
from starter.web.labels import label

BRUSSELS = ZoneInfo("Europe/Brussels")
TEMPLATES = Path(__file__).parent / "templates"


def datum(value: date | datetime | None) -> str:
    """`maandag 30 november 2027`; a moment is shown as its day in Brussels."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BRUSSELS).date()
    return dutch_long_date(value)


def datumtijd(value: datetime | None) -> str:
    """`maandag 30 november 2027 om 14.05 uur` (Brussels time)."""
    if value is None:
        return ""
    local = value.astimezone(BRUSSELS)
    return f"{dutch_long_date(local.date())} om {local:%H.%M} uur"


def getal(value: int | float | Decimal | None) -> str:
    """`1.234`; a fraction with a comma: `12,5`."""
    if value is None:
        return ""
    if value == int(value):
        return dutch_number(int(value))
    whole, _, fraction = f"{value:.2f}".rstrip("0").partition(".")
    return f"{dutch_number(int(whole))},{fraction}"


def ondernemingsnummer(value: str | None) -> str:
    """`0123.456.749`, as the KBO writes it."""
    text = value or ""
    return f"{text[:4]}.{text[4:7]}.{text[7:]}" if len(text) == 10 else text


def new_key() -> str:
    """The idempotency key of one rendered form: a double click or a resent form carries the
    same key and so makes one decision (starter/acting.py)."""
    return secrets.token_urlsafe(18)


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    datum=datum,
    datumtijd=datumtijd,
    getal=getal,
    ondernemingsnummer=ondernemingsnummer,
    eenheid=lambda v: label(labels.VOLUME_UNIT, v),
    toestand=lambda v: label(labels.STATE, v),
    stap=lambda v: label(labels.EVENT, v),
    mail=lambda v: label(labels.EMAIL, v),
    mailstatus=lambda v: label(labels.EMAIL_STATUS, v),
    uitkomst=lambda v: label(labels.OUTCOME, v),
    wie=lambda v: labels.who(str(v)),
)
ENV.globals.update(new_key=new_key)


def page(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """A page: the template with the signed-in user, the session's CSRF token and the
    page's own context."""
    from starter.web.signin import csrf_token, signed_in

    base: dict[str, Any] = {
        "request": request,
        "user": signed_in(request),
        "csrf": csrf_token(request),
        "here": request.url.path,
        "errors": [],
        "field_errors": {},
        "values": {},
        "title": "",
    }
    html = ENV.get_template(template).render({**base, **(context or {})})
    return HTMLResponse(html, status_code=status)

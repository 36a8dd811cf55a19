"""Temporal or PostgreSQL down: the page says which part is down and that nothing was lost,
and once it is back the same form decides once. A second web application over the same
registry, pointed at a dead Temporal or a dead PostgreSQL, stands in for the outage (the
browser's session is valid on it: same host, same session secret)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import expect

from devstack.ports import free_port
from runtime.settings import Settings
from starter.web.app import create_app
from tests.fixtures.api import over_http
from tests.fixtures.web import Web


@asynccontextmanager
async def web_with(web: Web, settings: Settings, *, pool: bool) -> AsyncIterator[str]:
    app = create_app(settings, client=None, pool=web.api.pool if pool else None)
    async with over_http(app) as url:
        yield url
    await app.state.service.close()


async def test_temporal_down_says_so_and_the_decision_is_made_once_it_is_back(web: Web) -> None:
    dossier = await web.api.case_in("under_review")
    dead = web.settings.temporal.model_copy(update={"address": f"127.0.0.1:{free_port()}"})
    settings = web.settings.model_copy(update={"temporal": dead})
    async with web_with(web, settings, pool=True) as down:
        page = await web.page("voc_reviewer")
        await page.goto(f"{down}/beoordelen/{dossier}")  # read from the registry: it answers
        await page.get_by_label("Goedkeuren").check()
        key = await page.locator("form[action$=beslissing] input[name=sleutel]").input_value()
        async with page.expect_response(f"{down}/beoordelen/{dossier}/beslissing") as sent:
            await page.get_by_role("button", name="Beslissing bewaren").click()
        assert (await sent.value).status == 503
        await expect(page.get_by_role("heading", level=1)).to_have_text("Tijdelijke storing")
        await expect(page.locator("main")).to_contain_text("De procesmotor (Temporal)")
        await expect(page.locator("main")).to_contain_text("Er is niets verloren gegaan")
        await web.axe(page)
    # Back: the same form (same key) sent again decides, once.
    csrf = await page.locator("input[name=csrf]").first.input_value()
    for _ in range(2):
        again = await page.request.post(
            f"{web.url}/beoordelen/{dossier}/beslissing",
            form={"csrf": csrf, "approve": "true", "reason": "", "sleutel": key},
        )
        assert again.ok
    answer = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
    assert [d["outcome"] for d in answer.json()["decisions"]] == ["approved"]


async def test_postgresql_down_says_so(web: Web) -> None:
    dead = web.settings.postgres.model_copy(
        update={"url": f"postgresql://odb@127.0.0.1:{free_port()}/odb"}
    )
    settings = web.settings.model_copy(update={"postgres": dead})
    async with web_with(web, settings, pool=False) as down:
        page = await web.page("voc_reviewer")
        answer = await page.goto(f"{down}/beoordelen")
        assert answer is not None and answer.status == 503
        await expect(page.locator("main")).to_contain_text("De databank (PostgreSQL)")
        await expect(page.locator("main")).to_contain_text("Er is niets verloren gegaan")
        await web.axe(page)

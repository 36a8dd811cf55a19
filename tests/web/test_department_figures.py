"""The department's figures page in a real browser over real servers: the year's figures
per body, its charts (SVG images drawn on the server, each beside a table of its numbers),
a year without figures and another role answered clearly, axe-core on each."""

from __future__ import annotations

from playwright.async_api import expect

from models.report import FIGURES
from starter.web.pages.figures import CHARTS, LABELS
from tests.fixtures.api import brussels_today
from tests.fixtures.web import Web


def test_every_figure_has_its_dutch_label() -> None:
    assert set(LABELS) == set(FIGURES)


async def test_the_department_sees_the_years_figures_with_its_charts_and_their_numbers(
    web: Web,
) -> None:
    await web.api.case_in("registered")
    await web.api.case_in("refused")
    page = await web.page("department")
    await page.goto(web.url + "/")  # from the department's start page, a task
    await page.get_by_role("link", name="Cijfers", exact=True).click()
    assert page.url.endswith("/departement/cijfers")
    today = brussels_today()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"Cijfers van de opleidingsdatabank {today.year}, tot nu toe"
    )
    figures = page.locator("figure.chart")
    await expect(figures).to_have_count(len(CHARTS))
    for i in range(len(CHARTS)):
        figure = figures.nth(i)
        image = figure.locator("img")
        await expect(image).to_have_attribute("alt", "")  # the table beside says it all
        drawn = await image.evaluate("img => img.complete && img.naturalWidth > 0")
        assert drawn, await image.get_attribute("src")
        await expect(figure.locator("table tbody tr").first).to_be_visible()
    received = page.get_by_role("row", name="Ingediende aanvragen")
    cells = await received.locator("td").all_inner_texts()
    assert int(cells[0].replace(".", "")) >= 2  # `Alle` first: at least today's two
    await web.axe(page)

    svg = await page.request.get(f"{web.url}/departement/cijfers/{today.year}/beoordelingstijd.svg")
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in await svg.text()


async def test_a_year_without_figures_says_which_years_have_them(web: Web) -> None:
    page = await web.page("department")
    answer = await page.goto(web.url + "/departement/cijfers?jaar=1999")
    assert answer is not None and answer.status == 422
    await expect(page.get_by_role("alert")).to_contain_text("Er zijn geen cijfers van 1999")
    await expect(page.get_by_role("navigation", name="Jaren")).to_be_visible()
    await web.axe(page)
    word = await page.goto(web.url + "/departement/cijfers?jaar=vorig")
    assert word is not None and word.status == 404


async def test_only_the_department_sees_the_figures(web: Web) -> None:
    page = await web.page("voc_reviewer")
    answer = await page.goto(web.url + "/departement/cijfers")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    await web.axe(page)
    year = brussels_today().year
    chart = await page.request.get(f"{web.url}/departement/cijfers/{year}/verloop.svg")
    assert chart.status == 403

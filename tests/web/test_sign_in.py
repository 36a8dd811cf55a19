"""Signing in to the web application through the dev OpenID provider (the production code
path): sessions, sign-out, a refused or forged callback, a form without its CSRF token."""

from __future__ import annotations

from playwright.async_api import expect

from tests.fixtures.web import Web, sign_in


async def test_a_reviewer_signs_in_through_the_provider_and_lands_on_the_worklist(
    web: Web,
) -> None:
    page = await web.anonymous()
    await sign_in(page, web, "voc_reviewer")
    await expect(page).to_have_url(web.url + "/beoordelen")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Te beoordelen aanvragen")
    await expect(page.get_by_text("Aangemeld als els.vos")).to_be_visible()
    await web.axe(page)

"""Signing in to the web application through the dev OpenID provider (the production code
path): sessions, sign-out, a refused or forged callback, a form without its CSRF token."""

from __future__ import annotations

import base64
import json

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


async def test_the_session_cookie_is_http_only_and_same_site_and_no_token_is_in_it(
    web: Web,
) -> None:
    context = await web.context("voc_reviewer")
    [cookie] = [c for c in await context.cookies() if c["name"] == "odb_sessie"]
    assert cookie.get("httpOnly") is True
    assert cookie.get("sameSite") == "Lax"
    assert cookie.get("secure") is False  # dev mode; Secure outside it (test below)
    page = await web.page("voc_reviewer")
    answer = await page.goto(web.url + "/beoordelen")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("default-src 'self'") and "unsafe-inline" not in policy
    # Signed, not encrypted: it holds only the claims the API reads and the CSRF token,
    # no ID or access token of the provider.
    payload = cookie["value"].split(".")[0]
    held = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(held) == {"gebruiker", "csrf"}
    assert set(held["gebruiker"]) == {"sub", "roles"}


async def test_sign_in_refused_by_the_provider_shows_a_clear_page_and_no_session(
    web: Web,
) -> None:
    page = await web.anonymous()
    await page.goto(web.url + "/beoordelen")
    await page.get_by_role("button", name="Aanmelding weigeren").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Aanmelden is niet gelukt")
    refused = page.get_by_text("De aanmelddienst heeft uw aanmelding geweigerd.")
    await expect(refused).to_be_visible()
    await web.axe(page)
    await page.goto(web.url + "/beoordelen")
    await expect(page.get_by_role("heading", name="Wie meldt zich aan?")).to_be_visible()


async def test_a_callback_with_a_wrong_state_shows_a_clear_page_and_no_session(
    web: Web,
) -> None:
    page = await web.anonymous()
    await page.goto(web.url + "/beoordelen")  # a sign-in under way: its state is in the session
    answer = await page.goto(web.url + "/aanmelden/terug?code=stolen&state=not-the-state")
    assert answer is not None and answer.status == 400
    await expect(page.get_by_role("heading", level=1)).to_have_text("Aanmelden is niet gelukt")
    await web.axe(page)
    await page.goto(web.url + "/beoordelen")
    await expect(page.get_by_role("heading", name="Wie meldt zich aan?")).to_be_visible()


async def test_sign_out_ends_the_session(web: Web) -> None:
    page = await web.anonymous()
    await sign_in(page, web, "department")
    await page.get_by_role("button", name="Afmelden").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("U bent afgemeld")
    await web.axe(page)
    await page.goto(web.url + "/")
    await expect(page.get_by_role("heading", name="Wie meldt zich aan?")).to_be_visible()


async def test_someone_without_a_role_is_told_whom_to_ask(web: Web) -> None:
    page = await web.page("no_role")
    await page.goto(web.url + "/")
    await expect(page.get_by_text("lokale beheerder")).to_be_visible()
    await web.axe(page)
    answer = await page.goto(web.url + "/beoordelen")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    await web.axe(page)


async def test_an_unknown_or_hand_made_address_is_a_dutch_not_found_page(web: Web) -> None:
    page = await web.page("voc_reviewer")
    for address in ("/bestaat-niet", "/beoordelen?cursor=AAAA", "/beoordelen/ODB-1?beslist=x"):
        answer = await page.goto(web.url + address)
        assert answer is not None and answer.status == 404, address
        await expect(page.get_by_role("heading", level=1)).to_have_text("Niet gevonden")
    await web.axe(page)

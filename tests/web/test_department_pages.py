"""The department's pages in Chromium, signed in through the dev OpenID provider: the
providers register (add, deactivate, reactivate, history, export), retention holds,
revoking a registration with the keyboard only, correcting a receipt date, the watch lists
and the screening; bad input on every form is said in Dutch beside the field and in the
summary and writes nothing; axe finds nothing on any page in any of its states."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import date, timedelta

import httpx
from playwright.async_api import Page, expect

from activities.rubric_loader import load_rubric
from registry import screening
from tests.fixtures.postgres import REGISTRY_TABLES
from tests.fixtures.web import Web
from tests.workflows.harness import seed_providers


def _numbers(first8: str) -> tuple[str, str]:
    """(a valid enterprise number, the same with a wrong mod-97 check) as people type them."""
    check = 97 - int(first8) % 97
    digits = f"{first8}{check:02d}"
    wrong = f"{first8}{(check % 97) + 1:02d}"
    return (f"{digits[:4]}.{digits[4:7]}.{digits[7:]}", f"{wrong[:4]}.{wrong[4:7]}.{wrong[7:]}")


async def _errors(page: Page, *fields: str) -> None:
    """The summary at the top links to each field; each field says what is wrong."""
    summary = page.locator(".error-summary")
    await expect(summary).to_be_visible()
    for field in fields:
        message = page.locator(f"#{field}-fout")
        await expect(message).to_be_visible()
        text = (await message.inner_text()).removeprefix("Fout:").strip()
        await expect(summary.locator(f'a[href="#{field}"]')).to_have_text(text)


async def test_the_department_registers_a_provider_deactivates_and_reactivates_it(
    web: Web,
) -> None:
    good, bad_check = _numbers("09876543")
    digits = good.replace(".", "")
    page = await web.page("department")
    await page.goto(web.url + "/")
    await expect(page).to_have_url(web.url + "/departement")
    await web.axe(page)
    await page.get_by_role("link", name="Register van opleidingsverstrekkers").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Register van opleidingsverstrekkers"
    )
    await web.axe(page)

    # Bad input: a number failing mod-97, an empty name, a bad e-mail address.
    await page.get_by_label("Ondernemingsnummer").fill(bad_check)
    await page.get_by_label("E-mailadres voor contact").fill("geen-adres")
    await page.get_by_role("button", name="Organisatie toevoegen").click()
    await _errors(page, "enterprise_number", "name", "contact_email")
    await expect(page.locator("#enterprise_number-fout")).to_contain_text("modulo 97")
    await expect(page.locator("#name-fout")).to_contain_text("Vul de naam")
    await expect(page.locator("#contact_email-fout")).to_contain_text("geldig e-mailadres")
    await expect(page.get_by_label("Ondernemingsnummer")).to_have_value(bad_check)
    await web.axe(page)
    # A number not even of the right form says so.
    await page.get_by_label("Ondernemingsnummer").fill("12345")
    await page.get_by_label("Naam van de organisatie").fill("Vormingscentrum Noord")
    await page.get_by_label("E-mailadres voor contact").fill("opleidingen@noord.be")
    await page.get_by_role("button", name="Organisatie toevoegen").click()
    await _errors(page, "enterprise_number")
    await expect(page.locator("#enterprise_number-fout")).to_contain_text("10 cijfers")
    assert (
        await web.api.pool.fetchval("SELECT count(*) FROM providers WHERE name LIKE 'Vormings%'")
        == 0
    )

    await page.get_by_label("Ondernemingsnummer").fill(good)
    await page.get_by_role("button", name="Organisatie toevoegen").click()
    await expect(page).to_have_url(f"{web.url}/departement/organisaties/{digits}?nieuw=1")
    await expect(page.get_by_role("status")).to_contain_text("geregistreerd")
    history = page.get_by_role("table", name="Wijzigingen in het register")
    await expect(history).to_contain_text("Geregistreerd")
    await expect(history).to_contain_text("tom.wse")
    await web.axe(page)

    # Deactivating needs a reason: nothing changes without one.
    await page.get_by_role("button", name="Deactiveren").click()
    await _errors(page, "reason")
    await expect(page.locator("#reason-fout")).to_contain_text("Vul de reden in")
    await web.axe(page)
    assert await web.api.pool.fetchval(
        "SELECT active FROM providers WHERE enterprise_number = $1", digits
    )
    await page.get_by_label("Reden").fill("Erkenning ingetrokken door de minister")
    await page.get_by_role("button", name="Deactiveren").click()
    await expect(history).to_contain_text("Gedeactiveerd")
    await expect(history).to_contain_text("Erkenning ingetrokken door de minister")
    await expect(page.get_by_text("Gedeactiveerd sinds")).to_be_visible()
    await web.axe(page)
    await page.get_by_role("button", name="Heractiveren").click()
    await expect(history).to_contain_text("Geheractiveerd")
    await web.axe(page)

    # Bad input on the update form keeps the record as it was.
    await page.get_by_label("Naam van de organisatie").fill("")
    await page.get_by_label("E-mailadres voor contact").fill("x@")
    await page.get_by_role("button", name="Bijwerken").click()
    await _errors(page, "name", "contact_email")
    await web.axe(page)
    assert (
        await web.api.pool.fetchval(
            "SELECT name FROM providers WHERE enterprise_number = $1", digits
        )
        == "Vormingscentrum Noord"
    )

    # The export is the API's ZIP, downloaded from the record.
    await page.goto(f"{web.url}/departement/organisaties/{digits}")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Alles over deze organisatie downloaden (ZIP)").click()
    download = await download_info.value
    assert download.suggested_filename.startswith(f"provider-{digits}-")
    path = await download.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert any(name.startswith("manifest") for name in archive.namelist())


async def test_the_department_places_and_releases_a_retention_hold(web: Web) -> None:
    dossier = await web.api.case_in("under_review")
    page = await web.page("department")
    await page.goto(web.url + "/departement")
    await page.get_by_role("link", name="Bewaring van dossiers").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bewaring van dossiers")
    await expect(page.get_by_text("Er is geen dossier in bewaring.")).to_be_visible()
    await web.axe(page)

    await page.get_by_role("button", name="In bewaring nemen").click()
    await _errors(page, "dossier", "reason")
    await expect(page.locator("#dossier-fout")).to_contain_text("Vul het dossiernummer in")
    await web.axe(page)
    await page.get_by_label("Dossiernummer").fill("ODB-2000-999999")
    await page.get_by_label("Reden").fill("Rechtszaak lopende")
    await page.get_by_role("button", name="In bewaring nemen").click()
    await _errors(page, "dossier")
    await expect(page.locator("#dossier-fout")).to_contain_text(
        "Er is geen dossier ODB-2000-999999"
    )
    await web.axe(page)
    assert await web.api.pool.fetchval("SELECT count(*) FROM retention_holds") == 0

    await page.get_by_label("Dossiernummer").fill(dossier)
    await page.get_by_role("button", name="In bewaring nemen").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{dossier} wordt volledig bewaard")
    row = page.get_by_role("row").filter(has_text=dossier)
    await expect(row).to_contain_text("Rechtszaak lopende")
    await expect(row).to_contain_text("tom.wse")
    await web.axe(page)

    await row.get_by_role("button", name=f"Bewaring opheffen voor {dossier}").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"De bewaring van {dossier} is opgeheven"
    )
    await expect(page.get_by_text("Er is geen dossier in bewaring.")).to_be_visible()
    await web.axe(page)
    assert await web.api.pool.fetchval("SELECT count(*) FROM retention_holds") == 0


async def _tab_to(page: Page, element_id: str, limit: int = 60) -> None:
    """Presses Tab until the element has the focus, as a keyboard user moves."""
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable with Tab")


async def test_the_department_revokes_a_registration_with_the_keyboard_only(web: Web) -> None:
    dossier = await web.api.case_in("registered")
    page = await web.page("department")
    await page.goto(web.url + "/departement")

    # A number that is none: said beside the field.
    await _tab_to(page, "dossier")
    await page.keyboard.type("ODB-12")
    await page.keyboard.press("Enter")
    await _errors(page, "dossier")
    await expect(page.locator("#dossier-fout")).to_contain_text("ODB-2027-000123")
    await web.axe(page)

    await _tab_to(page, "dossier")
    await page.keyboard.press("Control+A")
    await page.keyboard.type(dossier)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{web.url}/departement/dossiers/{dossier}")
    await expect(page.get_by_role("definition").first).to_have_text("geregistreerd")
    await web.axe(page)

    # Without a reason: refused by the guard, in Dutch, the registration stands.
    await _tab_to(page, "intrekking-reason")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await _errors(page, "intrekking-reason")
    await expect(page.locator("#intrekking-reason-fout")).to_contain_text(
        "Vul de reden van de intrekking in: minstens 10 tekens."
    )
    await web.axe(page)
    state = await web.api.pool.fetchval(
        "SELECT state FROM applications WHERE dossier = $1", dossier
    )
    assert state == "registered"

    await _tab_to(page, "intrekking-reason")
    await page.keyboard.type("Voldoet niet meer aan de criteria van arbeidsmarktgerichtheid.")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("De registratie is ingetrokken")
    await expect(page.get_by_role("heading", name="Registratie intrekken")).to_have_count(0)
    await expect(page.get_by_role("definition").first).not_to_have_text("geregistreerd")
    await web.axe(page)


async def _window_open(web: Web, dossier: str) -> httpx.Response:
    """The dossier once its refusal e-mail went out (the appeal window runs from it)."""
    for _ in range(200):
        read = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
        if read.json()["appeal_window"] is not None:
            return read
        await asyncio.sleep(0.05)
    raise AssertionError(f"{dossier}: the refusal e-mail was not sent")


async def test_a_future_receipt_date_is_refused_in_dutch_and_changes_nothing(web: Web) -> None:
    dossier = await web.api.case_in("refused")
    before = await _window_open(web, dossier)
    page = await web.page("department")
    await page.goto(f"{web.url}/departement/dossiers/{dossier}")
    await expect(page.get_by_text("Beroep mogelijk tot en met")).to_be_visible()
    await web.axe(page)
    await page.get_by_role("button", name="Ontvangstdatum corrigeren").click()
    await _errors(page, "ontvangstdatum-received_on")
    await expect(page.locator("#ontvangstdatum-received_on-fout")).to_contain_text(
        "Vul de ontvangstdatum in"
    )
    await web.axe(page)
    await page.get_by_label("Ontvangen op").fill("2999-01-04")
    await page.get_by_role("button", name="Ontvangstdatum corrigeren").click()
    await _errors(page, "ontvangstdatum-reason")
    await expect(page.locator("#ontvangstdatum-reason-fout")).to_contain_text(
        "Vul de reden van de correctie in: minstens 10 tekens."
    )
    await expect(page.get_by_label("Ontvangen op")).to_have_value("2999-01-04")
    await page.get_by_label("Reden van de correctie").fill("De post kwam later aan dan gedacht.")
    await page.get_by_role("button", name="Ontvangstdatum corrigeren").click()
    await _errors(page, "ontvangstdatum-received_on")
    await expect(page.locator("#ontvangstdatum-received_on-fout")).to_have_text(
        "Fout: De ontvangstdatum kan niet in de toekomst liggen."
    )
    await expect(page.get_by_label("Reden van de correctie")).to_have_value(
        "De post kwam later aan dan gedacht."
    )
    await web.axe(page)
    after = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
    for kept in ("appeal_window", "history"):
        assert after.json()[kept] == before.json()[kept]


async def test_the_watch_lists_and_the_screening_pages_read_when_empty(web: Web) -> None:
    # The suite shares one registry: other modules leave overdue appeals and screening runs.
    await web.api.pool.execute(
        f"TRUNCATE {REGISTRY_TABLES}, screening_population, screening_not_yet_due,"
        " screening_runs CASCADE"
    )
    await seed_providers(web.api.pool)
    page = await web.page("department")
    await page.goto(web.url + "/departement")
    await page.get_by_role("link", name="Opvolging").click()
    await expect(page.get_by_role("heading", name="Beroepen over de termijn: 0")).to_be_visible()
    await expect(
        page.get_by_role("heading", name="Mislukte of vastgelopen dossiers: 0")
    ).to_be_visible()
    await web.axe(page)
    await page.goto(web.url + "/departement")
    await page.get_by_role("link", name="Jaarlijkse screening").click()
    await expect(page.get_by_text("Er liep nog geen screening.")).to_be_visible()
    await web.axe(page)
    await page.goto(web.url + "/departement/screening/2031")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Niet gevonden")


async def test_the_department_pages_are_for_the_department_only(web: Web) -> None:
    page = await web.page("voc_reviewer")
    for path in ("/departement", "/departement/organisaties", "/departement/bewaring"):
        response = await page.goto(web.url + path)
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")


async def test_a_screening_run_shows_its_progress_and_each_trainings_outcome(web: Web) -> None:
    """A run frozen and scored by the screening's own registry steps (the workflow's
    activities call these), read back on the pages."""
    dossier = await web.api.case_in("registered")
    settings = web.settings
    rubric = load_rubric(settings.resolve(settings.screening.rubric))
    async with web.api.pool.acquire() as conn:
        run = await screening.start_run(
            conn,
            year=2028,
            screening_date=date(2028, 1, 15),
            rubric=rubric,
            workflow_id="screening-2028",
        )
        await screening.score_page(conn, 2028, "", 1000)
    page = await web.page("department")
    await page.goto(web.url + "/departement/screening")
    row = page.get_by_role("row").filter(has_text="Screening 2028")
    await expect(row).to_contain_text(f"{run.total} van {run.total} beoordeeld")
    await web.axe(page)
    await row.get_by_role("link", name="Screening 2028").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Screening 2028")
    outcome = page.get_by_role("row").filter(has_text=dossier)
    await expect(outcome).to_contain_text("Onvolledige gegevens")
    await web.axe(page)


async def test_a_resent_revocation_makes_one_and_a_stale_page_gets_the_guards_sentence(
    web: Web,
) -> None:
    dossier = await web.api.case_in("registered")
    page = await web.page("department")
    await page.goto(f"{web.url}/departement/dossiers/{dossier}")
    await web.axe(page)
    stale = await web.page("department")
    await stale.goto(f"{web.url}/departement/dossiers/{dossier}")

    # The same rendered form sent twice (a double click, a resent POST): one revocation.
    form = page.locator(f'form[action="/departement/dossiers/{dossier}/intrekking"]')
    fields: dict[str, str | float | bool] = {
        name: await form.locator(f'input[name="{name}"]').input_value()
        for name in ("csrf", "terug", "sleutel")
    }
    fields["reason"] = "Voldoet niet meer aan de criteria van arbeidsmarktgerichtheid."
    url = f"{web.url}/departement/dossiers/{dossier}/intrekking"
    for _ in range(2):
        sent = await page.request.post(url, form=fields, max_redirects=0)
        assert sent.status == 303
    read = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
    steps = [h["event"] for h in read.json()["history"]]
    assert steps.count("application.revoked") == 1, steps

    # A page left open while it was revoked: the guard's refusal in Dutch, not an error page.
    await stale.get_by_label("Reden van de intrekking").fill("Nog een intrekking, te laat.")
    await stale.get_by_role("button", name="Registratie intrekken").click()
    # (before the case's workflow ended: the guard; after: the case is closed)
    await expect(stale.locator(".error-summary")).to_contain_text(
        re.compile(
            rf"De registratie intrekken kan niet: de toestand van dossier {dossier} is nu: "
            r"afgesloten \(registratie ingetrokken\)\."
            rf"|Dossier {dossier} is afgesloten \(registratie ingetrokken\): er kan niets meer "
            r"aan veranderen\."
        )
    )
    await expect(stale.get_by_role("definition").first).not_to_have_text("geregistreerd")
    await web.axe(stale)


async def test_an_appeal_past_the_becs_60_days_is_on_the_watch_page(web: Web) -> None:
    """Last in the module: it moves the test server's clock past the BEC's deadline."""
    dossier = await web.api.case_in("in_appeal")
    await web.api.env.sleep(timedelta(days=62))
    for _ in range(200):
        listed = await web.api.http.get(
            "/worklist", params={"list": "appeals-overdue"}, headers=web.api.auth("department")
        )
        if dossier in listed.text:
            break
        await asyncio.sleep(0.05)
    page = await web.page("department")
    await page.goto(web.url + "/departement/opvolging")
    overdue = page.get_by_role("table", name="Beroepen over de termijn")
    row = overdue.get_by_role("row").filter(has_text=dossier)
    await expect(
        page.get_by_role("heading", name=re.compile(r"^Beroepen over de termijn: [1-9]"))
    ).to_be_visible()
    await expect(row).to_contain_text("Over de termijn")
    await expect(row).to_contain_text("Hoorzitting ontbreekt: de organisatie, het departement")
    await web.axe(page)
    await row.get_by_role("link", name=dossier).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(dossier)
    await web.axe(page)

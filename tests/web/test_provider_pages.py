"""The provider's pages in a real browser over real servers: submitting (by clicking and
with the keyboard only), a dossier's deadlines explained, appealing with a document,
stopping, resubmitting after a negative screening, another organisation's dossier as one that
does not exist, bad input on every field, a person without the role, axe on every state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from playwright.async_api import Page, expect

from models.case import CaseState, CaseStatus, ScreeningOutcome
from models.documents import MAX_DOCUMENT_BYTES
from models.dutch import dutch_date, dutch_long_date
from rules.deadlines import brussels_day, explain
from starter.client import CaseService, Unavailable
from starter.web.pages import provider as provider_pages
from tests.fixtures.api import ORG, OTHER_ORG, brussels_today
from tests.fixtures.web import Web
from workflows.application import ApplicationWorkflow

T = TypeVar("T")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NOWHERE = "ODB-2099-999999"


def flemish(days_from_now: int) -> str:
    day = brussels_today() + timedelta(days=days_from_now)
    return f"{day.day:02d}-{day.month:02d}-{day.year}"


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """Reads until `ok` holds (a step the case takes on its own: an e-mail going out)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        value = await read()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def read(web: Web, dossier: str) -> CaseStatus:
    response = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("provider"))
    assert response.status_code == 200, response.text
    return CaseStatus.model_validate(response.json())


async def titled(web: Web, title: str, persona: str = "provider") -> list[str]:
    """The dossiers of the persona's organisation with this title (what was written)."""
    response = await web.api.http.get(
        "/dossiers", params={"limit": 200}, headers=web.api.auth(persona)
    )
    return [i["dossier"] for i in response.json()["items"] if i["title"] == title]


async def stored_documents(web: Web) -> int:
    count: int = await web.api.pool.fetchval("SELECT count(*) FROM documents")
    return count


async def refused_with_window(web: Web) -> str:
    """A refused dossier of organisation A whose refusal e-mail went out (the window runs)."""
    dossier = await web.api.case_in("refused")
    case = await eventually(lambda: read(web, dossier), lambda c: c.appeal_window is not None)
    assert case.appeal_window is not None
    return dossier


async def fill_application(page: Page, title: str, start: str, **other: str) -> None:
    await page.get_by_label("Titel van de opleiding").fill(title)
    await page.get_by_label("Startdatum").fill(start)
    await page.get_by_label(other.get("unit", "Contacturen"), exact=True).check()
    await page.get_by_label("Omvang").fill(other.get("volume", "40"))
    await page.get_by_label("E-mailadres voor de beslissingen").fill("dossiers@vooruit.example.be")
    if "predecessor" in other:
        await page.get_by_label("Vervangt dossier (niet verplicht)").fill(other["predecessor"])


async def main_text(page: Page) -> str:
    return await page.locator("main").inner_text()


async def test_the_provider_submits_by_clicking_and_gets_the_dossier_number_and_acknowledgment(
    web: Web,
) -> None:
    page = await web.page("provider")
    await page.goto(web.url + "/")
    await expect(page).to_have_url(web.url + "/mijn-dossiers")
    await page.get_by_role("link", name="Start nieuwe aanvraag").click()
    await expect(
        page.get_by_text("minstens 32 contacturen, 32 lestijden of 3 studiepunten")
    ).to_be_visible()
    await web.axe(page)
    title = f"Lassen voor gevorderden {uuid.uuid4().hex[:6]}"
    await fill_application(page, title, flemish(150))
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Controleer uw aanvraag")
    await expect(page.get_by_text("start binnen drie maanden")).to_have_count(0)
    await web.axe(page)
    # A double click sends the same confirmed form twice: one dossier.
    await page.get_by_role("button", name="Bevestigen").dblclick()
    await expect(page.get_by_role("heading", name="Uw aanvraag is ontvangen")).to_be_visible()
    await web.axe(page)
    made = await titled(web, title)
    assert len(made) == 1
    await expect(page.get_by_text(f"Uw dossiernummer is {made[0]}")).to_be_visible()
    case = await eventually(lambda: read(web, made[0]), lambda c: bool(c.history))
    assert case.state == CaseState.UNDER_REVIEW
    await page.reload()
    await expect(page.locator("main")).to_contain_text("Niets: de VOC beoordeelt uw aanvraag.")
    await expect(page.locator("main")).to_contain_text("Ontvangstbevestiging")
    await web.axe(page)


async def tab_to(page: Page, is_there: str) -> None:
    """Presses Tab until `is_there` (JS over `el`, the focused element) holds."""
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return {is_there}; }})()"
        ):
            return
    raise AssertionError(f"Tab never reached {is_there}")


async def test_a_late_start_is_warned_and_the_whole_submission_works_with_the_keyboard_only(
    web: Web,
) -> None:
    page = await web.page("provider")
    await page.goto(web.url + "/mijn-dossiers")
    await tab_to(page, "el.textContent.trim() === 'Start nieuwe aanvraag'")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Nieuwe aanvraag")
    title = f"Heftruck veilig besturen {uuid.uuid4().hex[:6]}"
    typed = {
        "title": title,
        "start_date": flemish(30),  # nearer than three months: a warning, no refusal
        "volume": "36",
        "contact_email": "dossiers@vooruit.example.be",
    }
    for field, text in typed.items():
        await tab_to(page, f"el.id === '{field}'")
        await page.keyboard.type(text)
    await tab_to(page, "el.name === 'volume_unit'")
    await page.keyboard.press("Space")
    await tab_to(page, "el.textContent.trim() === 'Verder naar controleren'")
    await page.keyboard.press("Enter")
    await expect(
        page.get_by_role("heading", name="Let op: de opleiding start binnen drie maanden")
    ).to_be_visible()
    await expect(page.get_by_text("minstens drie maanden voor de start in")).to_be_visible()
    await web.axe(page)
    await tab_to(page, "el.textContent.trim() === 'Bevestigen'")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Uw aanvraag is ontvangen")).to_be_visible()
    assert len(await titled(web, title)) == 1


async def test_bad_input_on_every_field_is_told_in_dutch_beside_the_field_and_nothing_is_written(
    web: Web,
) -> None:
    page = await web.page("provider")
    await page.goto(web.url + "/aanvraag")
    await page.get_by_label("Titel van de opleiding").fill("   ")
    await page.get_by_label("Startdatum").fill("31-02-2027")
    await page.get_by_label("Einddatum (niet verplicht)").fill("volgend jaar")
    await page.get_by_label("Omvang").fill("veertig")
    await page.get_by_label("Paritair comité (niet verplicht)").fill("comité 12")
    await page.get_by_label("E-mailadres voor de beslissingen").fill("geen adres")
    await page.get_by_label("Vervangt dossier (niet verplicht)").fill("ODB-12")
    before = await web.api.pool.fetchval("SELECT count(*) FROM applications")
    await page.get_by_role("button", name="Verder naar controleren").click()
    expected = {
        "title": "Geef de titel van de opleiding",
        "start_date": "Geef de datum als dd-mm-jjjj",
        "end_date": "Geef de datum als dd-mm-jjjj",
        "volume_unit": "Kies contacturen, lestijden of studiepunten.",
        "volume": "Geef de omvang als getal",
        "joint_committee": "Schrijf een paritair comité als PC 200",
        "contact_email": "Geef een e-mailadres als naam@organisatie.be.",
        "predecessor_dossier": "Geef een dossiernummer als ODB-2027-000123.",
    }
    summary = page.locator(".error-summary")
    for field, text in expected.items():
        await expect(page.locator(f"#{field}-fout")).to_contain_text(text)
        await expect(summary.locator(f'a[href="#{field}"]')).to_contain_text(text)
    await expect(page).to_have_title("Fout: Nieuwe aanvraag \u2013 Opleidingsdatabank")
    await web.axe(page)

    # Well-formed, but below the VOV rule and ending before it starts.
    await page.get_by_label("Titel van de opleiding").fill("Korte cursus")
    await page.get_by_label("Startdatum").fill(flemish(150))
    await page.get_by_label("Einddatum (niet verplicht)").fill(flemish(100))
    await page.get_by_label("Studiepunten", exact=True).check()
    await page.get_by_label("Omvang").fill("2")
    await page.get_by_label("Paritair comité (niet verplicht)").fill("")
    await page.get_by_label("E-mailadres voor de beslissingen").fill("a@b.be")
    await page.get_by_label("Vervangt dossier (niet verplicht)").fill("")
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.locator("#volume-fout")).to_contain_text(
        "minstens 32 contacturen, 32 lestijden of 3 studiepunten"
    )
    await page.get_by_label("Omvang").fill("3")
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.locator("#end_date-fout")).to_contain_text(
        "De einddatum ligt voor de startdatum"
    )
    await web.axe(page)
    assert await web.api.pool.fetchval("SELECT count(*) FROM applications") == before


async def test_my_dossiers_says_what_to_do_filters_by_state_and_pages(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = await refused_with_window(web)
    page = await web.page("provider")
    await page.goto(web.url + "/mijn-dossiers")
    row = page.get_by_role("row").filter(has_text=refused)
    await expect(row).to_contain_text("geweigerd")
    await expect(row).to_contain_text("Beroep mogelijk tot en met")
    await expect(row).to_contain_text("U kunt beroep aantekenen")
    await web.axe(page)
    await page.get_by_label("Toon dossiers die").select_option("refused")
    await page.get_by_role("button", name="Toon").click()
    await expect(page).to_have_url(web.url + "/mijn-dossiers?toestand=refused")
    states = await page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert states and set(states) == {"geweigerd"}
    # A refused training is filled in again from its dossier; not registered, it replaces
    # nothing (the registry lets only a registered training be replaced).
    await page.goto(f"{web.url}/mijn-dossiers/{refused}")
    await page.get_by_role("link", name="Opnieuw aanmelden").click()
    await expect(page.get_by_label("Titel van de opleiding")).to_have_value(
        (await read(web, refused)).title
    )
    await expect(page.get_by_label("Vervangt dossier (niet verplicht)")).to_have_value("")
    await expect(page.get_by_label("Contacturen", exact=True)).to_be_checked()
    await expect(page.get_by_label("Omvang")).to_have_value("40")
    # Paging: the same cursor as GET /dossiers, a page at a time.
    monkeypatch.setattr(provider_pages, "PAGE_SIZE", 1)
    await page.goto(web.url + "/mijn-dossiers")
    first = await page.locator("tbody tr").all_inner_texts()
    await page.get_by_role("link", name="Volgende dossiers").click()
    second = await page.locator("tbody tr").all_inner_texts()
    assert len(first) == len(second) == 1 and first != second
    await web.axe(page)
    # An organisation's empty list, in a state with none.
    other = await web.page("other_provider")
    await other.goto(web.url + "/mijn-dossiers?toestand=removal_scheduled")
    await expect(other.get_by_text("Er zijn geen dossiers in deze toestand.")).to_be_visible()
    await web.axe(other)


async def test_a_refused_dossier_shows_its_window_as_counted_and_the_provider_appeals_with_a_pdf(
    web: Web,
) -> None:
    dossier = await refused_with_window(web)
    case = await read(web, dossier)
    assert case.appeal_window is not None
    page = await web.page("provider")
    await page.goto(f"{web.url}/mijn-dossiers/{dossier}")
    main = page.locator("main")
    await expect(main).to_contain_text(f"Zo berekend: {explain(case.appeal_window)}.")
    days = (case.appeal_window.last_day - brussels_today()).days
    await expect(main).to_contain_text(f"nog {days} dagen")
    await expect(main).to_contain_text("Weigering")  # the e-mail sent to the organisation
    await expect(main).to_contain_text("door de beoordelaar van VOC")
    await web.axe(page)

    documents = await stored_documents(web)
    attempts: list[tuple[str, dict[str, Any] | None, dict[str, str]]] = [
        (
            "kort",
            None,
            {"motivation": "minstens 10 tekens", "file": "Voeg het gemotiveerde document toe"},
        ),
        (
            "De opleiding leidt tot knelpuntberoepen.",
            {"name": "foto.png", "mimeType": "image/png", "buffer": PNG},
            {"file": "geen PDF"},
        ),
        (
            "De opleiding leidt tot knelpuntberoepen.",
            {
                "name": "groot.pdf",
                "mimeType": "application/pdf",
                "buffer": PDF + b"0" * MAX_DOCUMENT_BYTES,
            },
            {"file": "groter dan 10 MB"},
        ),
        (
            "      ",
            {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF},
            {"motivation": "minstens 10 tekens"},
        ),
    ]
    for motivation, upload, messages in attempts:
        await page.get_by_label("Motivering").fill(motivation)
        if upload is not None:
            await page.get_by_label("Gemotiveerd document").set_input_files(upload)  # type: ignore[arg-type]
        await page.get_by_role("button", name="Beroep indienen").click()
        for field, text in messages.items():
            await expect(page.locator(f"#{field}-fout")).to_contain_text(text)
            await expect(page.locator(f'.error-summary a[href="#{field}"]')).to_contain_text(text)
        await web.axe(page)
    assert await stored_documents(web) == documents
    assert (await read(web, dossier)).state == CaseState.REFUSED

    await page.get_by_label("Motivering").fill("De opleiding leidt tot knelpuntberoepen.")
    await page.get_by_label("Gemotiveerd document").set_input_files(
        {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await page.get_by_role("button", name="Beroep indienen").click()
    await expect(page.get_by_role("heading", name="Uw beroep is ingediend")).to_be_visible()
    await expect(main).to_contain_text("in beroep")
    await expect(main).to_contain_text("Beslissing over uw beroep")
    await web.axe(page)
    link = page.get_by_role("link", name="Gemotiveerd document downloaden")
    downloaded = await page.request.get(web.url + str(await link.get_attribute("href")))
    assert downloaded.status == 200 and (await downloaded.body()) == PDF


async def test_an_appeal_from_a_page_left_open_says_which_appeal_is_already_at_the_bec(
    web: Web,
) -> None:
    dossier = await refused_with_window(web)
    stale = await web.page("provider")
    await stale.goto(f"{web.url}/mijn-dossiers/{dossier}")
    # Meanwhile a colleague appealed (through the portal, the API): one appeal per decision.
    filed = await web.api.act(
        dossier, "appeal", "provider", {"motivation": "De opleiding is breed inzetbaar."}
    )
    assert filed.status_code == 200, filed.text
    first = (await read(web, dossier)).appeals[0]
    received = dutch_date(brussels_day(first.filed_at))  # the case's clock, not this machine's

    await stale.get_by_label("Motivering").fill("De opleiding leidt tot knelpuntberoepen.")
    await stale.get_by_label("Gemotiveerd document").set_input_files(
        {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    async with stale.expect_response(lambda r: r.request.method == "POST") as answer:
        await stale.get_by_role("button", name="Beroep indienen").click()
    assert (await answer.value).status == 409
    await expect(stale.locator(".error-summary")).to_contain_text(
        f"Tegen deze beslissing ligt al beroep 1 bij de BEC (via het loket, ontvangen op "
        f"{received}). Wacht op de beslissing over dat beroep."
    )
    await web.axe(stale)
    assert len((await read(web, dossier)).appeals) == 1


async def not_found_text(page: Page, url: str) -> str:
    response = await page.goto(url)
    assert response is not None and response.status == 404, url
    return await main_text(page)


async def post_from(page: Page, action: str) -> tuple[int, str]:
    """Posts a form of B's own session (its CSRF token) to `action`, as a crafted page would."""
    async with page.expect_navigation():
        await page.evaluate(
            """action => {
                const f = document.querySelector('form[method=post][action="/aanvraag"]');
                f.action = action; f.submit(); }""",
            action,
        )
    status = await page.evaluate(
        "() => performance.getEntriesByType('navigation')[0].responseStatus"
    )
    return int(status), await main_text(page)


async def test_organisation_b_sees_a_s_dossier_document_and_forms_as_numbers_that_do_not_exist(
    web: Web,
) -> None:
    dossier = await refused_with_window(web)
    upload = await web.api.http.post(
        "/documents",
        files={"file": ("beroep.pdf", PDF + b"A", "application/pdf")},
        headers=web.api.auth("provider"),
    )
    assert upload.status_code in (200, 201), upload.text
    document = upload.json()["id"]
    done = await web.api.act(
        dossier, "appeal", "provider", {"motivation": "Breed inzetbaar.", "document_id": document}
    )
    assert done.status_code == 200, done.text
    registered = await web.api.case_in("registered")

    page = await web.page("other_provider")
    missing = await not_found_text(page, f"{web.url}/mijn-dossiers/{NOWHERE}")
    assert "bestaat niet" in missing
    for url in (
        f"{web.url}/mijn-dossiers/{dossier}",
        f"{web.url}/mijn-dossiers/{dossier}/documenten/{document}",
        f"{web.url}/aanvraag?opnieuw={dossier}",
    ):
        assert await not_found_text(page, url) == missing, url
    assert (
        await not_found_text(page, f"{web.url}/mijn-dossiers/{NOWHERE}/documenten/{document}")
        == missing
    )
    await web.axe(page)
    for action in ("beroep", "stopzetten"):
        await page.goto(web.url + "/aanvraag")
        assert await post_from(page, f"/mijn-dossiers/{dossier}/{action}") == (404, missing)
        await page.goto(web.url + "/aanvraag")
        assert await post_from(page, f"/mijn-dossiers/{NOWHERE}/{action}") == (404, missing)
    assert (await read(web, dossier)).state == CaseState.IN_APPEAL

    # A resubmission naming A's dossier: refused as for a number that does not exist.
    said = []
    for named in (registered, NOWHERE):
        await page.goto(web.url + "/aanvraag")
        await fill_application(page, "Overname", flemish(150), predecessor=named)
        await page.get_by_role("button", name="Verder naar controleren").click()
        await page.get_by_role("button", name="Bevestigen").click()
        said.append(await page.locator("#predecessor_dossier-fout").inner_text())
    assert said[0] == said[1] and "geen dossier met dit nummer" in said[0]
    assert await titled(web, "Overname", "other_provider") == []
    assert OTHER_ORG != ORG


async def test_a_person_without_the_provider_role_is_told_whom_to_ask(web: Web) -> None:
    page = await web.page("no_role")
    for path in ("/mijn-dossiers", "/aanvraag"):
        response = await page.goto(web.url + path)
        assert response is not None and response.status == 403
        main = page.locator("main")
        await expect(main).to_contain_text("lokale beheerder")
        await expect(main).to_contain_text(
            '"DWSE organisatieverantwoordelijke, context opleidingsdatabank"'
        )
        await web.axe(page)


async def test_a_negative_screening_is_shown_and_the_resubmission_names_its_predecessor(
    web: Web,
) -> None:
    old = await web.api.case_in("registered")
    today = brussels_today()
    outcome = ScreeningOutcome(
        year=today.year,
        passed=False,
        score=31.5,
        rubric_version="2027.1",  # the version of rubrics/example-2027.yaml
        remarks="te weinig deelnemers",
        notified_on=today,
    )
    await web.api.env.client.get_workflow_handle(old).signal(
        ApplicationWorkflow.screening_outcome, outcome
    )
    case = await eventually(
        lambda: read(web, old), lambda c: c.state == CaseState.REMOVAL_SCHEDULED
    )
    assert case.removal is not None
    # The score per criterion, as the yearly screening run stores it with its result.
    await web.api.pool.execute(
        """UPDATE screening_results SET criteria = '{"organised": 0, "participants": 12.5}'
           WHERE dossier = $1""",
        old,
    )
    page = await web.page("provider")
    await page.goto(f"{web.url}/mijn-dossiers/{old}")
    main = page.locator("main")
    await expect(main).to_contain_text("te weinig deelnemers")
    await expect(main).to_contain_text("Aantal deelnemers het voorbije jaar: 12,5")
    await expect(main).to_contain_text("effectief georganiseerd: 0")
    await expect(main).to_contain_text(f"Zo berekend: {explain(case.removal)}.")
    await expect(main).to_contain_text("Registratie stopzetten")
    await web.axe(page)
    await page.get_by_role("link", name="Opnieuw aanmelden").click()
    await expect(page.get_by_label("Titel van de opleiding")).to_have_value(case.title)
    await expect(page.get_by_label("Vervangt dossier (niet verplicht)")).to_have_value(old)
    await web.axe(page)
    await page.get_by_label("Startdatum").fill(flemish(150))
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.locator("main")).to_contain_text(old)
    await page.get_by_role("button", name="Bevestigen").click()
    await expect(page.get_by_role("heading", name="Uw aanvraag is ontvangen")).to_be_visible()
    await expect(page.get_by_role("link", name=old)).to_be_visible()


async def test_the_provider_stops_a_registration_whose_last_day_is_today(web: Web) -> None:
    dossier = await web.api.case_in("registered")
    page = await web.page("provider")
    await page.goto(f"{web.url}/mijn-dossiers/{dossier}")
    main = page.locator("main")
    today = dutch_long_date(brussels_today())
    await expect(main).to_contain_text(f"Als u vandaag stopzet, is {today} de laatste dag")
    await page.get_by_role("button", name="Registratie stopzetten").click()
    await expect(page.get_by_role("heading", name="De registratie is stopgezet")).to_be_visible()
    await expect(main).to_contain_text(f"tot en met {today}")
    await expect(main).to_contain_text("afgesloten (stopgezet)")
    await web.axe(page)


async def test_a_submission_while_temporal_is_down_is_received_and_says_its_case_starts_later(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(self: CaseService) -> Any:
        raise Unavailable("Temporal", "cannot be reached")

    page = await web.page("provider")
    await page.goto(web.url + "/aanvraag")
    title = f"Later gestart {uuid.uuid4().hex[:6]}"
    await fill_application(page, title, flemish(150))
    await page.get_by_role("button", name="Verder naar controleren").click()
    monkeypatch.setattr(CaseService, "client", down)
    await page.get_by_role("button", name="Bevestigen").click()
    await expect(page.get_by_role("heading", name="Uw aanvraag is ontvangen")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("De behandeling start iets later")
    await web.axe(page)
    assert len(await titled(web, title)) == 1
    await page.goto(web.url + "/mijn-dossiers")
    row = page.get_by_role("row").filter(has_text=title)
    await expect(row).to_contain_text("De behandeling start vanzelf zodra de procesmotor")

"""The BEC's pages in Chromium, over real servers: the open appeals (empty, with an overdue
appeal, paged), an appeal received by e-mail registered with its PDF, both hearings, the
decision (by clicking and with the keyboard only), the guard's sentence for a decision
before both hearings, a wrong or too large file refused with nothing written, and every
deadline with how it was counted. axe-core finds 0 violations on each page in each state.

The tests run in file order: the first empties the registry (the empty list), the last
skips the time-skipping server past the 60 days (the overdue flag)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from models.case import Deadline
from rules.deadlines import BRUSSELS, explain
from starter.web.pages import bec
from tests.fixtures.api import Api
from tests.fixtures.postgres import REGISTRY_TABLES
from tests.fixtures.web import WAIT_MS, Web
from tests.workflows.harness import seed_providers

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
TOO_LARGE = b"%PDF-1.4\n" + bytes(10 * 1024 * 1024)
GUARD = (
    "De BEC beslist pas nadat beide partijen gehoord zijn. Registreer eerst de hoorzitting "
    "(of het afzien ervan) van de organisatie en van het departement."
)


async def status(api: Api, dossier: str) -> dict[str, Any]:
    response = await api.http.get(f"/dossiers/{dossier}", headers=api.auth("bec"))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def bec_documents(api: Api) -> int:
    count: int = await api.pool.fetchval("SELECT count(*) FROM documents WHERE owner = 'bec'")
    return count


async def fill_appeal(web: Web, page: Page, dossier: str, motivation: str) -> None:
    """The register form as the secretariat fills it from the e-mail, received just now: in
    whole seconds, and not before the refusal (decided a fraction of a second ago)."""
    decided = datetime.fromisoformat(
        (await status(web.api, dossier))["decisions"][-1]["decided_at"]
    )
    received = (max(datetime.now(UTC), decided) + timedelta(seconds=1)).replace(microsecond=0)
    # Typed in whole seconds: wait (< 1 s) until the clock has reached the typed second.
    await asyncio.sleep(max(0.0, (received - datetime.now(UTC)).total_seconds()))
    received = received.astimezone(BRUSSELS)
    await page.get_by_label("Dossiernummer").fill(dossier)
    await page.get_by_label("Datum").fill(received.date().isoformat())
    await page.get_by_label("Uur").fill(received.strftime("%H:%M:%S"))
    await page.get_by_label("Motivering").fill(motivation)


async def test_an_empty_list_of_open_appeals_says_so(web: Web) -> None:
    await web.api.pool.execute(f"TRUNCATE {REGISTRY_TABLES} CASCADE")
    await seed_providers(web.api.pool)
    page = await web.page("bec")
    await page.goto(web.url + "/")
    await expect(page).to_have_url(web.url + "/beroepen")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Beroepen bij de BEC")
    await expect(page.get_by_text("Er zijn geen open beroepen.")).to_be_visible()
    await web.axe(page)


async def test_the_bec_registers_an_emailed_appeal_with_a_pdf_hears_both_sides_and_grants(
    web: Web,
) -> None:
    dossier = await web.api.case_in("refused")
    page = await web.page("bec")
    await page.goto(web.url + "/beroepen")
    await page.get_by_role("link", name="Beroep per e-mail registreren").click()
    await web.axe(page)
    await fill_appeal(web, page, dossier, "De opleiding leidt op tot een knelpuntberoep.")
    await page.get_by_label("Document bij de e-mail").set_input_files(
        {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await page.get_by_role("button", name="Beroep registreren").click()
    await expect(page).to_have_url(f"{web.url}/beroepen/{dossier}?klaar=beroep")
    await expect(page.get_by_role("status")).to_contain_text("Het beroep is geregistreerd")

    case = await status(web.api, dossier)
    appeal = case["appeals"][0]
    assert appeal["route"] == "email" and appeal["document_id"] is not None
    due = appeal["deadline"]
    counted = explain(Deadline.model_validate(due))
    assert counted.startswith("60 dagen na ")
    await expect(page.get_by_text(counted, exact=True)).to_be_visible()
    await expect(page.get_by_text("30 dagen na ")).to_be_visible()  # the window it was in
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Document van beroep 1 downloaden").click()
    assert (await download.value).suggested_filename == "beroep.pdf"
    await web.axe(page)

    await page.get_by_role("link", name="Beroepen bij de BEC").click()
    row = page.get_by_role("row").filter(has_text=dossier)
    await expect(row).to_contain_text("de organisatie, het departement")
    await expect(row).to_contain_text("Aanwezig")
    await web.axe(page)

    await row.get_by_role("link", name=dossier).click()
    await page.get_by_label("De organisatie").check()
    await page.get_by_label("Gehoord", exact=True).check()
    await page.get_by_label("Notities (niet verplicht)").fill("Gehoord per videogesprek.")
    await page.get_by_role("button", name="Hoorzitting bewaren").click()
    await expect(page.get_by_role("status")).to_contain_text("De hoorzitting is bewaard")
    await page.get_by_label("Het departement").check()
    await page.get_by_label("Afgezien van de hoorzitting").check()
    await page.get_by_role("button", name="Hoorzitting bewaren").click()
    await expect(page.get_by_role("status")).to_contain_text("De hoorzitting is bewaard")
    await expect(page.get_by_role("button", name="Hoorzitting bewaren")).to_have_count(0)
    await web.axe(page)

    await page.get_by_label("Gegrond: de opleiding wordt geregistreerd").check()
    await page.get_by_label("Reden").fill("De opleiding is arbeidsmarktgericht.")
    await page.get_by_role("button", name="Beslissing bewaren").click()
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    await expect(page.get_by_text("Beroep 1 (gegrond)")).to_be_visible()

    case = await status(web.api, dossier)
    assert case["state"] == "registered"
    assert [h["side"] for h in case["appeals"][0]["hearings"]] == ["provider", "department"]
    registered = await web.api.http.get(
        f"/dossiers/{dossier}/registered",
        params={"on": case["registered_from"]},
        headers=web.api.auth("bec"),
    )
    assert registered.status_code == 200 and registered.json()["registered"] is True
    document = await web.api.http.get(
        f"/documents/{appeal['document_id']}", headers=web.api.auth("bec")
    )
    assert document.content == PDF


async def test_a_decision_before_both_hearings_shows_the_guards_sentence(web: Web) -> None:
    dossier = await web.api.case_in("in_appeal")
    page = await web.page("bec")
    await page.goto(f"{web.url}/beroepen/{dossier}")
    await expect(
        page.get_by_text("Nog te horen: de organisatie en het departement")
    ).to_be_visible()
    await page.get_by_label("Gegrond: de opleiding wordt geregistreerd").check()
    await page.get_by_label("Reden").fill("De opleiding is arbeidsmarktgericht.")
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Beslissing bewaren").click()
    assert (await answer.value).status == 409
    await expect(page.get_by_role("alert")).to_contain_text(GUARD)
    await web.axe(page)
    assert (await status(web.api, dossier))["state"] == "in_appeal"


async def test_the_bec_decides_with_the_keyboard_only(web: Web) -> None:
    dossier = await web.api.case_in("heard")
    page = await web.page("bec")
    await page.goto(f"{web.url}/beroepen/{dossier}")
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "granted":
            break
    else:
        pytest.fail("the decision's first choice is not reachable with Tab")
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "reason"
    await page.keyboard.type("Beide partijen gehoord; de opleiding is gericht op werk.")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    assert (await status(web.api, dossier))["state"] == "registered"


async def test_a_register_form_sent_twice_makes_one_appeal_and_one_email(web: Web) -> None:
    dossier = await web.api.case_in("refused")
    page = await web.page("bec")
    await page.goto(f"{web.url}/beroepen/registreren?dossier={dossier}")
    await fill_appeal(web, page, dossier, "De opleiding leidt op tot een knelpuntberoep.")
    # The form's fields as the browser sends them, sent twice at once (a double click, a
    # resend after a lost answer): the same form key.
    form = page.locator("form[action='/beroepen/registreren']")
    fields: dict[str, Any] = {
        name: await form.locator(f"[name={name}]").input_value()
        for name in ("csrf", "terug", "sleutel", "dossier", "received_on", "received_time")
    }
    fields["motivation"] = await form.locator("[name=motivation]").input_value()
    fields["file"] = {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    answers = await asyncio.gather(
        *(
            page.request.post(web.url + "/beroepen/registreren", multipart=fields, max_redirects=0)
            for _ in range(2)
        )
    )
    # Once more after both answered: the case has the appeal, the same key its answer.
    answers.append(
        await page.request.post(
            web.url + "/beroepen/registreren", multipart=fields, max_redirects=0
        )
    )
    assert [a.status for a in answers] == [303, 303, 303]
    assert {a.headers["location"] for a in answers} == {f"/beroepen/{dossier}?klaar=beroep"}
    assert len((await status(web.api, dossier))["appeals"]) == 1
    mails = await web.api.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE dossier = $1 AND kind = 'appeal_received'",
        dossier,
    )
    assert mails == 1


async def test_bad_input_is_named_in_dutch_and_nothing_is_written(web: Web) -> None:
    dossier = await web.api.case_in("refused")
    before = await bec_documents(web.api)
    page = await web.page("bec")
    await page.goto(web.url + "/beroepen/registreren")

    await page.get_by_role("button", name="Beroep registreren").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Er is geen dossier met dit nummer")
    await expect(summary).to_contain_text("Geef de datum en het uur")
    await expect(summary).to_contain_text("Vul de motivering uit de e-mail in.")
    await expect(page.locator("#dossier-fout")).to_contain_text("Er is geen dossier")
    await web.axe(page)

    for content, name, message in (
        (PNG, "beroep.pdf", "Het bestand is geen PDF, DOCX of ODT (gevonden: image/png)"),
        (TOO_LARGE, "groot.pdf", "Het bestand is te groot: het is groter dan 10 MB"),
    ):
        await fill_appeal(web, page, dossier, "De opleiding leidt op tot een knelpuntberoep.")
        await page.get_by_label("Document bij de e-mail").set_input_files(
            {"name": name, "mimeType": "application/pdf", "buffer": content}
        )
        await page.get_by_role("button", name="Beroep registreren").click()
        await expect(page.locator("#file-fout")).to_contain_text(message, timeout=WAIT_MS)
        await expect(page.get_by_role("alert")).to_contain_text(message)
        await web.axe(page)

    # Received before the refusal was decided: the rule's sentence beside the moment.
    await fill_appeal(web, page, dossier, "De opleiding leidt op tot een knelpuntberoep.")
    await page.get_by_label("Uur").fill("00:00:00")
    await page.get_by_role("button", name="Beroep registreren").click()
    await expect(page.locator("#received_at-fout")).to_have_text(
        re.compile(
            r"^Fout: Een beroep kan niet ontvangen zijn vóór de beslissing waartegen het ingaat "
            r"\(\d{1,2} \w+ \d{4} om \d\d\.\d\d uur\)\.$"
        )
    )

    # A good PDF but a motivation the rule refuses: the rule's sentence, the PDF not stored.
    await fill_appeal(web, page, dossier, "kort")
    await page.get_by_label("Document bij de e-mail").set_input_files(
        {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await page.get_by_role("button", name="Beroep registreren").click()
    await expect(page.locator("#motivation-fout")).to_contain_text(
        "Schrijf een motivering van minstens 10 tekens die het beroep uitlegt"
    )
    await web.axe(page)

    assert await bec_documents(web.api) == before
    assert (await status(web.api, dossier))["appeals"] == []

    # A document id never given: the not-found page, as for any other.
    missing = await page.goto(web.url + "/beroepen/document/00000000-0000-4000-8000-000000000000")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_text("Dit document bestaat niet")).to_be_visible()

    # The hearing form without its choices, and a day that is none.
    appealed = await web.api.case_in("in_appeal")
    await page.goto(f"{web.url}/beroepen/{appealed}")
    await page.get_by_label("Datum").fill("")
    await page.get_by_role("button", name="Hoorzitting bewaren").click()
    await expect(page.locator("#side-fout")).to_contain_text("Kies wie gehoord werd.")
    await expect(page.locator("#how-fout")).to_contain_text("Kies of de hoorzitting")
    await web.axe(page)
    assert (await status(web.api, appealed))["appeals"][0]["hearings"] == []


async def test_an_overdue_appeal_is_flagged_and_listed_first_page_by_page(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = await web.api.case_in("in_appeal")
    await web.api.env.sleep(timedelta(days=62))  # past the 60 days: the case flags itself
    fresh = await web.api.case_in("in_appeal")
    monkeypatch.setattr(bec, "PAGE_SIZE", 1)
    page = await web.page("bec")
    await page.goto(web.url + "/beroepen")
    for _ in range(50):  # the flag is the case's own step after its timer: read until written
        first = page.get_by_role("row").nth(1)
        if await first.get_by_text("Termijn verstreken").count():
            break
        await page.reload()
    await expect(page.get_by_role("row").nth(1).get_by_text("Termijn verstreken")).to_be_visible()
    await web.axe(page)
    seen: list[str] = []
    while True:
        seen += await page.locator("tbody td:first-child").all_inner_texts()
        following = page.get_by_role("link", name="Volgende beroepen")
        if not await following.count():
            break
        await following.click()
    assert late in seen and seen[-1] == fresh  # overdue first, the one due last at the end
    await page.goto(f"{web.url}/beroepen/{late}")
    await expect(page.get_by_text("Termijn verstreken")).to_be_visible()
    await web.axe(page)

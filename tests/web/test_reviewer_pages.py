"""The reviewer's pages in a real browser over real servers: the worklist of their body,
a dossier, a decision by clicking (and by keyboard), one decision however often the form is
sent, the guard's sentence when someone else decided first, another body's dossier as a
number that does not exist, an ended session, a form without its CSRF token, and axe-core
on each state of each page."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from playwright.async_api import Page, expect

from devstack.oidc_provider import Persona
from devstack.smtp_sink import SmtpSink
from models.steps import NotificationKind, Recipient
from registry import notifications
from rules.notices import message_id
from tests.fixtures.web import Web, sign_in

NOBODYS_BODY = "reviewer_pc999"  # a reviewer of a body no dossier goes to: an empty list


@pytest.fixture(autouse=True, scope="module")
def _reviewer_without_cases(web: Web) -> None:
    web.provider.personas[NOBODYS_BODY] = Persona(
        "Beoordelaar PC 999", "piet.leeg", None, ("reviewer:PC 999",)
    )


VOC_OF_A = "voc_of_a"  # a VOC reviewer whose token also acts for organisation A


async def open_dossier(web: Web, persona: str, dossier: str) -> Page:
    page = await web.page(persona)
    await page.goto(f"{web.url}/beoordelen/{dossier}")
    return page


async def refuse(page: Page, reason: str) -> None:
    await page.get_by_label("Weigeren").check()
    await page.get_by_label("Reden").fill(reason)


async def decisions_of(web: Web, dossier: str) -> list[dict[str, Any]]:
    answer = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
    assert answer.status_code == 200, answer.text
    decisions: list[dict[str, Any]] = answer.json()["decisions"]
    return decisions


async def refusal_mails(web: Web, dossier: str) -> int:
    async with web.api.pool.acquire() as conn:
        rows = await notifications.for_dossier(conn, dossier)
    return sum(1 for r in rows if r.kind == NotificationKind.REFUSAL)


def refusal_id(dossier: str) -> str:
    return message_id(dossier, NotificationKind.REFUSAL, "review", Recipient.PROVIDER)


async def test_a_reviewer_refuses_by_clicking_and_the_organisation_gets_its_e_mail(
    web: Web, smtp_sink: SmtpSink
) -> None:
    dossier = await web.api.case_in("under_review")
    page = await web.page("voc_reviewer")
    await page.goto(f"{web.url}/beoordelen")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=dossier))
    await expect(row).to_contain_text("Binnen de norm")
    await web.axe(page)
    await row.get_by_role("link", name=dossier).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(dossier)
    await expect(page.get_by_text("wacht op beoordeling")).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("Aanvraag ingediend")
    await web.axe(page)

    await refuse(page, "De arbeidsmarktgerichtheid is onvoldoende aangetoond.")
    await page.get_by_role("button", name="Beslissing bewaren").click()

    await expect(page).to_have_url(f"{web.url}/beoordelen/{dossier}?beslist=1")
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    await expect(page.locator(".summary").first).to_contain_text("geweigerd")
    await expect(page.locator(".timeline")).to_contain_text("Geweigerd")
    await web.axe(page)
    [mail] = await smtp_sink.wait_for(lambda m: refusal_id(dossier) in (m["Message-ID"] or ""))
    assert isinstance(mail, EmailMessage)
    assert "De arbeidsmarktgerichtheid is onvoldoende aangetoond." in mail.get_content()
    await page.reload()
    await expect(page.get_by_role("cell", name="Weigering", exact=True)).to_be_visible()


async def test_a_double_click_or_a_resent_form_makes_one_decision_and_one_e_mail(
    web: Web, smtp_sink: SmtpSink
) -> None:
    dossier = await web.api.case_in("under_review")
    page = await open_dossier(web, "voc_reviewer", dossier)
    await refuse(page, "Geen erkende beroepskwalificatie als doel.")
    form = {
        name: await page.locator(f"form[action$=beslissing] input[name={name}]").input_value()
        for name in ("csrf", "terug", "sleutel")
    }
    await page.get_by_role("button", name="Beslissing bewaren").dblclick()
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    # The same form sent again (the browser's "resend" after going back).
    again = await page.request.post(
        f"{web.url}/beoordelen/{dossier}/beslissing",
        form={**form, "approve": "false", "reason": "Geen erkende beroepskwalificatie als doel."},
    )
    assert again.ok, await again.text()
    assert "Uw beslissing is bewaard" in await again.text()

    assert len(await decisions_of(web, dossier)) == 1
    await smtp_sink.wait_for(lambda m: refusal_id(dossier) in (m["Message-ID"] or ""))
    assert await refusal_mails(web, dossier) == 1


async def test_a_page_left_open_while_someone_else_decided_shows_the_guards_sentence(
    web: Web,
) -> None:
    dossier = await web.api.case_in("under_review")
    stale = await open_dossier(web, "voc_reviewer", dossier)
    other = await open_dossier(web, "voc_reviewer", dossier)
    await other.get_by_label("Goedkeuren").check()
    await other.get_by_role("button", name="Beslissing bewaren").click()
    await expect(other.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")

    await refuse(stale, "Te smal voor de arbeidsmarkt, zie verslag.")
    await stale.get_by_role("button", name="Beslissing bewaren").click()
    summary = stale.locator(".error-summary")
    sentence = (
        f"Beslissen over de aanvraag kan niet: de toestand van dossier {dossier} is nu: "
        "geregistreerd."
    )
    await expect(summary).to_contain_text(sentence)
    await expect(stale.locator(".summary").first).to_contain_text("geregistreerd")
    await web.axe(stale)
    assert [d["outcome"] for d in await decisions_of(web, dossier)] == ["approved"]


async def test_bad_input_shows_a_message_next_to_the_field_and_at_the_top_and_decides_nothing(
    web: Web,
) -> None:
    dossier = await web.api.case_in("under_review")
    page = await open_dossier(web, "voc_reviewer", dossier)
    await page.get_by_role("button", name="Beslissing bewaren").click()
    await expect(page.locator(".error-summary")).to_contain_text(
        "Kies of u de aanvraag goedkeurt of weigert."
    )
    await expect(page.locator("#approve-fout")).to_be_visible()
    await web.axe(page)

    await refuse(page, "   kort ")
    await page.get_by_role("button", name="Beslissing bewaren").click()
    summary_link = page.locator(".error-summary a")
    short = "De reden van de weigering is te kort: schrijf minstens 10 tekens."
    await expect(summary_link).to_contain_text(short)
    await expect(page.locator("#reason-fout")).to_contain_text(short)
    await expect(page.get_by_label("Weigeren")).to_be_checked()  # what was chosen stays
    await web.axe(page)
    await summary_link.click()
    await expect(page.get_by_label("Reden")).to_be_focused()
    assert await decisions_of(web, dossier) == []


async def test_a_reviewer_who_also_acts_for_the_organisation_sees_the_conflict_in_the_list(
    web: Web,
) -> None:
    web.provider.personas[VOC_OF_A] = Persona(
        "VOC-beoordelaar die ook optreedt voor organisatie A", "eva.dubbel", "0123456749",
        ("reviewer:VOC",),
    )  # fmt: skip
    own = await web.api.case_in("under_review")  # organisation A's, for the VOC
    other = await web.api.case_in("under_review", owner="other_provider")
    page = await web.page(VOC_OF_A)
    await page.goto(f"{web.url}/beoordelen")
    conflict = "Belangenconflict: een andere beoordelaar van VOC beslist"
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=own))
    await expect(row).to_contain_text(conflict)
    other_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=other))
    await expect(other_row).not_to_contain_text(conflict)
    await web.axe(page)
    # The rule that marks it is the rule that refuses the decision, in its own words.
    await row.get_by_role("link", name=own).click()
    await page.get_by_label("Goedkeuren").check()
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Beslissing bewaren").click()
    assert (await answer.value).status == 409
    await expect(page.get_by_role("alert")).to_contain_text(
        "Belangenconflict: u treedt ook op voor organisatie 0123456749"
    )
    assert await decisions_of(web, own) == []


async def test_a_reviewer_of_another_body_sees_the_page_of_a_number_that_does_not_exist(
    web: Web,
) -> None:
    dossier = await web.api.case_in("under_review")  # a VOC dossier
    page = await web.page("pc200_reviewer")
    other = await page.goto(f"{web.url}/beoordelen/{dossier}")
    assert other is not None
    other_text = await page.locator("main").inner_text()
    missing = await page.goto(f"{web.url}/beoordelen/ODB-2099-999999")
    assert missing is not None
    assert (other.status, missing.status) == (404, 404)
    assert await page.locator("main").inner_text() == other_text
    assert dossier not in other_text
    await web.axe(page)
    # Its decision form answers the same.
    sent = await page.request.post(
        f"{web.url}/beoordelen/{dossier}/beslissing",
        form={
            "csrf": await page.locator("input[name=csrf]").first.input_value(),
            "approve": "true",
            "reason": "",
            "sleutel": "x" * 20,
        },
    )
    assert sent.status == 404
    assert await decisions_of(web, dossier) == []


async def test_the_worklist_of_a_body_without_dossiers_says_nothing_waits(web: Web) -> None:
    page = await web.page(NOBODYS_BODY)
    await page.goto(f"{web.url}/beoordelen")
    await expect(page.get_by_text("Er wachten geen aanvragen op beoordeling.")).to_be_visible()
    await web.axe(page)


async def test_the_worklist_pages_oldest_first(web: Web) -> None:
    first = await web.api.case_in("under_review")
    second = await web.api.case_in("under_review")
    page = await web.page("voc_reviewer")
    await page.goto(f"{web.url}/beoordelen")
    links = page.locator("tbody a")
    shown = await links.all_inner_texts()
    if first in shown:
        assert second not in shown or shown.index(first) < shown.index(second)
    # Page on until both were seen, in that order.
    seen: list[str] = list(shown)
    while first not in seen or second not in seen:
        await page.get_by_role("link", name="Volgende aanvragen").click()
        seen += await links.all_inner_texts()
    assert seen.index(first) < seen.index(second)
    await web.axe(page)


async def test_an_ended_session_signs_in_again_and_returns_to_the_page(web: Web) -> None:
    dossier = await web.api.case_in("under_review")
    page = await web.anonymous()
    await sign_in(page, web, "voc_reviewer", start=f"/beoordelen/{dossier}")
    await expect(page).to_have_url(f"{web.url}/beoordelen/{dossier}")
    await refuse(page, "Onvoldoende gericht op een beroep, zie verslag.")

    await page.context.clear_cookies()  # the browser drops the cookie at its idle end
    await page.get_by_role("button", name="Beslissing bewaren").click()
    await expect(page.get_by_role("heading", name="Wie meldt zich aan?")).to_be_visible()
    assert await decisions_of(web, dossier) == []  # nothing sent without a session
    await page.get_by_role(
        "button", name=f"Aanmelden als {web.provider.personas['voc_reviewer'].label}"
    ).click()
    await expect(page).to_have_url(f"{web.url}/beoordelen/{dossier}")
    await expect(page.get_by_role("button", name="Beslissing bewaren")).to_be_visible()
    await page.context.close()


async def test_a_form_without_its_csrf_token_gets_the_403_page_and_decides_nothing(
    web: Web,
) -> None:
    dossier = await web.api.case_in("under_review")
    page = await open_dossier(web, "voc_reviewer", dossier)
    await page.get_by_label("Goedkeuren").check()
    await page.locator("form[action$=beslissing] input[name=csrf]").evaluate("e => e.remove()")
    async with page.expect_response(f"{web.url}/beoordelen/{dossier}/beslissing") as sent:
        await page.get_by_role("button", name="Beslissing bewaren").click()
    assert (await sent.value).status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Formulier verlopen")
    await web.axe(page)
    forged = await page.request.post(
        f"{web.url}/beoordelen/{dossier}/beslissing",
        form={"csrf": "not-the-token", "approve": "true", "sleutel": "k" * 20},
    )
    assert forged.status == 403
    assert await decisions_of(web, dossier) == []


async def test_deciding_with_the_keyboard_only(web: Web) -> None:
    dossier = await web.api.case_in("under_review")
    page = await open_dossier(web, "voc_reviewer", dossier)
    keys = page.keyboard
    await keys.press("Tab")  # the skip link comes first
    await expect(page.get_by_role("link", name="Ga naar de inhoud")).to_be_focused()
    await keys.press("Enter")
    for _ in range(30):
        await keys.press("Tab")
        if await page.evaluate("document.activeElement.id") == "approve":
            break
    await keys.press("ArrowDown")  # the radio group: to "Weigeren"
    await expect(page.get_by_label("Weigeren")).to_be_checked()
    await keys.press("Tab")
    await expect(page.get_by_label("Reden")).to_be_focused()
    await keys.type("Het beroepsprofiel ontbreekt in de aanvraag.")
    await keys.press("Tab")
    await expect(page.get_by_role("button", name="Beslissing bewaren")).to_be_focused()
    await keys.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    assert [d["outcome"] for d in await decisions_of(web, dossier)] == ["refused"]

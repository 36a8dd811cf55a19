"""An organisation's journey, one step at a time, clicked in the browser as each person does
it: the whole-journey tests (tests/web/test_whole_journey.py) and the README's pictures of
the journey (bench/screenshot_journey.py) play the same steps.

Each step takes the web application's address and a tab already signed in as the person,
checks what the person sees, and calls `seen(moment)` at each moment worth a picture (the
form filled in, before the button is clicked; the answer) so the pictures are of the very
pages the tests check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from playwright.async_api import Page, expect

from tests.fixtures.api import brussels_today

Seen = Callable[[str], Awaitable[None]]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HEARD = "Beide partijen gehoord; de opleiding is gericht op werk."


async def nothing(moment: str) -> None:
    """A `seen` for a step nobody takes a picture of."""


def flemish(days_from_now: int) -> str:
    day = brussels_today() + timedelta(days=days_from_now)
    return f"{day.day:02d}-{day.month:02d}-{day.year}"


async def submit_by_clicking(
    url: str, page: Page, title: str, mailbox: str, seen: Seen = nothing
) -> str:
    """The provider's new application, from Mijn dossiers to the acknowledgment; its number.
    Moments: "form", "check", "received"."""
    await page.goto(url + "/mijn-dossiers")
    await page.get_by_role("link", name="Start nieuwe aanvraag").click()
    await page.get_by_label("Titel van de opleiding").fill(title)
    await page.get_by_label("Startdatum").fill(flemish(150))
    await page.get_by_label("Contacturen", exact=True).check()
    await page.get_by_label("Omvang").fill("40")
    await page.get_by_label("E-mailadres voor de beslissingen").fill(mailbox)
    await seen("form")
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Controleer uw aanvraag")
    await expect(page.locator("main")).to_contain_text(title)
    await seen("check")
    return await confirm(page, seen)


async def confirm(page: Page, seen: Seen = nothing) -> str:
    """*Bevestigen* on the check page; the new dossier's number. Moment: "received"."""
    await page.get_by_role("button", name="Bevestigen").click()
    await expect(page.get_by_role("heading", name="Uw aanvraag is ontvangen")).to_be_visible()
    number = await page.locator(".notice strong").first.inner_text()
    await expect(page.get_by_text(f"Uw dossiernummer is {number}")).to_be_visible()
    await seen("received")
    return number


async def review_by_clicking(
    url: str, page: Page, dossier: str, approve: bool, reason: str = "", seen: Seen = nothing
) -> None:
    """The reviewer finds the dossier on the worklist and decides on its page.
    Moment: "decision" (filled in, before *Beslissing bewaren*)."""
    await page.goto(url + "/beoordelen")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=dossier))
    await expect(row).to_contain_text("Binnen de norm")
    await row.get_by_role("link", name=dossier).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(dossier)
    await expect(page.locator(".summary").first).to_contain_text("wacht op beoordeling")
    if approve:
        await page.get_by_label("Goedkeuren").check()
    else:
        await page.get_by_label("Weigeren").check()
        await page.get_by_label("Reden").fill(reason)
    await seen("decision")
    await page.get_by_role("button", name="Beslissing bewaren").click()
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    await expect(page.locator(".summary").first).to_contain_text(
        "geregistreerd" if approve else "geweigerd"
    )


async def appeal_by_clicking(page: Page, motivation: str, seen: Seen = nothing) -> None:
    """On the refused dossier's page: the motivation and a PDF, *Beroep indienen*.
    Moments: "appeal" (filled in), "appealed"."""
    await page.get_by_label("Motivering").fill(motivation)
    await page.get_by_label("Gemotiveerd document").set_input_files(
        {"name": "beroep.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await seen("appeal")
    await page.get_by_role("button", name="Beroep indienen").click()
    await expect(page.get_by_role("heading", name="Uw beroep is ingediend")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("in beroep")
    await expect(page.locator("main")).to_contain_text("nog geen")
    await seen("appealed")


async def hear_both_and_grant(url: str, page: Page, dossier: str, seen: Seen = nothing) -> None:
    """The BEC: the appeal on its list with both sides still to hear, both heard, granted.
    Moments: "to hear" (the open appeals), "grant" (heard, the decision filled in)."""
    await page.goto(url + "/beroepen")
    row = page.get_by_role("row").filter(has_text=dossier)
    await expect(row).to_contain_text("de organisatie, het departement")  # missing hearings
    await seen("to hear")
    await row.get_by_role("link", name=dossier).click()
    await expect(
        page.get_by_text("Nog te horen: de organisatie en het departement")
    ).to_be_visible()
    for side in ("De organisatie", "Het departement"):
        await page.get_by_label(side).check()
        await page.get_by_label("Gehoord", exact=True).check()
        await page.get_by_role("button", name="Hoorzitting bewaren").click()
        await expect(page.get_by_role("status")).to_contain_text("De hoorzitting is bewaard")
    await expect(page.get_by_role("button", name="Hoorzitting bewaren")).to_have_count(0)
    await page.get_by_label("Gegrond: de opleiding wordt geregistreerd").check()
    await page.get_by_label("Reden").fill(HEARD)
    await seen("grant")
    await page.get_by_role("button", name="Beslissing bewaren").click()
    await expect(page.get_by_role("status")).to_contain_text("Uw beslissing is bewaard")
    await expect(page.get_by_text("Beroep 1 (gegrond)")).to_be_visible()


async def resubmit_by_clicking(page: Page, old: str, title: str, seen: Seen = nothing) -> str:
    """On the old dossier's page: *Opnieuw aanmelden*, the form filled in from the old dossier,
    a new start date, checked and confirmed; the new dossier's number.
    Moments: "form", "check", "received"."""
    await page.get_by_role("link", name="Opnieuw aanmelden").click()
    await expect(page.get_by_label("Titel van de opleiding")).to_have_value(title)
    await expect(page.get_by_label("Vervangt dossier (niet verplicht)")).to_have_value(old)
    await page.get_by_label("Startdatum").fill(flemish(150))
    await seen("form")
    await page.get_by_role("button", name="Verder naar controleren").click()
    await expect(page.locator("main")).to_contain_text(old)
    await seen("check")
    return await confirm(page, seen)

"""An organisation's whole journey in the browser, each person signed in through the dev
OpenID provider: the provider submits, the VOC reviewer refuses, the provider appeals with a
PDF, the BEC hears both sides and grants, the training is registered (with the e-mails the
organisation got); a negative screening, the resubmission from the old dossier, approved,
the old registration ending the day before the new one; a BEC member who also acts for the
organisation told of the conflict of interest; the provider's pages readable at 200% zoom.

One `web` fixture; the tests do not depend on each other's order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import Message
from typing import TypeVar

from playwright.async_api import expect

from devstack.oidc_provider import Persona
from devstack.smtp_sink import SmtpSink
from models.case import CaseState, CaseStatus, ScreeningOutcome
from models.dutch import dutch_long_date
from rules.deadlines import explain
from tests.fixtures.api import ORG, brussels_today
from tests.fixtures.web import Web
from tests.web.journey_steps import (
    HEARD,
    appeal_by_clicking,
    hear_both_and_grant,
    resubmit_by_clicking,
    review_by_clicking,
    submit_by_clicking,
)
from workflows.application import ApplicationWorkflow

T = TypeVar("T")
BEC_OF_A = "bec_of_a"  # a BEC member whose token also acts for organisation A


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """Reads until `ok` holds (a step the case takes on its own: an e-mail going out)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        value = await read()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def read(web: Web, dossier: str) -> CaseStatus:
    response = await web.api.http.get(f"/dossiers/{dossier}", headers=web.api.auth("department"))
    assert response.status_code == 200, response.text
    return CaseStatus.model_validate(response.json())


async def decide_as_reviewer(web: Web, dossier: str, approve: bool, reason: str = "") -> None:
    """The VOC reviewer finds the dossier on the worklist and decides on its page."""
    page = await web.page("voc_reviewer")
    await review_by_clicking(web.url, page, dossier, approve, reason)
    await page.close()


def provider_mail_kinds(smtp_sink: SmtpSink, dossier: str, mailbox: str) -> list[str]:
    """The kinds of the e-mails sent to the organisation's address for this dossier, from
    their Message-ID (`<dossier.kind.step@...>`, rules/notices.message_id)."""

    def message_id(m: Message) -> str:
        return str(m["Message-ID"]).strip()  # a long one is folded onto its own line

    def kind(m: Message) -> str:
        return message_id(m).strip("<>").split("@")[0].split(".")[1]

    return sorted(
        kind(m)
        for m in smtp_sink.messages()
        if str(m["To"]) == mailbox and message_id(m).startswith(f"<{dossier}.")
    )


async def test_submitted_refused_appealed_with_a_pdf_heard_and_granted_the_training_is_registered(
    web: Web, smtp_sink: SmtpSink
) -> None:
    tag = uuid.uuid4().hex[:6]
    title, mailbox = f"Lassen voor gevorderden {tag}", f"dossiers-{tag}@vooruit.example.be"
    provider = await web.page("provider")
    dossier = await submit_by_clicking(web.url, provider, title, mailbox)
    await provider.goto(f"{web.url}/mijn-dossiers/{dossier}")
    main = provider.locator("main")
    await expect(main).to_contain_text("wacht op beoordeling")
    await expect(main).to_contain_text("Niets: de VOC beoordeelt uw aanvraag.")

    reason = "De arbeidsmarktgerichtheid is onvoldoende aangetoond."
    await decide_as_reviewer(web, dossier, approve=False, reason=reason)

    # The refusal and its window, once the refusal e-mail went out (the window runs from it).
    case = await eventually(lambda: read(web, dossier), lambda c: c.appeal_window is not None)
    assert case.state == CaseState.REFUSED and case.appeal_window is not None
    await provider.reload()
    await expect(main).to_contain_text("geweigerd")
    await expect(main).to_contain_text(f"Reden: {reason}")
    await expect(main).to_contain_text("U kunt beroep aantekenen bij de beroepscommissie")
    await expect(main).to_contain_text("Beroepstermijn")
    await expect(main).to_contain_text(f"tot en met {dutch_long_date(case.appeal_window.last_day)}")
    await expect(main).to_contain_text(f"Zo berekend: {explain(case.appeal_window)}.")
    days = (case.appeal_window.last_day - brussels_today()).days
    await expect(main).to_contain_text(f"nog {days} dagen")
    await expect(provider.get_by_role("cell", name="Weigering", exact=True)).to_be_visible()

    await appeal_by_clicking(provider, "De opleiding leidt op tot een knelpuntberoep.")
    case = await read(web, dossier)
    assert case.state == CaseState.IN_APPEAL and case.appeals[0].document_id is not None

    # The BEC: the appeal on its list, both sides heard, granted.
    await hear_both_and_grant(web.url, await web.page("bec"), dossier)

    # The provider's dossier reads registered, and lists the e-mails the organisation got.
    case = await read(web, dossier)
    assert case.state == CaseState.REGISTERED and case.registered_from is not None
    await provider.reload()
    await expect(main).to_contain_text("geregistreerd")
    await expect(main).to_contain_text(f"van {dutch_long_date(case.registered_from)}")
    await expect(main).to_contain_text("gegrond")
    await expect(main).to_contain_text("organisatie: ")
    await expect(main).to_contain_text("departement: ")
    wanted = ["acknowledgment", "appeal_received", "bec_decision", "refusal"]
    await smtp_sink.wait_for(
        lambda m: str(m["To"]) == mailbox and ".bec_decision." in str(m["Message-ID"])
    )
    assert provider_mail_kinds(smtp_sink, dossier, mailbox) == wanted
    await provider.reload()
    for label in ("Ontvangstbevestiging", "Weigering", "Beroep ontvangen"):
        await expect(provider.get_by_role("cell", name=label, exact=True)).to_be_visible()
    await expect(
        provider.get_by_role("cell", name="Beslissing over het beroep", exact=True)
    ).to_be_visible()
    await web.axe(provider)
    await provider.goto(web.url + "/mijn-dossiers")
    row = provider.get_by_role("row").filter(has_text=dossier)
    await expect(row).to_contain_text("geregistreerd")


async def test_a_resubmission_after_a_negative_screening_ends_the_old_registration_the_day_before(
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
    # Three weeks later (the case's clock; the removal is at the end of next year), the
    # organisation resubmits: the new registration starts after the old one did.
    await web.api.env.sleep(timedelta(days=21))

    page = await web.page("provider")
    await page.goto(f"{web.url}/mijn-dossiers/{old}")
    main = page.locator("main")
    await expect(main).to_contain_text("wordt verwijderd")
    await expect(main).to_contain_text("negatief")
    await expect(main).to_contain_text("te weinig deelnemers")
    await expect(main).to_contain_text("Verwijdering uit de databank")
    await expect(main).to_contain_text(f"na {dutch_long_date(case.removal.last_day)}")
    await expect(main).to_contain_text(f"Zo berekend: {explain(case.removal)}.")

    new = await resubmit_by_clicking(page, old, case.title)
    assert new != old

    await decide_as_reviewer(web, new, approve=True)

    replaced = await eventually(lambda: read(web, old), lambda c: c.registered_until is not None)
    successor = await read(web, new)
    assert successor.state == CaseState.REGISTERED and successor.registered_from is not None
    assert replaced.registered_until == successor.registered_from - timedelta(days=1)
    await page.goto(f"{web.url}/mijn-dossiers/{old}")
    await expect(main).to_contain_text(
        f"tot en met {dutch_long_date(successor.registered_from - timedelta(days=1))}"
    )
    await expect(page.get_by_role("link", name=new)).to_be_visible()  # Vervangen door
    await page.goto(f"{web.url}/mijn-dossiers/{new}")
    await expect(main).to_contain_text("geregistreerd")
    await expect(main).to_contain_text(f"van {dutch_long_date(successor.registered_from)}")
    await expect(page.get_by_role("link", name=old)).to_be_visible()  # Vervangt
    # The API's as-of read agrees: the old one on its last day, the new one from its first.
    for dossier, day, registered in (
        (old, successor.registered_from - timedelta(days=1), True),
        (old, successor.registered_from, False),
        (new, successor.registered_from, True),
    ):
        answer = await web.api.http.get(
            f"/dossiers/{dossier}/registered",
            params={"on": day.isoformat()},
            headers=web.api.auth("department"),
        )
        assert answer.status_code == 200 and answer.json()["registered"] is registered, (
            dossier,
            day,
            answer.text,
        )


async def test_a_bec_member_who_also_acts_for_the_organisation_is_told_of_the_conflict(
    web: Web,
) -> None:
    web.provider.personas[BEC_OF_A] = Persona(
        "BEC-lid dat ook optreedt voor organisatie A", "nina.dubbel", ORG, ("bec",)
    )
    dossier = await web.api.case_in("heard")
    page = await web.page(BEC_OF_A)
    await page.goto(f"{web.url}/beroepen/{dossier}")
    await page.get_by_label("Gegrond: de opleiding wordt geregistreerd").check()
    await page.get_by_label("Reden").fill(HEARD)
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Beslissing bewaren").click()
    assert (await answer.value).status == 409
    await expect(page.get_by_role("alert")).to_contain_text(
        f"Belangenconflict: u treedt ook op voor organisatie {ORG}, de aanbieder van dossier "
        f"{dossier}. De andere leden van de BEC beslissen over dit beroep."
    )
    await web.axe(page)
    case = await read(web, dossier)
    assert case.state == CaseState.IN_APPEAL and case.appeals[0].decision is None
    decided = await web.api.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE dossier = $1 AND kind = 'bec_decision'",
        dossier,
    )
    assert decided == 0


async def test_the_provider_s_main_pages_are_readable_at_200_percent_zoom(web: Web) -> None:
    dossier = await web.api.case_in("refused")
    page = await web.page("provider")
    # 1280 x 800 at 200%: the page lays out in 640 x 400 CSS pixels.
    await page.set_viewport_size({"width": 640, "height": 400})
    for path in ("/mijn-dossiers", "/aanvraag", f"/mijn-dossiers/{dossier}"):
        await page.goto(web.url + path)
        heading = page.get_by_role("heading", level=1)
        await expect(heading).to_be_visible()
        box = await heading.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 640, path
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 200% zoom"

"""The journey of one application in pictures (docs/journey.md), the part of
`python -m bench.screenshots` that clicks through it on the private dev stack:

organisation A submits a new application (the form, the check page before *Bevestigen*, the
dossier number) → the VOC reviewer refuses it with a reason → the organisation sees the
refusal and its appeal window, and appeals with a motivation and a PDF → the BEC hears both
sides and grants → the organisation sees the training registered (its period, the timeline,
the e-mails) → a negative yearly screening (sent to the case as the screening sends it, as
`python -m starter demo` does), its removal date → *Opnieuw aanmelden*, the form filled in
from the old dossier.

The steps are those of the whole-journey test (tests/web/journey_steps.py), each person in
their own signed-in browser context; a picture is taken at the moments those steps name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Locator, Page, expect

from runtime.settings import Settings
from starter.cli.demo import PROVIDERS, screen_negative
from tests.web.journey_steps import (
    Seen,
    appeal_by_clicking,
    hear_both_and_grant,
    resubmit_by_clicking,
    review_by_clicking,
    submit_by_clicking,
)

TITLE = "Lassen voor gevorderden"
REASON = "De arbeidsmarktgerichtheid is onvoldoende aangetoond."
MOTIVATION = "De opleiding leidt op tot een knelpuntberoep; zie de cijfers in bijlage."
TALL = 1600  # a long page is cut off here: the PNGs stay small enough to read
CASE_STEP_SECONDS = 30  # an e-mail the case sends on its own, a signal it handles

SignIn = Callable[[str], Awaitable[Page]]


@dataclass(frozen=True)
class Picture:
    file: str
    what: str
    height: int = 0  # the page down to this height (or its end); 0: the window
    at: str = ""  # from this heading on, else from the page's top


class Camera:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.made: list[str] = []

    async def snap(self, page: Page, picture: Picture) -> None:
        top = 0
        if picture.at:
            heading = page.get_by_role("heading", name=picture.at, exact=True)
            top = await heading.evaluate(
                "h => Math.max(0, h.getBoundingClientRect().top + window.scrollY - 16)"
            )
        path = self.out / picture.file
        if picture.height:
            bottom = await page.evaluate("document.documentElement.scrollHeight")
            width = page.viewport_size["width"] if page.viewport_size else 1280
            clip = {"x": 0, "y": top, "width": width, "height": min(bottom - top, picture.height)}
            await page.screenshot(path=str(path), full_page=True, clip=clip)  # type: ignore[arg-type]
        else:
            await page.evaluate(f"window.scrollTo(0, {top})")
            await page.screenshot(path=str(path))
        self.made.append(picture.file)
        print(f"{path}: {picture.what}")

    def at(self, page: Page, pictures: dict[str, Picture]) -> Seen:
        """A step's `seen`: the picture of each moment named in `pictures`."""

        async def seen(moment: str) -> None:
            if moment in pictures:
                await self.snap(page, pictures[moment])

        return seen


async def until_shown(page: Page, what: Locator) -> None:
    """Reloads until `what` is on the page: a step the case takes on its own (an e-mail
    going out, a signal handled) shows only after it happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CASE_STEP_SECONDS
    while await what.count() == 0 and loop.time() < deadline:
        await asyncio.sleep(0.5)
        await page.reload()
    await expect(what.first).to_be_visible()


async def play_journey(sign_in: SignIn, web_url: str, settings: Settings, out: Path) -> list[str]:
    """Plays the journey, a picture at each step; the files it wrote."""
    expect.set_options(timeout=15_000)
    camera = Camera(out)
    provider, reviewer, bec = (
        await sign_in("provider"),
        await sign_in("voc_reviewer"),
        await sign_in("bec"),
    )
    mailbox = PROVIDERS["0123456749"][1]

    dossier = await submit_by_clicking(
        web_url,
        provider,
        TITLE,
        mailbox,
        camera.at(
            provider,
            {
                "form": Picture("journey-1-aanvraag.png", "the new application, filled in", TALL),
                "check": Picture("journey-2-controleren.png", "the check before Bevestigen", TALL),
                "received": Picture("journey-3-ontvangen.png", "the dossier number"),
            },
        ),
    )
    await review_by_clicking(
        web_url,
        reviewer,
        dossier,
        approve=False,
        reason=REASON,
        seen=camera.at(
            reviewer,
            {"decision": Picture("journey-4-weigeren.png", "the VOC refuses, with a reason", TALL)},
        ),
    )

    await provider.goto(f"{web_url}/mijn-dossiers/{dossier}")
    # The appeal window runs from the refusal e-mail, which the case sends on its own.
    await until_shown(provider, provider.get_by_role("heading", name="Beroep aantekenen"))
    await camera.snap(
        provider, Picture("journey-5-geweigerd.png", "the refusal and the appeal window", 1000)
    )
    await appeal_by_clicking(
        provider,
        MOTIVATION,
        camera.at(
            provider,
            {
                "appeal": Picture(
                    "journey-6-beroep.png", "the appeal: motivation and PDF", at="Beroep aantekenen"
                ),
                "appealed": Picture("journey-7-beroep-ingediend.png", "the appeal filed"),
            },
        ),
    )

    await hear_both_and_grant(
        web_url,
        bec,
        dossier,
        camera.at(
            bec,
            {
                "to hear": Picture("journey-8-beroepen.png", "the BEC's open appeals"),
                "grant": Picture("journey-9-gegrond.png", "both sides heard, granted", TALL),
            },
        ),
    )

    await provider.goto(f"{web_url}/mijn-dossiers/{dossier}")
    emails = provider.get_by_role("cell", name="Beslissing over het beroep", exact=True)
    await until_shown(provider, emails)
    await camera.snap(
        provider,
        Picture("journey-10-geregistreerd.png", "registered: the period, the decisions"),
    )
    await camera.snap(
        provider,
        Picture("journey-11-verloop.png", "the timeline and the e-mails", TALL, "Verloop"),
    )

    await screen_negative(settings, dossier)
    await until_shown(provider, provider.get_by_text("wordt verwijderd"))
    await camera.snap(
        provider,
        Picture("journey-12-screening.png", "a negative screening, the removal date", TALL),
    )
    await resubmit_by_clicking(
        provider,
        dossier,
        TITLE,
        camera.at(
            provider,
            {
                "form": Picture(
                    "journey-13-opnieuw.png",
                    "the resubmission, filled in from the old dossier",
                    TALL,
                )
            },
        ),
    )
    return camera.made

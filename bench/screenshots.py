"""The README's pictures, made from the dev stack so they show what the code does today:

    .venv/bin/python -m bench.screenshots                 # writes docs/img/*.png
    .venv/bin/python -m bench.screenshots --out /tmp/img  # somewhere else

Starts a private dev stack (tests/stack/harness.py: its own state folder and free ports, the
same `python -m devstack up` as `make run`), plays `python -m starter demo` on it so every
list has cases, then signs in as each person through the dev OpenID provider's page (the
button a person clicks) in headless Chromium and saves their main page, 1280x800, as PNG;
then the Temporal Web UI's list of cases; last the journey of one application, clicked
through step by step by each person, a picture per step (bench/screenshot_journey.py,
docs/journey.md).

A person whose main page does not exist yet (the web application's start page says there is
no page for the role) is skipped with a message: the script makes the pictures it can and
says which it left out (exit code 0). Exit code 1 when the journey stopped at a step (what
the page showed instead is printed; the pictures before it are made); 2 when the stack, the
demo or the browser failed.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright
from playwright.async_api import Error as PlaywrightError

from bench.screenshot_journey import play_journey
from devstack.oidc_provider import PERSONAS
from runtime.settings import PROJECT_ROOT, Settings
from tests.fixtures.web import CHROMIUM, CHROMIUM_ARGS
from tests.stack.harness import RunningStack, StackConfig, ready_stack

VIEWPORT = ViewportSize(width=1280, height=800)
WAIT_MS = 30_000
# What the web application's start page says to a person whose role has no page yet
# (starter/web/templates/start.html).
NO_PAGE_YET = "nog geen pagina voor uw rol"


@dataclass(frozen=True)
class Shot:
    persona: str  # a key of devstack.oidc_provider.PERSONAS
    file: str
    what: str
    path: str = ""  # a page other than the person's main page


SHOTS = (
    Shot("voc_reviewer", "reviewer-worklist.png", "the VOC reviewer's worklist"),
    Shot("bec", "bec-appeals.png", "the BEC's open appeals"),
    Shot("department", "department-start.png", "the department's start page"),
    Shot(
        "department", "department-figures.png", "the department's figures", "/departement/cijfers"
    ),
    Shot("provider", "provider-dossiers.png", "the provider's dossiers"),
)
TEMPORAL_UI = "temporal-web-ui.png"


def play_demo(stack: RunningStack) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "starter", "demo"],
        cwd=PROJECT_ROOT,
        env=stack.config.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if demo.returncode != 0:
        raise RuntimeError(f"`python -m starter demo` failed:\n{demo.stdout}{demo.stderr}")


class JourneyStopped(Exception):
    """A step of the journey did not show what it should: the pictures before it are made."""


async def shoot(stack: RunningStack, out: Path) -> list[str]:
    """Every picture it can make; returns the messages of those it skipped."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    skipped: list[str] = []
    ports = stack.config.ports
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            web_url = f"http://127.0.0.1:{ports['web']}"
            for shot in SHOTS:
                message = await shoot_person(browser, web_url, shot, out)
                if message:
                    skipped.append(message)
            await shoot_temporal_ui(browser, f"http://127.0.0.1:{ports['ui']}", out)
            # Last, so the pictures above show the demo's cases only.
            await shoot_journey(browser, web_url, stack.config.settings(), out)
        finally:
            await browser.close()
    return skipped


async def shoot_journey(browser: Browser, web_url: str, settings: Settings, out: Path) -> None:
    contexts: list[BrowserContext] = []

    async def sign_in(persona: str) -> Page:
        context = await browser.new_context(viewport=VIEWPORT, locale="nl-BE")
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await sign_in_as(page, web_url, PERSONAS[persona].label)
        return page

    try:
        await play_journey(sign_in, web_url, settings, out)
    except (AssertionError, PlaywrightError) as exc:
        raise JourneyStopped(str(exc)) from exc
    finally:
        for context in contexts:
            await context.close()


async def sign_in_as(page: Page, web_url: str, label: str) -> None:
    """As a person does it: the start page sends them to the provider's page, they choose
    who they are, and come back to their role's main page."""
    await page.goto(web_url + "/")
    await page.get_by_role("button", name=f"Aanmelden als {label}", exact=True).click()
    await page.wait_for_url(lambda url: url.startswith(web_url), timeout=WAIT_MS)
    await page.wait_for_load_state("networkidle")


async def shoot_person(browser: Browser, web_url: str, shot: Shot, out: Path) -> str | None:
    persona = PERSONAS.get(shot.persona)
    if persona is None:
        return f"{shot.file}: skipped, the dev OpenID provider has no person {shot.persona!r}"
    context = await browser.new_context(viewport=VIEWPORT, locale="nl-BE")
    try:
        page = await context.new_page()
        await sign_in_as(page, web_url, persona.label)
        if NO_PAGE_YET in (await page.content()):
            return f"{shot.file}: skipped, no main page yet for {shot.what} ({persona.label})"
        if shot.path:
            await page.goto(web_url + shot.path)
            await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(out / shot.file))
        print(f"{out / shot.file}: {shot.what} ({page.url.removeprefix(web_url)})")
        return None
    finally:
        await context.close()


async def shoot_temporal_ui(browser: Browser, ui_url: str, out: Path) -> None:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        await page.goto(f"{ui_url}/namespaces/odb/workflows")
        # The list is filled by the UI's own requests after the page loaded.
        await page.get_by_text("ODB-", exact=False).first.wait_for(timeout=WAIT_MS)
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(out / TEMPORAL_UI))
        print(f"{out / TEMPORAL_UI}: the Temporal Web UI's cases")
    finally:
        await context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "docs" / "img", help="folder for the PNGs"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="odb-screenshots-") as tmp:
        # Free ports for every server, the web application's too: a running `make run`
        # is no obstacle.
        config = StackConfig.fresh(Path(tmp) / "state")
        try:
            with ready_stack(config, timeout=180) as stack:
                play_demo(stack)
                skipped = asyncio.run(shoot(stack, out))
        except JourneyStopped as exc:
            print(f"screenshots: the journey stopped: {exc}", file=sys.stderr)
            return 1
        except (RuntimeError, AssertionError) as exc:
            print(f"screenshots: failed: {exc}", file=sys.stderr)
            return 2
    for message in skipped:
        print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

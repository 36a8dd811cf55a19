"""Ops in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
against the Temporal Web UI. Filter the case list by one of our search attributes, find
the seeded case, open it and read its current details. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from ops.searches import appeals_overdue
from tests.ops.conftest import Seeded, UiServer

pytestmark = pytest.mark.devserver

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# A browser that reaches nothing but the UI under test, and needs no GPU or sandbox (root).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_WAIT_MS = 20_000


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_ops_find_an_overdue_appeal_and_read_why_it_waits(
    ops_server: UiServer, seeded: Seeded, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    # The saved search "appeals-overdue", as ops paste it into the list's filter.
    await page.goto(
        f"{ops_server.ui_url}/namespaces/default/workflows?query={quote(appeals_overdue())}"
    )
    row = page.get_by_role("link", name=seeded.overdue, exact=True)
    await expect(row).to_be_visible(timeout=UI_WAIT_MS)
    # Only that case: the filter used the custom attribute, not a text match.
    for other in (seeded.refused, seeded.voc_review, seeded.window_soon):
        await expect(page.get_by_role("link", name=other, exact=True)).to_have_count(0)
    await shot(page, "ops-list-appeals-overdue")

    await row.first.click()
    await expect(page.get_by_role("heading", name=seeded.overdue)).to_be_visible(timeout=UI_WAIT_MS)
    await page.get_by_role("tab", name="User Metadata").click()
    # The summary the starter gave the case and the workflow's Markdown current details;
    # the UI renders each in a frame of its own.
    frames = page.locator("iframe")
    await expect(frames).to_have_count(2, timeout=UI_WAIT_MS)
    summary = frames.nth(0).content_frame.locator("body")
    details = frames.nth(1).content_frame.locator("body")
    await expect(summary).to_contain_text(f"{seeded.overdue} — Lassen voor gevorderden")
    await expect(details).to_contain_text("State: in appeal", timeout=UI_WAIT_MS)
    await expect(details).to_contain_text("Who must act: bec")
    await expect(details).to_contain_text("BEC decision overdue")
    text = await details.inner_text()
    await shot(page, "ops-case-current-details")
    assert "Competent body: VOC" in text
    assert "Deadlines" in text


async def test_event_history_reads_as_the_domain(
    ops_server: UiServer, seeded: Seeded, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
    await page.goto(f"{ops_server.ui_url}/namespaces/default/workflows/{seeded.refused}")
    await page.get_by_role("tab", name="Event History").click()
    await page.get_by_role("button", name="Compact").click()
    # The pending timer and the recorded steps carry their summaries.
    await expect(page.get_by_text("appeal window until").first).to_be_visible(timeout=UI_WAIT_MS)
    await expect(page.get_by_text(f"{seeded.refused}: application.refused").first).to_be_visible()
    await shot(page, "ops-case-event-history")

from tests.ops.conftest import Seeded, UiServer
from tests.ops.test_web_ui import browser, shot  # noqa
async def test_dbg(ops_server: UiServer, seeded: Seeded, browser) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(f"{ops_server.ui_url}/namespaces/default/workflows")
    await page.wait_for_timeout(3000)
    btns = page.locator("button")
    for i in range(await btns.count()):
        b = btns.nth(i)
        if await b.is_visible():
            print("BTN", i, await b.get_attribute("aria-label"), await b.get_attribute("data-testid"), await b.get_attribute("title"))
    await page.get_by_test_id("workflows-summary-configurable-table-configure-button").click()
    await page.wait_for_timeout(1000)
    await shot(page, "dbg-cols")
    print("TEXT", await page.inner_text("body"))
    assert False

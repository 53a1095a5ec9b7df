"""The organiser's journey in Chromium: an event sent to 20 residents through the file
channel, the progress bar reaching 100%, and a resident's yes from their link showing in
the attendance table without a reload."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from service.keys import settings_key
from tests.browser.conftest import PHONE, Live
from tests.community import resident

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


async def _community(live: Live, size: int) -> None:
    for n in range(size):
        await resident(live.api, f"居民{n:02d}", f"2-1-{101 + n}", ("sms", f"139001390{n:02d}"))


def _first_link(live: Live) -> str:
    root = Path(live.api.client.app[settings_key].channels.file.path) / "sms"
    first = sorted(root.glob("*.txt"))[0].read_text(encoding="utf-8")
    found = re.search(r"https?://\S+/r/[\w.~-]+", first)
    assert found, first
    return found.group(0)


async def _fits_a_phone(page: Page, path: str, name: str) -> None:
    """The page at 375 px: nothing runs off the side (tables scroll inside their box)."""
    await page.set_viewport_size(PHONE)
    await page.goto(path)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}-phone.png"), full_page=True)


async def test_console_journey_send_watch_progress_and_see_a_yes_live(
    live: Live, browser: Browser, signed_in_page: Page
) -> None:
    page = signed_in_page
    await _community(live, 20)

    # The organiser creates the event through the form, publishes and previews it.
    await page.goto(f"{live.url}/console/events/new")
    await page.fill("#f-title", "跳蚤市场")
    await page.fill("#f-location", "中心广场")
    await page.fill("#f-starts_at", "2026-12-05T09:00")
    await page.fill("#f-ends_at", "2026-12-05T12:00")
    await page.click("#save-event")
    await page.wait_for_url(re.compile(r".*/console/events/\d+$"))
    event_id = int(page.url.rsplit("/", 1)[1])
    await page.click("#publish-button")
    await expect(page.locator("#send-button")).to_be_visible()
    await page.goto(f"{live.url}/console/events/{event_id}/preview")
    await page.get_by_role("button", name="显示").click()
    await expect(page.locator("#preview-text")).to_contain_text("跳蚤市场")
    await page.goto(f"{live.url}/console/events/{event_id}")

    # Send: the progress page follows the outbox until every invitation has gone.
    await page.click("#send-button")
    await page.wait_for_url(f"{live.url}/console/events/{event_id}/send")
    await expect(page.locator("#send-percent")).to_have_text("100%", timeout=10_000)
    await expect(page.locator("#send-sent")).to_have_text("20")
    await expect(page.locator("#send-queued")).to_have_text("0")
    await expect(page.locator("#send-failed")).to_have_text("0")
    assert await page.locator("#send-progress").evaluate("bar => bar.value") == 100
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-send-desktop.png"), full_page=True)

    # The organiser watches the attendance table; a resident answers from their link.
    await page.goto(f"{live.url}/console/events/{event_id}/attendance")
    await expect(page.locator("#att-pending")).to_have_text("20")
    await page.evaluate("window.notReloaded = true")

    phone = await browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        answering = await phone.new_page()
        await answering.goto(_first_link(live))
        await answering.get_by_label("参加", exact=True).check()
        await answering.get_by_role("button", name="提交回复").click()
        await expect(answering.get_by_role("status")).to_contain_text("参加")
    finally:
        await phone.close()

    await expect(page.locator("#att-yes")).to_have_text("1", timeout=5_000)
    await expect(page.locator("#att-pending")).to_have_text("19")
    yes_row = page.locator('#attendance-rows tr[data-answer="yes"]')
    await expect(yes_row).to_have_count(1)
    await expect(yes_row).to_contain_text("参加")
    await expect(yes_row).to_contain_text("链接")
    assert await page.evaluate("window.notReloaded === true")
    await page.screenshot(path=str(ARTIFACTS / "console-attendance-desktop.png"), full_page=True)

    for name in ("send", "attendance", "checkins"):
        await _fits_a_phone(page, f"{live.url}/console/events/{event_id}/{name}", name)

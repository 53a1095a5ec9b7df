"""A resident answers from their phone: the link in their SMS opened in Chromium at a
phone's size, with and without JavaScript."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Live
from tests.community import EVENTS, invited, rsvp_link

PHONE = {"width": 375, "height": 812}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_rsvp_browser_resident_answers_yes_for_two_on_a_phone(
    live: Live, browser: Browser, javascript: bool
) -> None:
    event_id, [rid], _ = await invited(live.api)
    link = rsvp_link(live.api, event_id, rid)
    context = await browser.new_context(
        viewport=PHONE, locale="zh-CN", java_script_enabled=javascript
    )
    try:
        page = await context.new_page()
        await page.goto(link)

        await expect(page.get_by_role("heading", name="跳蚤市场")).to_be_visible()
        await expect(page.locator("#when")).to_have_text("12月5日（周六）09:00–12:00")
        await expect(page.locator("#answer")).to_have_text("尚未回复")
        # Nothing runs off the side of a phone's screen.
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        submit = page.get_by_role("button", name="提交回复")
        box = await submit.bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb-sized target

        await page.get_by_label("参加", exact=True).check()
        await page.get_by_label("人数（含您本人）").select_option("2")
        await submit.click()

        await expect(page.get_by_role("status")).to_have_text("已登记：参加，共 2 人。")
        await expect(page.locator("#answer")).to_have_text("参加，共 2 人")
    finally:
        await context.close()

    status, body = await live.api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200, body
    [item] = body["items"]
    assert (item["answer"], item["party_size"]) == ("yes", 2)
    assert body["people_yes"] == 2

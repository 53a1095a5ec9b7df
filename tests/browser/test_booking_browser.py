"""A resident books the activity room from their phone (390×844), in Chromium: the week
starts today and offers nothing past, a day's slots read in time order, a skipped week
of a series says why, and cancelling asks once. Screenshots in both languages go to
tests/artifacts/booking/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from service.keys import delivery_key
from service.messages.links import booking_token
from tests.browser.conftest import Live
from tests.community import book, resident, room

PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "booking"
DAILY = [["08:00", "12:00"], ["14:00", "21:00"]]
HOURS = {day: DAILY for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# What each language's page says, keyed by what it is.
SAYS: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "name": "张伟",
        "week": "本周安排",
        "free": "空闲",
        "taken": "已约",
        "skipped": "2026-12-15 未能预约：最多只能提前 14 天预约。",
        "cancel": "取消预约",
        "question": "确定取消",
        "confirm": "确认取消",
        "cancelled": "已取消预约。",
        "request": "提交预约",
    },
    "en": {
        "name": "Ann Lee",
        "week": "This week",
        "free": "Free",
        "taken": "Taken",
        "skipped": "2026-12-15 was not booked: Bookings can be made at most 14 days ahead.",
        "cancel": "Cancel booking",
        "question": "Cancel your booking for",
        "confirm": "Yes, cancel it",
        "cancelled": "Your booking is cancelled.",
        "request": "Request",
    },
}


async def slots_of(page: Page, day: str) -> list[str]:
    texts = await page.locator(f'#week .day[data-date="{day}"] .slot').all_inner_texts()
    return [" ".join(text.split()) for text in texts]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_booking_browser_the_week_starts_today_reads_in_order_and_asks_before_cancelling(
    live: Live, browser: Browser, lang: str
) -> None:
    says = SAYS[lang]
    room_id = await room(live.api, max_days_ahead=14, opening_hours=HOURS)
    neighbour = await resident(live.api, "王芳", "5-1-101")
    status, _ = await book(
        live.api, room_id, "2026-12-01T09:00", "2026-12-01T10:00", resident_id=neighbour
    )
    assert status == 201
    rid = await resident(
        live.api, says["name"], "3-2-1501", ("sms", "+8613800138000"), language=lang
    )
    key = live.api.client.app[delivery_key].ready().links.key
    context = await browser.new_context(viewport=PHONE, locale=lang)
    try:
        page = await context.new_page()
        await page.goto(f"{live.url}/b/{booking_token(key, rid)}")

        # Today (Saturday 28 Nov, 10:00) and the six days after it; nothing before now.
        days = page.locator("#week .day")
        await expect(days).to_have_count(7)
        await expect(days.first).to_have_attribute("data-date", "2026-11-28")
        await expect(days.last).to_have_attribute("data-date", "2026-12-04")
        await expect(page.locator("#week h2")).to_have_text(says["week"])
        free = says["free"]
        assert await slots_of(page, "2026-11-28") == [f"10:00-12:00 {free}", f"14:00-21:00 {free}"]
        await expect(page.locator("#week .nav a")).to_have_count(1)  # no week before this one
        await expect(page.locator("#date")).to_have_attribute("min", "2026-11-28")

        # Tuesday 15:00-16:00 for three weeks: the third is beyond 14 days ahead.
        await page.locator("#date").fill("2026-12-01")
        await page.locator("#start").fill("15:00")
        await page.locator("#end").fill("16:00")
        await page.locator("#weeks").select_option("3")
        await page.get_by_role("button", name=says["request"], exact=True).click()
        await expect(page.locator("#saved")).to_contain_text(says["skipped"])

        # Back on the same week (today on), the Tuesday's slots in time order.
        await expect(days.first).to_have_attribute("data-date", "2026-11-28")
        tuesday = await slots_of(page, "2026-12-01")
        assert [slot.split(" ")[0] for slot in tuesday] == [
            "08:00-09:00",
            "09:00-10:00",
            "10:00-12:00",
            "14:00-15:00",
            "15:00-16:00",
            "16:00-21:00",
        ]
        assert tuesday[1].startswith(f"09:00-10:00 {says['taken']} 王*")
        await page.screenshot(path=str(ARTIFACTS / f"week-{lang}.png"), full_page=True)

        # Cancelling asks once, then cancels.
        first = page.locator("#mine .booking").first
        await first.get_by_text(says["cancel"], exact=True).click()
        await expect(first).to_contain_text(says["question"])
        await page.screenshot(path=str(ARTIFACTS / f"cancel-question-{lang}.png"), full_page=True)
        await first.get_by_role("button", name=says["confirm"]).click()
        await expect(page.locator("#saved")).to_have_text(says["cancelled"])
    finally:
        await context.close()

    status, listed = await live.api.get(
        f"/api/v1/rooms/{room_id}/bookings", params={"status": "cancelled"}
    )
    assert status == 200 and listed["total"] == 1, listed

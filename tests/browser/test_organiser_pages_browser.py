"""[M7b] The organiser's pages in Chromium, in both languages: live answers that can be
spotted (a highlighted row, the latest-answers strip, the filter in use marked), a no
without a party, and the fixed pages (draft without the update form, the console's 404,
the demo's file channel, the room's hours, the invalid link) saved as screenshots under
tests/artifacts/m7b/<page>-<language>.png."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from service.keys import delivery_key
from service.messages.links import booking_token
from tests.browser.conftest import Live
from tests.community import EVENTS, answer, invited, resident, room

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "m7b"
LANGUAGES = ("zh-CN", "en")


async def _shot(page: Page, name: str, lang: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{lang}.png"), full_page=True)


async def test_organiser_sees_live_answers_highlighted_and_the_latest_strip(
    live: Live, signed_in_page: Page
) -> None:
    page = signed_in_page
    event_id, people, _ = await invited(live.api, 4)
    await answer(live.api, event_id, people[0], "yes", 2)
    for lang, yes, no in (("zh-CN", "参加", "不参加"), ("en", "Yes", "No")):
        await page.goto(f"{live.url}/console/events/{event_id}/attendance?lang={lang}")
        await expect(page.locator('#attendance[data-live="on"]')).to_have_count(1)
        await expect(page.locator("#attendance-rows tr.changed")).to_have_count(0)

        # 居民1 answers (by phone, taken through the API): their row lights up and the
        # strip puts them first.
        who = 1 if lang == "zh-CN" else 2
        await answer(live.api, event_id, people[who], "yes")
        changed = page.locator("#attendance-rows tr.changed")
        await expect(changed).to_have_count(1)
        await expect(changed).to_contain_text(f"居民{who}")
        await expect(changed).to_contain_text(yes)
        await expect(page.locator("#latest-answers li").first).to_contain_text(f"居民{who}")
        glow = await changed.locator("td").first.evaluate(
            "td => getComputedStyle(td).animationName"
        )
        assert glow == "changed"
        await _shot(page, "attendance-live", lang)

        # A no after a yes for 2: the party is gone from the row (and the strip says no).
        await answer(live.api, event_id, people[0], "no" if lang == "zh-CN" else "yes", 2)
        if lang == "zh-CN":
            row = page.locator('#attendance-rows tr[data-answer="no"]')
            await expect(row).to_have_count(1)
            await expect(row.locator("td").nth(3)).to_have_text("")
            await expect(page.locator("#latest-answers li").first).to_contain_text(no)

    # The filter in use is marked so that it shows, not only announced.
    await page.goto(f"{live.url}/console/events/{event_id}/attendance?answer=yes&lang=en")
    current = page.locator('.filters a[aria-current="page"]')
    await expect(current).to_have_text("Yes")
    other = page.locator(".filters a:not([aria-current])").first
    marked = await current.evaluate("a => getComputedStyle(a).backgroundColor")
    plain = await other.evaluate("a => getComputedStyle(a).backgroundColor")
    assert marked != plain
    await _shot(page, "attendance-filter", "en")


async def _draft(live: Live) -> int:
    body = {"kind": "meeting", "title": "院会", "starts_at": "2026-12-05T19:00"}
    status, draft = await live.api.post(EVENTS, json={**body, "ends_at": "2026-12-05T20:00"})
    assert status == 201, draft
    return int(draft["id"])


async def test_organiser_fixed_pages_in_both_languages(
    live: Live, browser: Browser, signed_in_page: Page
) -> None:
    page = signed_in_page
    draft = await _draft(live)
    event_id, _, _ = await invited(live.api, 2)
    week = {d: [["08:00", "12:00"], ["14:00", "21:00"]] for d in ("mon", "tue", "wed", "thu")}
    week |= {d: [["08:00", "12:00"], ["14:00", "21:00"]] for d in ("fri", "sat", "sun")}
    await room(live.api, opening_hours=week, closed_dates=["2026-12-25"])
    texts = {
        "zh-CN": ("没有这个页面", "已写入文件（演示）", "短信（写入文件·演示）"),
        "en": (
            "There is no such page",
            "Written to a file (demo)",
            "SMS (written to a file, demo)",
        ),
    }
    for lang in LANGUAGES:
        missing, written, stood_in = texts[lang]
        # A draft offers no update form (only publishing).
        await page.goto(f"{live.url}/console/events/{draft}?lang={lang}")
        await expect(page.locator("#notify-button")).to_have_count(0)
        await expect(page.locator("#publish-button")).to_be_visible()
        await _shot(page, "event-draft", lang)

        await page.goto(f"{live.url}/console/no-such-page")
        await expect(page.locator("#error-message")).to_contain_text(missing)
        await expect(page.locator("nav.menu")).to_be_visible()
        await _shot(page, "console-404", lang)

        await page.goto(f"{live.url}/console/events/{event_id}/send")
        await expect(page.locator("#demo-note")).to_be_visible()
        await expect(page.locator("#send-channels")).to_contain_text(stood_in)
        await _shot(page, "send-demo", lang)

        await page.goto(f"{live.url}/console/messages?event_id={event_id}")
        await expect(page.locator("#messages")).to_contain_text(written)
        await _shot(page, "messages-demo", lang)

        await page.goto(f"{live.url}/console/settings")
        await _shot(page, "settings", lang)

    # The resident's booking page and an invalid link, as residents' phones show them.
    key = live.api.client.app[delivery_key].ready().links.key
    for lang, hours, bad in (
        ("zh-CN", "开放时间：每天 08:00–12:00、14:00–21:00", "链接无效或已过期"),
        ("en", "Opening hours: Every day 08:00–12:00, 14:00–21:00", "not valid any more"),
    ):
        rid = await resident(live.api, f"住户{lang}", "9-9-901", language=lang)
        phone = await browser.new_context(viewport={"width": 390, "height": 844}, locale=lang)
        try:
            resident_page = await phone.new_page()
            await resident_page.goto(f"{live.url}/b/{booking_token(key, rid)}")
            await expect(resident_page.locator("#hours")).to_have_text(hours)
            await _shot(resident_page, "booking-hours", lang)
            # The browser's language (Accept-Language from the locale) picks the page's.
            await resident_page.goto(f"{live.url}/r/not-a-real-token")
            await expect(resident_page.locator("h1")).to_contain_text(bad)
            await _shot(resident_page, "invalid-link", lang)
        finally:
            await phone.close()

"""The consultation loop in Chromium: a resident raises a need on a phone; the organiser
merges it into an item, puts the item on a bench meeting's agenda, prints the roster
(checked as the PDF Chromium prints), enters the paper's ticks, closes the meeting and
publishes the outcome; the raiser's outcome notice lands under the outbox folder."""

from __future__ import annotations

import io
from pathlib import Path

from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader

from service.keys import delivery_key, settings_key
from tests.browser.conftest import PHONE, Live
from tests.community import EVENTS, eventually, published_event, resident

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}
# A4 in PDF points (1/72 inch): 210 x 297 mm.
A4 = (595.28, 841.89)


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"consultation-{name}.png"), full_page=True)


def _outcome_files(live: Live) -> list[str]:
    root = Path(live.api.client.app[settings_key].channels.file.path) / "sms"
    texts = [p.read_text(encoding="utf-8") for p in root.glob("*.txt")] if root.exists() else []
    return [t for t in texts if "outcome_notice" in t]


async def _files(live: Live) -> list[str]:
    return _outcome_files(live)


async def test_consultation_browser_need_to_published_outcome(
    live: Live, browser: Browser, signed_in_page: Page
) -> None:
    api = live.api
    raiser = await resident(api, "张伟", "3-2-1501", ("sms", "+8613800138001"))
    neighbour = await resident(api, "李娜", "3-2-1502", ("sms", "+8613800138002"))
    _, earlier = await api.post(
        "/api/v1/needs", json={"text": "冬天要暖气", "resident_id": neighbour}
    )
    _, item = await api.post(
        "/api/v1/items", json={"title": "活动室冬季取暖", "need_ids": [earlier["id"]]}
    )
    meeting = await published_event(api, kind="meeting", title="板凳会", **TODAY)

    # The resident, on a phone, from the link in their monthly message.
    link = api.client.app[delivery_key].ready().links.needs(raiser)
    phone = await browser.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[arg-type]
    try:
        page = await phone.new_page()
        await page.goto(link)
        await expect(page.get_by_role("heading", name="我的需求和建议")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.get_by_label("您的需求").fill("活动室冬天太冷，老人待不住")
        await page.get_by_label("类别").select_option("facility")
        await page.get_by_role("button", name="提交").click()
        await expect(page.get_by_role("status")).to_have_text("收到了，谢谢！您的需求已记下。")
        await expect(page.locator("#mine")).to_contain_text("活动室冬天太冷，老人待不住")
        await _shot(page, "needs-phone")
    finally:
        await phone.close()

    # The organiser merges it into the item.
    desk = signed_in_page
    await desk.goto(f"{live.url}/console/consultation")
    await desk.get_by_label("活动室冬天太冷，老人待不住").check()
    await desk.locator("#f-item_id").select_option(str(item["id"]))
    await desk.get_by_role("button", name="并入").click()
    await expect(desk.locator("#flash")).to_have_text("已并入议题。")
    await expect(desk.locator("#item-needs")).to_contain_text("活动室冬天太冷，老人待不住")

    # On the meeting's agenda; raisers invited first.
    await desk.goto(f"{live.url}/console/events/{meeting}/meeting")
    await desk.locator(f"#agenda-{item['id']}").check()
    await desk.locator("#save-agenda").click()
    await expect(desk.locator("#flash")).to_have_text("已保存议题。")
    await desk.get_by_role("button", name="先邀请提出人和支持者").click()
    await expect(desk.locator("#flash")).to_have_text("已邀请 2 位提出人和支持者。")

    # The roster, printed as Chromium prints it.
    roster = await desk.context.new_page()
    await roster.goto(f"{live.url}/console/events/{meeting}/roster")
    await roster.emulate_media(media="print")
    pdf = PdfReader(io.BytesIO(await roster.pdf(prefer_css_page_size=True)))
    first = pdf.pages[0]
    size = (float(first.mediabox.width), float(first.mediabox.height))
    assert abs(size[0] - A4[0]) < 1 and abs(size[1] - A4[1]) < 1, size
    # The PDF's text as pypdf reads it back: glyph runs may come apart with spaces.
    printed = "".join(p.extract_text() for p in pdf.pages).replace(" ", "")
    assert "签到表" in printed and "3-2-1501" in printed and "3-2-1502" in printed
    assert "张*" in printed and "张伟" not in printed and "A1活动室冬季取暖" in printed
    await roster.close()

    # The paper's ticks, by unit.
    await desk.get_by_label("录入纸质签到（每行一个签到码或门牌）").fill("3-2-1501\n3-2-1502")
    await desk.locator("#enter-ticks").click()
    await expect(desk.locator("#flash")).to_have_text("新签到 2 户，已签到 0 户。")

    # Closing: the decision and the words residents will read.
    await desk.locator(f"#f-decision_{item['id']}").select_option("accepted")
    await desk.locator(f"#f-outcome_{item['id']}").fill("12月起每晚开暖气到9点")
    await desk.get_by_label("会议纪要").fill("到会居民一致同意")
    await desk.locator("#close-meeting").click()
    await expect(desk.locator("#closed")).to_have_text("会议已结束，到会 2 人。")
    await _shot(desk, "meeting-closed")
    assert _outcome_files(live) == []  # decided, not published: nobody told yet

    # Publishing tells the raisers.
    await desk.goto(f"{live.url}/console/consultation")
    await desk.locator(f"#publish-{item['id']}").check()
    await desk.locator("#publish").click()
    await expect(desk.locator("#flash")).to_have_text("已公示 1 个议题，发出 2 条通知。")
    await _shot(desk, "published")
    found = await eventually(lambda: _files(live), lambda f: len(f) == 2, "two outcome notices")
    [mine] = [t for t in found if "张伟" in t]
    assert "活动室冬季取暖" in mine and "12月起每晚开暖气到9点" in mine

    status, _ = await api.get(f"{EVENTS}/{meeting}/agenda")
    assert status == 200
    board = await desk.context.new_page()
    await board.goto(f"{live.url}/board")
    await expect(board.locator(f"#item-{item['id']}")).to_contain_text("12月起每晚开暖气到9点")
    await _shot(board, "board")
    await board.close()

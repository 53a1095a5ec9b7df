"""The passbook in Chromium: a resident's passbook page on a phone after volunteering,
and a redemption at the points store's counter on a tablet. Screenshots of both pages, in
both languages, go to tests/artifacts/passbook/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, expect

from service.keys import delivery_key
from tests.browser.conftest import Live
from tests.community import answer, code_of, published_event, resident
from tests.passbook import CHECKINS, TODAY, balance, household_of, item

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "passbook"
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}


async def _volunteered(live: Live) -> tuple[int, int]:
    """张伟 came to the volunteer day with one more person: (resident, household)."""
    event_id = await published_event(
        live.api, kind="volunteer", title="志愿者日·扫雪", max_party_size=2, **TODAY
    )
    person = await resident(live.api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    await answer(live.api, event_id, person, "yes", 2)
    status, _ = await live.api.post(
        CHECKINS, json={"code": await code_of(live.api, event_id, person)}
    )
    assert status == 201
    return person, await household_of(live.api, person)


async def test_passbook_browser_a_resident_sees_their_points_on_a_phone(
    live: Live, browser: Browser
) -> None:
    _, home = await _volunteered(live)
    await item(live.api, "米", 15, 10)
    link = live.api.client.app[delivery_key].ready().links.passbook(home)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for lang, heading, earned in (
        ("zh-CN", "积分存折", "获得"),
        ("en", "Points passbook", "Earned"),
    ):
        context = await browser.new_context(viewport=PHONE, locale=lang)  # type: ignore[arg-type]
        try:
            page = await context.new_page()
            await page.goto(f"{link}?lang={lang}")
            await expect(page.get_by_role("heading", name=heading)).to_be_visible()
            await expect(page.locator("#balance")).to_contain_text("20")
            await expect(page.locator("#history")).to_contain_text(f"{earned} · 志愿者日·扫雪")
            await expect(page.locator("#store")).to_contain_text("米")
            await expect(page.locator("#passbook-code")).to_have_text(
                (await live.api.get(f"/api/v1/passbook/households/{home}"))[1]["code"]
            )
            assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            await page.screenshot(path=str(ARTIFACTS / f"passbook-{lang}.png"), full_page=True)
        finally:
            await context.close()


async def test_passbook_browser_a_redemption_at_the_counter(live: Live, browser: Browser) -> None:
    _, home = await _volunteered(live)
    rice = await item(live.api, "米", 15, 10)
    await item(live.api, "抽纸", 2, 10)
    status, issued = await live.api.post("/api/v1/store/counter-tokens", json={"name": "超市柜台"})
    assert status == 201, issued
    code = (await live.api.get(f"/api/v1/passbook/households/{home}"))[1]["code"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    context = await browser.new_context(viewport=TABLET, locale="zh-CN")  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(f"{live.url}{urlsplit(issued['url']).path}?{urlsplit(issued['url']).query}")
        await expect(page.get_by_role("heading", name="积分超市柜台")).to_be_visible()
        await page.get_by_label("存折码（或扫二维码）").fill(code.lower())
        await page.get_by_role("button", name="查找").click()

        await expect(page.locator("#household")).to_contain_text("张*")
        await expect(page.locator("#balance")).to_contain_text("20")
        html = await page.content()
        assert "张伟" not in html and "13812345678" not in html
        await page.screenshot(path=str(ARTIFACTS / "counter-zh-CN.png"), full_page=True)
        await page.locator(f"#qty-{rice}").fill("1")
        await page.get_by_role("button", name="确认兑换").click()
        await expect(page.locator("#done")).to_have_text("兑换成功：共 15 分，剩余 5 分。")
        # Back and submit again: the page was loaded afresh, and 5 points buy no more rice.
        await page.go_back()
        await page.get_by_role("button", name="确认兑换").click()
        await expect(page.locator("#problem")).to_have_text("积分不足，无法兑换。")

        # The English counter, and a household whose points do not cover the goods.
        await page.goto(f"{live.url}/counter?lang=en&unit=3-2-1501")
        await expect(page.locator("#balance")).to_contain_text("5")
        await page.locator(f"#qty-{rice}").fill("1")
        await page.get_by_role("button", name="Redeem").click()
        await expect(page.locator("#problem")).to_have_text("Not enough points for these goods.")
        await page.screenshot(path=str(ARTIFACTS / "counter-en.png"), full_page=True)
    finally:
        await context.close()
    assert await balance(live.api, home) == 5
    _, left = await live.api.get(f"/api/v1/store/items/{rice}")
    assert left["stock"] == 9

    # Without the counter link, the page opens nothing.
    context = await browser.new_context(viewport=TABLET)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        response = await page.goto(f"{live.url}/counter?code={code}")
        assert response is not None and response.status == 401
        assert "张*" not in await page.content()
    finally:
        await context.close()

"""Residents' pages in one language: opening hours said once when every day is the same,
English punctuation on English pages, and the invalid-link page in the reader's language."""

from __future__ import annotations

import re

from service.core.i18n import opening_hours_text
from service.core.phrases import language_from_header
from service.keys import delivery_key
from service.messages.links import booking_token
from tests.community import resident, room
from tests.conftest import Api
from tests.console import plain

SAME = [["08:00", "12:00"], ["14:00", "21:00"]]
FULL_WIDTH = re.compile(r"[\u3000-\u303f\uff01-\uff5e]")


def test_opening_hours_text_says_a_same_week_once() -> None:
    week = {day: SAME for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert opening_hours_text(week, "en") == "Every day 08:00–12:00, 14:00–21:00"
    assert opening_hours_text(week, "zh-CN") == "每天 08:00–12:00、14:00–21:00"
    workdays = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    assert opening_hours_text(workdays, "en") == "Mon–Fri 09:00–17:00; Sat, Sun closed"
    assert opening_hours_text(workdays, "zh-CN") == "周一至周五 09:00–17:00；周六、周日 不开放"
    assert opening_hours_text({}, "en") == "Open all day"
    odd = {"mon": SAME, "wed": SAME}
    assert opening_hours_text(odd, "en") == (
        "Mon 08:00–12:00, 14:00–21:00; Tue closed; Wed 08:00–12:00, 14:00–21:00; Thu–Sun closed"
    )


async def _booking_page(api: Api, language: str, **rules: object) -> str:
    await room(api, **rules)
    rid = await resident(api, "Ann Lee", "3-2-1501", ("sms", "13800138000"), language=language)
    key = api.client.app[delivery_key].ready().links.key
    async with api.client.get(f"/b/{booking_token(key, rid)}") as resp:
        assert resp.status == 200
        return await resp.text()


def _rules(html: str) -> str:
    found = re.search(r'id="rules">(.*?)</div>', html, re.S)
    assert found, html
    return plain(found.group(1))


async def test_booking_page_in_english_has_english_punctuation_and_one_line_of_hours(
    api: Api,
) -> None:
    week = {day: SAME for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    html = await _booking_page(
        api, "en", opening_hours=week, closed_dates=["2026-12-25", "2027-01-01"]
    )
    rules = _rules(html)
    assert "Opening hours: Every day 08:00–12:00, 14:00–21:00" in rules
    assert "Closed on: 2026-12-25, 2027-01-01" in rules
    assert not FULL_WIDTH.search(rules), rules


async def test_booking_page_in_chinese_keeps_chinese_punctuation(api: Api) -> None:
    week = {day: SAME for day in ("mon", "tue", "wed", "thu", "fri")}
    html = await _booking_page(api, "zh-CN", opening_hours=week, closed_dates=["2026-12-25"])
    rules = _rules(html)
    assert "开放时间：周一至周五 08:00–12:00、14:00–21:00；周六、周日 不开放" in rules
    assert "不开放日期：2026-12-25" in rules


def test_language_from_header_takes_the_browsers_first_language_we_speak() -> None:
    assert language_from_header("en-GB,en;q=0.9,zh-CN;q=0.8") == "en"
    assert language_from_header("zh-TW,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert language_from_header("fr-FR, en;q=0.5, zh;q=0.7") == "zh-CN"
    assert language_from_header("de, fr;q=0.5") is None
    assert language_from_header("en;q=0, zh;q=x") is None
    assert language_from_header(None) is None


async def test_invalid_link_page_follows_the_reader(api: Api) -> None:
    async def bad(path: str, **headers: str) -> tuple[int, str]:
        async with api.client.get(path, headers=headers) as resp:
            return resp.status, await resp.text()

    # The community speaks Chinese; an English browser reads the page in English.
    status, html = await bad("/r/not-a-token", **{"Accept-Language": "en-US,en;q=0.9"})
    assert status == 404 and 'lang="en"' in html
    assert "This link is not valid any more" in html and "链接无效" not in html
    assert re.search(r'<a href="\?lang=zh-CN"[^>]*>中文</a>', html)

    status, html = await bad("/b/not-a-token", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    assert status == 404 and "链接无效或已过期" in html and "not valid" not in html

    # A language chosen before (the cookie) or asked for (?lang=) wins over the browser's.
    status, html = await bad(
        "/r/not-a-token", Cookie="linli_lang=zh-CN", **{"Accept-Language": "en"}
    )
    assert "链接无效或已过期" in html
    status, html = await bad("/r/not-a-token?lang=en", **{"Accept-Language": "zh-CN"})
    assert "This link is not valid any more" in html
    # No preference at all: the community's language.
    status, html = await bad("/r/not-a-token")
    assert status == 404 and "链接无效或已过期" in html

"""One name for one thing: a link reads as the page it opens is titled, the answers and the
check-ins are two lists that link each other, the room is 活动室 everywhere, and the door's
code is 签到码 wherever a resident or the door shows it."""

from __future__ import annotations

import re

from service.core.phrases import catalogue
from tests.community import console_community, page_path, submit
from tests.conftest import Api
from tests.console import ConsoleClient, Page, plain


def _link(page: Page, href: str) -> str:
    found = re.search(rf'<a[^>]*href="{re.escape(href)}"[^>]*>(.*?)</a>', page.text, re.S)
    assert found, f"no link to {href} on {page.url}"
    return plain(found.group(1))


def _h1(page: Page) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", page.text, re.S)
    assert found, page.url
    return plain(found.group(1))


async def test_console_names_each_list_is_named_for_what_it_shows_and_links_the_other(
    api: Api, console: ConsoleClient
) -> None:
    ids, _ = await console_community(api)
    event = f"/console/events/{ids['event']}"
    answers, arrivals = f"{event}/attendance", f"{event}/checkins"
    for lang, names in (("zh-CN", ("回复名单", "签到名单")), ("en", ("Answers", "Check-ins"))):
        detail = await console.get(f"{event}?lang={lang}")
        answers_page = await console.get(answers)
        arrivals_page = await console.get(arrivals)
        assert (_h1(answers_page), _h1(arrivals_page)) == names
        # The event page's buttons say what they open …
        assert (_link(detail, answers), _link(detail, arrivals)) == names
        # … and each list leads to the other by the other's name.
        assert _link(answers_page, arrivals) == names[1]
        assert _link(arrivals_page, answers) == names[0]


async def test_console_names_the_room_is_one_word_in_the_menu_and_on_its_pages(
    api: Api, console: ConsoleClient
) -> None:
    ids, _ = await console_community(api)
    for lang in ("zh-CN", "en"):
        rooms = await console.get(f"/console/rooms?lang={lang}")
        assert _link(rooms, "/console/rooms") == _h1(rooms)
        room = await console.get(f"/console/rooms/{ids['room']}")
        assert not room.has("房间") and not rooms.has("房间")
    assert not [key for key, text in catalogue()["zh-CN"].items() if "房间" in text]


async def test_console_names_the_door_code_is_one_name_for_residents_and_the_door(
    api: Api,
) -> None:
    ids, _ = await console_community(api)
    path = page_path(api, ids["event"], ids["resident"])
    status, html = await submit(api, path, answer="yes", party_size="1")
    assert status == 200 and "签到码" in plain(html) and "入场码" not in html
    words = catalogue()["zh-CN"]
    assert not [key for key, text in words.items() if "入场码" in text]
    assert words["rsvp_page.checkin"] == words["booking_page.checkin"] == words["live.code"]
    assert words["tablet.code_label"] == words["live.code"]

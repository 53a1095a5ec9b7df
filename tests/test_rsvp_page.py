"""The resident's RSVP page behind the link in every message: what it shows in each
language, the form's answers and its problems, the calendar file and the signed action
URLs integrators' bots use."""

from __future__ import annotations

import asyncio
import html as entities
import re

import icalendar  # type: ignore[import-untyped]

from service.messages.links import Links
from tests.community import (
    EVENTS,
    attendance,
    invited,
    nonce_of,
    open_page,
    page_path,
    resident,
    submit,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.telegram import TOKEN, FakeTelegram


async def also_invited(api: Api, event_id: int, name: str, unit: str, phone: str) -> str:
    """Another resident invited to the same event; the path of their page."""
    rid = await resident(api, name, unit, ("sms", phone))
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200 and report["invited"] == 1, report
    return page_path(api, event_id, rid)


def text_of(html: str) -> str:
    """The page's words without tags, spaces squeezed."""
    return re.sub(r"\s+", " ", entities.unescape(re.sub(r"<[^>]+>", " ", html)))


async def test_rsvp_page_shows_the_event_and_answer_in_chinese(api: Api) -> None:
    event_id, _, [path] = await invited(
        api, description="带上闲置的书和玩具", rsvp_deadline="2026-12-01T20:00"
    )

    status, html, headers = await open_page(api, path)

    assert status == 200
    words = text_of(html)
    assert '<html lang="zh-CN">' in html
    assert "跳蚤市场" in words and "中心广场" in words and "带上闲置的书和玩具" in words
    assert "12月5日（周六）09:00–12:00" in words
    assert "报名截止 12月1日（周二）20:00" in words
    assert "您的回复 尚未回复" in words
    assert "您会参加吗？" in words and "人数（含您本人）" in words
    assert re.findall(r'<option value="(\d+)"', html) == ["1", "2", "3", "4"]
    assert f'href="{path}/event.ics"' in html and "加入日历" in words
    assert "“A1 1”参加" in words  # event 1's SMS code
    assert "Telegram" not in words  # the channel is not configured
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert event_id == 1


async def test_rsvp_page_links_to_the_residents_own_booking_page(api: Api) -> None:
    await api.post("/api/v1/rooms", json={"name": "活动室", "capacity": 30})
    _, _, [path] = await invited(api)
    _, html, _ = await open_page(api, path)
    found = re.search(r'<a href="(/b/[^"]+)">预约活动室</a>', html)
    assert found, "the RSVP page offers no booking page"

    status, booking, headers = await open_page(api, found.group(1))
    assert status == 200
    assert "活动室" in text_of(booking)
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_rsvp_page_speaks_english_to_an_english_resident(api: Api) -> None:
    _, _, [path] = await invited(api, language="en")
    await submit(api, path, answer="yes", party_size="3")

    status, html, _ = await open_page(api, path)

    words = text_of(html)
    assert status == 200 and '<html lang="en">' in html
    assert "Sat 5 Dec, 09:00–12:00" in words
    assert "Your answer Going, party of 3" in words
    assert "Will you come?" in words and "Add to calendar" in words
    assert 'value="yes" required checked' in html
    assert '<option value="3" selected>' in html
    assert 'reply by SMS: "A1 1" going' in words


async def test_rsvp_page_get_changes_nothing(api: Api) -> None:
    event_id, _, [path] = await invited(api)

    for _ in range(3):
        assert (await open_page(api, path))[0] == 200
    async with api.client.get(f"{path}/event.ics") as resp:
        assert resp.status == 200
    # A chat app's link preview may fetch the action URLs too: they only answer to POST.
    for url in Links.actions(path).values():
        async with api.client.get(url) as resp:
            assert resp.status == 405

    counts = await attendance(api, event_id)
    assert counts["pending"] == 1 and counts["yes"] == 0
    assert counts["items"][0]["history"] == []


async def test_rsvp_page_yes_with_a_party_is_committed_and_confirmed(api: Api) -> None:
    event_id, _, [path] = await invited(api)

    status, html = await submit(api, path, answer="yes", party_size="2")

    assert status == 200
    words = text_of(html)
    assert "已登记：参加，共 2 人。" in words
    assert "您的回复 参加，共 2 人" in words
    counts = await attendance(api, event_id)
    assert counts["yes"] == 1 and counts["people_yes"] == 2
    [item] = counts["items"]
    assert item["answer"] == "yes" and item["party_size"] == 2
    assert item["history"][-1]["via"] == "link"


async def test_rsvp_page_the_same_form_sent_twice_changes_nothing_more(api: Api) -> None:
    event_id, _, [path] = await invited(api)
    _, html, _ = await open_page(api, path)
    nonce = nonce_of(html)

    first, _ = await submit(api, path, answer="yes", party_size="2", nonce=nonce)
    # A double tap, or the browser sending the form again from its history.
    again, html = await submit(api, path, answer="no", nonce=nonce)

    assert first == again == 200
    assert "您的回复 参加，共 2 人" in text_of(html)
    [item] = (await attendance(api, event_id))["items"]
    assert item["answer"] == "yes" and len(item["history"]) == 1
    # A fresh page view gets a fresh nonce, so changing one's mind still works.
    status, html = await submit(api, path, answer="no")
    assert status == 200 and "已登记：不参加。" in text_of(html)


async def test_rsvp_page_a_full_event_waitlists_and_shows_the_place(api: Api) -> None:
    event_id, _, [first] = await invited(api, capacity=2)
    second = await also_invited(api, event_id, "李娜", "3-2-1502", "13800138001")
    assert (await submit(api, first, answer="yes", party_size="2"))[0] == 200

    status, html = await submit(api, second, answer="yes", party_size="1")

    assert status == 200
    assert "名额已满，您在候补第 1 位" in text_of(html)
    _, html, _ = await open_page(api, second)
    assert "您的回复 候补第 1 位，共 1 人" in text_of(html)
    assert (await attendance(api, event_id))["waitlisted"] == 1


async def test_rsvp_page_asking_for_more_seats_than_are_free_is_409(api: Api) -> None:
    event_id, _, [first] = await invited(api, capacity=3)
    second = await also_invited(api, event_id, "李娜", "3-2-1502", "13800138001")
    await submit(api, first, answer="yes", party_size="1")
    await submit(api, second, answer="yes", party_size="2")

    status, html = await submit(api, first, answer="yes", party_size="2")

    assert status == 409
    assert "剩余名额不足，您保留原来的 1 人名额。" in text_of(html)
    assert (await attendance(api, event_id))["people_yes"] == 3


async def test_rsvp_page_bad_fields_are_400_in_the_residents_words(api: Api) -> None:
    event_id, _, [path] = await invited(api)

    too_many, html = await submit(api, path, answer="yes", party_size="9")
    assert too_many == 400 and "人数须在 1 到 4 之间。" in text_of(html)
    for nonsense in ("两", "²", "-1"):
        status, html = await submit(api, path, answer="yes", party_size=nonsense)
        assert status == 400 and "人数须在 1 到 4 之间。" in text_of(html), nonsense
    no_answer, html = await submit(api, path, party_size="1")
    assert no_answer == 400 and "请选择参加、不参加或待定。" in text_of(html)
    assert 'name="answer"' in html  # the form is there to try again

    assert (await attendance(api, event_id))["pending"] == 1


async def test_rsvp_page_after_the_deadline_shows_the_answer_but_takes_none(
    api: Api, clock: PinnedClock
) -> None:
    event_id, _, [path] = await invited(api, rsvp_deadline="2026-12-01T20:00")
    await submit(api, path, answer="maybe")
    clock.advance(days=4)  # 12-02 10:00 in Shanghai

    status, html, _ = await open_page(api, path)
    assert status == 200
    words = text_of(html)
    assert "您的回复 待定" in words and "报名已截止，回复不能再更改。" in words
    assert "<form" not in html

    status, html = await submit(api, path, answer="yes", nonce="late")
    assert status == 409 and "报名已截止" in text_of(html)
    assert (await attendance(api, event_id))["maybe"] == 1


async def test_rsvp_page_is_404_for_a_bad_link_or_an_event_that_is_over(
    api: Api, clock: PinnedClock
) -> None:
    event_id, [rid], [path] = await invited(api)
    stranger = await resident(api, "王芳", "1-1-101", ("sms", "13800138002"))
    draft_status, draft = await api.post(
        EVENTS,
        json={
            "kind": "meeting",
            "title": "院会",
            "starts_at": "2026-12-06T19:00",
            "ends_at": "2026-12-06T20:00",
        },
    )
    assert draft_status == 201, draft

    for bad in (
        "/r/nonsense",
        path[:-2] + ("xx" if not path.endswith("xx") else "yy"),  # tampered
        page_path(api, event_id, stranger),  # signed, but not invited
        page_path(api, draft["id"], rid),  # a draft
    ):
        status, html, _ = await open_page(api, bad)
        assert status == 404 and "链接无效或已过期" in html, bad
        async with api.client.post(bad, data={"answer": "yes"}) as resp:
            assert resp.status == 404, bad

    clock.advance(days=8)  # the event ended on 12-05
    status, html, _ = await open_page(api, path)
    assert status == 404 and "链接无效或已过期" in html
    async with api.client.get(f"{path}/event.ics") as resp:
        assert resp.status == 404


async def test_rsvp_page_is_404_once_the_event_is_cancelled(api: Api) -> None:
    event_id, _, [path] = await invited(api)
    status, _ = await api.post(f"{EVENTS}/{event_id}/cancel")
    assert status == 200

    assert (await open_page(api, path))[0] == 404


async def test_rsvp_page_calendar_file_is_the_event(api: Api) -> None:
    event_id, _, [path] = await invited(api)

    async with api.client.get(f"{path}/event.ics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/calendar"
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        calendar = icalendar.Calendar.from_ical(await resp.text())

    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"linli-event-{event_id}@127.0.0.1"
    assert str(event["SUMMARY"]) == "跳蚤市场"
    assert event.decoded("DTSTART").isoformat() == "2026-12-05T01:00:00+00:00"


async def test_rsvp_page_action_urls_answer_for_the_resident(api: Api) -> None:
    event_id, _, [path] = await invited(api)
    actions = Links.actions(path)

    status, body = await api.post(actions["yes"], json={"party_size": 3, "nonce": "bot-1"})
    assert status == 200, body
    assert body["invitation"]["answer"] == "yes" and body["invitation"]["party_size"] == 3
    # The bot retried: the same nonce changes nothing.
    status, body = await api.post(actions["no"], json={"nonce": "bot-1"})
    assert status == 200 and body["repeated"] is True
    assert body["invitation"]["answer"] == "yes"
    # No body at all is an answer too.
    status, body = await api.post(actions["maybe"])
    assert status == 200 and body["invitation"]["answer"] == "maybe"
    assert body["invitation"]["party_size"] == 3

    status, body = await api.post(actions["yes"], json={"party_size": 9})
    assert status == 400 and body["error"]["code"] == "party_size_out_of_range"
    status, body = await api.post("/r/forged/yes")
    assert status == 404 and body["error"]["code"] == "invitation_not_found"

    [item] = (await attendance(api, event_id))["items"]
    assert [change["via"] for change in item["history"]] == ["webhook", "webhook"]


async def test_rsvp_page_action_urls_after_the_deadline_are_409(
    api: Api, clock: PinnedClock
) -> None:
    _, _, [path] = await invited(api, rsvp_deadline="2026-12-01T20:00")
    clock.advance(days=4)

    status, body = await api.post(Links.actions(path)["yes"])

    assert status == 409 and body["error"]["code"] == "answers_closed"


async def test_rsvp_page_links_the_telegram_bot_when_it_is_configured(make_api: MakeApi) -> None:
    async with FakeTelegram() as bot:
        api = await make_api(
            **{
                "channels.telegram.enabled": True,
                "channels.telegram.bot_token": TOKEN,
                "channels.telegram.bot_username": "linli_bot",
                "channels.telegram.api_url": bot.url,
            }
        )
        _, _, [path] = await invited(api)

        _, html, _ = await open_page(api, path)

    assert re.search(r'href="https://t.me/linli_bot\?start=[\w-]+"', html)
    assert "在 Telegram 上接收通知" in text_of(html)


async def test_rsvp_page_many_residents_at_once_each_see_their_own_answer(api: Api) -> None:
    """Each confirmation shows the answer just committed, however many pages answer at
    the same moment (the reader must not serve a snapshot from before the commit)."""
    event_id, _, [first] = await invited(api)
    paths = [first] + [
        await also_invited(api, event_id, f"居民{i}", f"5-1-{i:03d}", f"1390013{i:04d}")
        for i in range(149)
    ]

    # Each resident opens the page and answers; their reads and writes interleave.
    results = await asyncio.gather(
        *(submit(api, path, answer="yes", party_size="1") for path in paths)
    )

    assert [status for status, _ in results] == [200] * len(paths)
    assert all("已登记：参加" in text_of(html) for _, html in results)
    assert (await attendance(api, event_id))["yes"] == len(paths)


async def test_rsvp_page_post_redirects_so_a_reload_sends_nothing(api: Api) -> None:
    event_id, _, [path] = await invited(api)
    _, html, _ = await open_page(api, path)

    form = {"answer": "no", "nonce": nonce_of(html)}
    async with api.client.post(path, data=form, allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == f"{path}?saved=1"

    status, html, _ = await open_page(api, f"{path}?saved=1")
    assert status == 200 and "已登记" in text_of(html)
    assert (await attendance(api, event_id))["no"] == 1

"""Errors in the console's own form: no update form on a draft and its refusal in the
page's language, the console's HTML 404 for an unknown address, and a favicon."""

from __future__ import annotations

from tests.community import EVENTS, invited, published_event
from tests.conftest import Api
from tests.console import ConsoleClient

DRAFT = {"kind": "meeting", "title": "院会", "starts_at": "2026-12-05T19:00"}


async def _draft(api: Api) -> int:
    status, draft = await api.post(EVENTS, json={**DRAFT, "ends_at": "2026-12-05T20:00"})
    assert status == 201, draft
    return int(draft["id"])


async def test_console_errors_a_draft_offers_no_update_and_refuses_it_in_chinese(
    api: Api, console: ConsoleClient
) -> None:
    draft = await _draft(api)
    page = await console.get(f"/console/events/{draft}")
    assert page.status == 200 and page.has("院会")
    assert f'action="/console/events/{draft}/notify"' not in page.text
    assert 'id="publish-button"' in page.text

    # A form sent anyway (an old tab) is refused in the page's own language.
    refused = await console.post(
        f"/console/events/{draft}/notify", {"kind": "update", "audience": "invited"}
    )
    assert refused.status == 409
    assert refused.error_for("_form") == "活动发布后才能发送邀请、更新或提醒；草稿还不能发送。"
    assert "only a published event" not in refused.text

    english = await console.post(
        f"/console/events/{draft}/notify?lang=en", {"kind": "update", "audience": "invited"}
    )
    assert english.status == 409
    assert english.error_for("_form") == (
        "Invitations, updates and reminders go out once the event is published;"
        " a draft sends nothing."
    )

    # Published, the form is there with updates and reminders only.
    published = await published_event(api)
    page = await console.get(f"/console/events/{published}?lang=zh-CN")
    assert f'action="/console/events/{published}/notify"' in page.text
    assert 'value="update"' in page.text and 'value="cancellation"' not in page.text


async def test_console_errors_an_unknown_console_address_is_the_consoles_404_page(
    api: Api, console: ConsoleClient
) -> None:
    for path in ("/console/nothing-here", "/console/events/abc", "/console/rooms/1/nope"):
        page = await console.get(path)
        assert page.status == 404, path
        assert page.headers["Content-Type"].startswith("text/html"), path
        assert page.by_id("error-message") == "没有这个页面。请从上方的菜单进入。"
        assert page.has("无法完成") and page.has("活动")  # the console's title and menu
    page = await console.get("/console/nothing-here?lang=en")
    assert page.status == 404
    assert page.by_id("error-message") == "There is no such page. Use the menu above."
    assert 'lang="en"' in page.text

    # Signed out, the same page (without the menu's account), and the API stays JSON.
    async with console.client.get("/console/nothing-here", cookies={"linli_session": "x"}) as r:
        assert r.status == 404 and r.content_type == "text/html"
    status, body = await api.get("/api/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_console_errors_the_favicon_is_served(api: Api) -> None:
    async with api.client.get("/favicon.ico") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/x-icon"
        icon = await resp.read()
    assert icon[:4] == b"\x00\x00\x01\x00" and b"PNG" in icon[:40]


async def test_console_errors_a_refused_field_is_said_in_the_pages_language(
    api: Api, console: ConsoleClient
) -> None:
    event_id, [rid], _ = await invited(api)
    path = f"/console/events/{event_id}/attendance"
    form = {"resident_id": str(rid), "answer": "yes", "party_size": "0"}
    page = await console.post(path, form)
    assert page.status == 400 and page.error_for("party_size") == "不能小于 1。"
    page = await console.post(f"{path}?lang=en", {**form, "party_size": "abc"})
    assert page.error_for("party_size") == "Enter a whole number."
    page = await console.post(f"{path}?lang=en", {**form, "answer": "perhaps"})
    assert page.error_for("answer") == "Choose one of the options."
    # The API keeps its own words.
    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": rid, "answer": "yes", "party_size": 0}
    )
    assert status == 400 and "greater than or equal to 1" in body["error"]["fields"]["party_size"]

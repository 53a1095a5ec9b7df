"""The console's live event pages: sending with its progress stream, the attendance table
(live, CSV, answers taken by phone) and the check-in list."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

from service.keys import store_key
from service.store.checkin import invitation_code
from tests.community import EVENTS, invited, published_event, resident, settled
from tests.conftest import Api
from tests.console import ConsoleClient


async def _events(console: ConsoleClient, path: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The data of a console stream's events, until the server ends it or `limit` came."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(20), console.client.get(path) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async for raw in resp.content:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("data: "):
                found.append(json.loads(line.removeprefix("data: ")))
                if len(found) >= limit:
                    break
    return found


async def _community(api: Api, size: int) -> None:
    for n in range(size):
        await resident(api, f"居民{n:02d}", f"1-1-{101 + n}", ("sms", f"138001380{n:02d}"))


async def test_console_live_send_to_20_residents_reaches_100_percent(
    api: Api, console: ConsoleClient
) -> None:
    await _community(api, 20)
    event_id = await published_event(api)

    page = await console.post(f"/console/events/{event_id}/send", {})
    assert page.status == 200 and page.url == f"/console/events/{event_id}/send"
    assert page.flash and "20" in page.flash
    assert page.text.count('id="send-progress"') == 1

    events = await _events(console, f"/console/events/{event_id}/send/stream")
    last = events[-1]
    assert (last["percent"], last["sent"], last["queued"], last["failed"]) == (100, 20, 0, 0)
    assert last["done"] is True and last["channels"]["sms"]["sent"] == 20
    assert all(e["percent"] <= f["percent"] for e, f in itertools.pairwise(events))

    # Without JavaScript, the page itself shows where the send stands.
    page = await console.get(f"/console/events/{event_id}/send")
    assert page.by_id("send-percent") == "100%"
    assert (page.by_id("send-sent"), page.by_id("send-queued")) == ("20", "0")
    assert 'value="100"' in page.text

    # Sending again invites nobody twice.
    page = await console.post(f"/console/events/{event_id}/send", {})
    assert page.flash and page.flash.startswith("已发送：新邀请 0 人")
    assert page.by_id("send-total") == "20"


async def test_console_live_send_of_a_draft_is_refused_with_its_reason(
    api: Api, console: ConsoleClient
) -> None:
    meeting = {"kind": "meeting", "title": "院会", "starts_at": "2026-12-05T19:00"}
    status, draft = await api.post(EVENTS, json={**meeting, "ends_at": "2026-12-05T20:00"})
    assert status == 201, draft
    page = await console.post(f"/console/events/{draft['id']}/send", {})
    assert page.status == 409 and page.has("event_not_published")
    page = await console.get("/console/events/999999/send")
    assert page.status == 404


async def test_console_live_attendance_shows_a_yes_from_the_link(
    api: Api, console: ConsoleClient
) -> None:
    event_id, _, [path] = await invited(api)
    async with api.client.get(path) as resp:
        nonce = re.search(r'name="nonce" value="([^"]+)"', await resp.text())
    assert nonce
    async with api.client.post(
        path, data={"answer": "yes", "party_size": "2", "nonce": nonce.group(1)}
    ) as resp:
        assert resp.status == 200

    page = await console.get(f"/console/events/{event_id}/attendance")
    assert page.status == 200
    assert (page.by_id("att-yes"), page.by_id("att-people"), page.by_id("att-pending")) == (
        "1",
        "2",
        "0",
    )
    row = re.search(r'<tr data-answer="yes"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row and "张伟" in row.group(1) and "参加" in row.group(1) and "链接" in row.group(1)

    # The stream carries the same rows, in the page's language.
    [first] = await _events(
        console, f"/console/events/{event_id}/attendance/stream?lang=en", limit=1
    )
    assert first["counts"]["yes"] == 1
    [item] = first["rows"]
    assert (item["name"], item["answer_text"], item["party"], item["via"]) == (
        "张伟",
        "Yes",
        2,
        "Link",
    )

    # Filters: nobody said no.
    page = await console.get(f"/console/events/{event_id}/attendance?answer=no")
    assert "<tr data-answer" not in page.text and page.by_id("attendance-empty")


async def test_console_live_attendance_csv_is_the_apis_with_a_bom(
    api: Api, console: ConsoleClient
) -> None:
    event_id, _, _ = await invited(api)
    async with console.client.get(f"/console/events/{event_id}/attendance.csv") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        mine = await resp.read()
    assert mine.startswith(b"\xef\xbb\xbf")
    assert "张伟" in mine.decode("utf-8-sig")
    async with api.client.get(
        f"/api/v1/events/{event_id}/attendance.csv",
        headers={"Authorization": f"Bearer {api.token}"},
    ) as resp:
        assert await resp.read() == mine
    # Signed out, the console's copy is not handed out.
    async with console.client.get(
        f"/console/events/{event_id}/attendance.csv",
        allow_redirects=False,
        cookies={"linli_session": "nope"},
    ) as resp:
        assert resp.status in (303, 200) and not (await resp.read()).startswith(b"\xef\xbb\xbf")


async def test_console_live_answer_taken_by_phone_keeps_the_form_on_bad_input(
    api: Api, console: ConsoleClient
) -> None:
    event_id, [rid], _ = await invited(api)
    path = f"/console/events/{event_id}/attendance"
    page = await console.post(path, {"resident_id": str(rid), "answer": "yes", "party_size": "0"})
    assert page.status == 400
    assert page.error_for("party_size")
    assert 'name="party_size" type="number" value="0"' in page.text

    page = await console.post(path, {"resident_id": str(rid), "answer": "yes", "party_size": "3"})
    assert page.status == 200 and page.url == path
    assert page.flash == "已记录：张伟 — 参加。"
    assert page.by_id("att-people") == "3"
    assert re.search(r"<td>组织者代录</td>", page.text)


async def test_console_live_checkin_by_code_then_already_checked_in(
    api: Api, console: ConsoleClient
) -> None:
    # Today (the pinned clock says 10:00 in Shanghai), so the code admits at the door.
    event_id, [rid], _ = await invited(
        api, starts_at="2026-11-28T14:00", ends_at="2026-11-28T16:00"
    )
    page = await console.post(
        f"/console/events/{event_id}/attendance", {"resident_id": str(rid), "answer": "yes"}
    )
    assert page.status == 200, page.text
    status, body = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200, body
    [item] = body["items"]
    code = await invitation_code(api.client.app[store_key].reader, item["id"])
    assert code

    path = f"/console/events/{event_id}/checkins"
    page = await console.get(path)
    assert page.status == 200 and page.by_id("checkins-empty")

    spaced = f"{code[:3].lower()} {code[3:].lower()}"
    page = await console.post(path, {"code": spaced, "nonce": "n1"})
    assert page.status == 200 and page.url == path
    assert page.flash == "已签到：张*，1 人。"
    assert page.has("张伟") and page.has(code) and page.by_id("checkin-people") == "1"

    page = await console.post(path, {"code": code, "nonce": "n2"})
    assert page.status == 409
    assert page.error_for("code") == "已于 10:00 签到过。"
    assert f'value="{code}"' in page.text  # the typed code stays in the box

    page = await console.post(f"{path}?lang=en", {"code": "ZZZZZZ", "nonce": "n3"})
    assert page.status == 404
    assert page.error_for("code") == "There is no such check-in code."

    # Walk-ins without a code; the same form sent twice counts them once.
    for _ in range(2):
        page = await console.post(path, {"walk_ins": "2", "nonce": "n4"})
        assert page.status == 200 and page.flash == "Counted 2 walk-ins."  # English since ?lang=en
    assert page.by_id("checkin-people") == "3" and page.by_id("checkin-parties") == "2"

    # The attendance table marks the party as checked in.
    await settled(api, event_id, total=2)
    page = await console.get(f"/console/events/{event_id}/attendance")
    assert page.by_id("att-checked_in") == "3"  # walk-ins included
    assert "11-28 10:00</td>" in page.text

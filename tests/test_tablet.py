"""The door tablet: signing in by cookie, today's timeline of its room (current and next),
check-in at the door, the live feed, scope (its room, today to 7 days on, 403 elsewhere)
and privacy (no phone, email or full name in anything it can fetch)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestClient

from service.app import ROUTE_TABLES
from service.core.clock import to_db
from service.core.models import Role
from service.domain.auth import issue_token
from service.keys import settings_key, store_key
from tests.community import (
    answer,
    booking,
    code_of,
    door,
    published_event,
    resident,
    room,
    yes_code,
)
from tests.conftest import START, Api

TZ = ZoneInfo("Asia/Shanghai")
TODAY = START.astimezone(TZ).date()  # 2026-11-28, 10:00 local
# The routes a door token may call besides its tablet's: who am I, and check-in (bound to
# its room by the route itself).
DOOR_API = {("GET", "/api/v1/me"), ("POST", "/api/v1/checkins"), ("GET", "/api/v1/checkins/{code}")}


def local(hour: int, minute: int = 0, days: int = 0) -> str:
    """A local time of today (or `days` on) as the store writes it."""
    return to_db(datetime.combine(TODAY + timedelta(days=days), time(hour, minute), tzinfo=TZ))


def today(start: str, end: str) -> dict[str, str]:
    return {"starts_at": f"{TODAY}T{start}", "ends_at": f"{TODAY}T{end}"}


async def timeline(tablet: Api, **params: str) -> tuple[int, Any]:
    return await tablet.get("/tablet/timeline", params=params)


async def next_event(resp: aiohttp.ClientResponse, within: float = 2.0) -> dict[str, Any]:
    """The next `timeline` event of a server-sent event stream, within `within` seconds."""

    async def read() -> dict[str, Any]:
        name, data = "", ""
        while True:
            line = (await resp.content.readline()).decode()
            if not line:
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data += line[len("data: ") :]
            elif line == "" and name == "timeline":
                return dict(json.loads(data))

    return await asyncio.wait_for(read(), within)


async def test_tablet_the_token_in_the_address_becomes_an_httponly_cookie(api: Api) -> None:
    hall = await room(api)
    _, token = await issue_token(
        api.client.app[store_key], role=Role.DOOR, name="活动室门口", now=START, room=hall
    )
    client = api.client
    async with client.get(f"/tablet?token={token}", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/tablet"
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/tablet" in cookie

    # The client's jar now holds the cookie: the page opens without the token in sight.
    async with client.get("/tablet") as resp:
        html = await resp.text()
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "活动室" in html and token not in html
    assert re.search(r"<script(?![^>]*(src=|application/json))", html) is None  # nothing inline
    async with client.get("/tablet?lang=en") as resp:
        english = await resp.text()
    assert 'lang="en"' in english and "Check in" in english and "签到码" not in english

    client.session.cookie_jar.clear()
    async with client.get("/tablet") as resp:
        assert resp.status == 401 and "token" in await resp.text()
    async with client.get(f"/tablet?token={api.token}", allow_redirects=False) as resp:
        assert resp.status == 403  # an organiser's token is not a door's: no cookie
        assert "Set-Cookie" not in resp.headers
    async with client.get("/tablet?token=lin_nonsense", allow_redirects=False) as resp:
        assert resp.status == 401


async def test_tablet_timeline_shows_today_with_the_current_and_the_next(api: Api) -> None:
    hall = await room(api)
    other = await room(api, "会议室")
    await booking(api, hall, name="赵敏", starts_at=local(8), ends_at=local(9))
    await booking(api, hall, name="李娜", starts_at=local(9, 30), ends_at=local(10, 30))
    event_id = await published_event(api, room_id=hall, title="亲子阅读", **today("14:00", "16:00"))
    await booking(api, hall, name="周杰", starts_at=local(17), ends_at=local(18))
    await booking(api, hall, "cancelled", name="吴磊", starts_at=local(19), ends_at=local(20))
    await booking(api, hall, "pending", name="郑爽", starts_at=local(20), ends_at=local(21))
    await booking(api, hall, name="冯巩", starts_at=local(9, days=1), ends_at=local(10, days=1))
    await booking(api, other, name="陈红", starts_at=local(11), ends_at=local(12))
    await published_event(api, title="书法课", room_id=hall, **today("12:00", "13:00"))
    draft = {"kind": "meeting", "title": "草稿", "room_id": hall, **today("15:00", "16:00")}
    status, _ = await api.post("/api/v1/events", json=draft)
    assert status == 201
    tablet = await door(api, hall)

    status, day = await timeline(tablet)

    assert status == 200, day
    assert (day["room_name"], day["day"]) == ("活动室", "2026-11-28")
    seen = [(e["start"], e["end"], e["title"], e["who"], e["state"]) for e in day["entries"]]
    assert seen == [
        ("08:00", "09:00", "合唱排练", "赵*", "past"),
        ("09:30", "10:30", "合唱排练", "李*", "current"),
        ("12:00", "13:00", "书法课", "", "next"),
        ("14:00", "16:00", "亲子阅读", "", "later"),
        ("17:00", "18:00", "合唱排练", "周*", "later"),
        ("20:00", "21:00", "合唱排练", "郑*", "later"),
    ]
    assert day["entries"][-1]["status"] == "pending"
    assert day["entries"][3]["kind"] == "event" and day["entries"][3]["id"] == event_id
    # Tomorrow is one of the 7 days the door may look at.
    status, tomorrow = await timeline(tablet, day=str(TODAY + timedelta(days=1)))
    assert status == 200 and [e["who"] for e in tomorrow["entries"]] == ["冯*"]


async def test_tablet_an_event_in_the_room_counts_who_came(api: Api) -> None:
    hall = await room(api)
    event_id = await published_event(api, room_id=hall, max_party_size=4, **today("10:30", "12:00"))
    code = await yes_code(api, event_id, "张伟", size=3)
    person = await resident(api, "王芳", "1-1-2", ("sms", "+8613800000002"))
    await answer(api, event_id, person, "yes", 2)
    tablet = await door(api, hall)
    _, before = await timeline(tablet)
    assert (before["entries"][0]["expected"], before["entries"][0]["arrived"]) == (5, 0)

    status, outcome = await tablet.post("/tablet/checkins", json={"code": code, "walk_ins": 1})

    assert status == 201, outcome
    assert (outcome["name"], outcome["party_size"], outcome["title"]) == ("张*", 3, "跳蚤市场")
    _, after = await timeline(tablet)
    assert after["entries"][0]["arrived"] == 4
    assert after["version"] > before["version"]
    row = await api.client.app[store_key].reader.fetchone("SELECT via, device FROM checkins")
    assert row is not None and (row["via"], row["device"]) == ("tablet", "活动室门口")


async def test_tablet_check_in_refusals_are_reasons_and_a_nonce_replays(api: Api) -> None:
    hall = await room(api)
    other = await room(api, "会议室")
    here = await booking(api, hall, name="李娜")
    there = await booking(api, other, name="陈红")
    gone = await booking(
        api, hall, "cancelled", name="吴磊", starts_at=local(18), ends_at=local(19)
    )
    later = await booking(
        api, hall, name="周杰", starts_at=local(9, days=2), ends_at=local(10, days=2)
    )
    tablet = await door(api, hall)

    async def refused(code: str) -> dict[str, Any]:
        status, body = await tablet.post("/tablet/checkins", json={"code": code})
        assert status in (404, 409), body
        return dict(body["error"])

    assert (await refused("ZZZZZZ"))["code"] == "unknown_code"
    assert (await refused(there))["code"] == "wrong_room"
    # Asking for the other room changes nothing: the door's own room is the one checked.
    status, body = await tablet.post("/tablet/checkins", json={"code": there, "room_id": other})
    assert status == 409 and body["error"]["code"] == "wrong_room"
    assert (await refused(gone))["code"] == "cancelled"
    assert (await refused(later))["code"] == "not_today"

    first = {"code": here.lower(), "nonce": "f0e1d2c3"}
    status, outcome = await tablet.post("/tablet/checkins", json=first)
    assert status == 201 and outcome["name"] == "李*" and not outcome["repeated"]
    # The same offline check-in synced twice: the first outcome, nothing new.
    status, again = await tablet.post("/tablet/checkins", json=first)
    assert status == 200 and again["repeated"] and again["id"] == outcome["id"]
    twice = await refused(here)
    assert twice["code"] == "already_checked_in"
    assert twice["message"] == "already checked in at 10:00" and twice["checked_in_at"]
    assert twice["name"] == "李*"  # the door can say whose code came twice


async def test_tablet_a_door_sees_its_room_from_today_to_7_days_on_only(api: Api) -> None:
    hall = await room(api)
    tablet = await door(api, hall)
    for days, expected in ((0, 200), (7, 200), (8, 403), (-1, 403)):
        status, body = await timeline(tablet, day=str(TODAY + timedelta(days=days)))
        assert status == expected, (days, body)
        if status == 403:
            assert body["error"]["code"] == "day_out_of_scope"
    status, body = await timeline(tablet, day="tomorrow")
    assert status == 400, body
    # Staff tokens and no token at all are not the door's.
    for who, expected in ((api, 403), (Api(api.client, None), 401)):
        for path in ("/tablet/timeline", "/tablet/stream"):
            status, body = await who.get(path)
            assert status == expected, (path, body)
        status, body = await who.post("/tablet/checkins", json={"code": "ABCDEF"})
        assert status == expected, body


def _fill(path: str) -> str:
    return re.sub(r"\{\w+(:[^}]+)?\}", "1", path)


async def test_tablet_a_door_token_gets_403_from_every_other_api_route(api: Api) -> None:
    hall = await room(api)
    other = await room(api, "会议室")
    there = await booking(api, other, name="陈红")
    tablet = await door(api, hall)
    allowed, refused = set(), 0
    for op in (op for table in ROUTE_TABLES for op in table.operations):
        if op.roles is None:
            continue
        if Role.DOOR in op.roles:
            allowed.add((op.method, op.doc_path))
            continue
        status, body = await tablet.call(op.method, _fill(op.path))
        assert status == 403, f"{op.method} {op.path} answered {status} to a door token"
        assert body["error"]["code"] == "forbidden"
        refused += 1
    assert refused > 30
    assert allowed == DOOR_API
    # The check-in route is allowed, but bound to the door's room whatever it asks for.
    status, body = await tablet.post("/api/v1/checkins", json={"code": there, "room_id": other})
    assert status == 409 and body["error"]["code"] == "wrong_room"


async def test_tablet_nothing_it_fetches_carries_a_phone_email_or_full_name(api: Api) -> None:
    hall = await room(api)
    event_id = await published_event(api, room_id=hall, max_party_size=3, **today("10:30", "12:00"))
    people = [
        ("张伟", "+8613812345678", "zhang.wei@example.org"),
        ("欧阳娜娜", "+8613900001111", "nana@example.org"),
    ]
    codes = []
    for n, (name, phone, email) in enumerate(people):
        rid = await resident(api, name, f"2-1-{n}", ("sms", phone), ("email", email))
        await answer(api, event_id, rid, "yes", 2)
        codes.append(await code_of(api, event_id, rid))
    await booking(api, hall, name="李娜", starts_at=local(13), ends_at=local(14))
    rows = await api.client.app[store_key].reader.fetchall(
        "SELECT address FROM contacts UNION SELECT name FROM residents"
    )
    secrets = {str(r[0]) for r in rows}
    secrets |= {s.removeprefix("+86") for s in secrets if s.startswith("+86")}
    assert len(secrets) >= 7
    tablet = await door(api, hall)
    auth = {"Authorization": f"Bearer {tablet.token}"}
    seen: list[str] = []

    async with api.client.get("/tablet", headers=auth) as resp:
        assert resp.status == 200
        seen.append(await resp.text())
    for asset in ("/tablet/tablet.js", "/tablet/tablet.css", "/tablet/sw.js"):
        async with api.client.get(asset) as resp:
            assert resp.status == 200
            seen.append(await resp.text())
        if asset == "/tablet/sw.js":  # it keeps the page itself, one level up
            assert resp.headers["Service-Worker-Allowed"] == "/tablet"
    seen.append(json.dumps((await timeline(tablet))[1], ensure_ascii=False))
    seen.append(json.dumps((await tablet.get(f"/api/v1/checkins/{codes[0]}"))[1]))
    for code in (codes[0], codes[0], codes[1], "ZZZZZZ"):
        _, body = await tablet.post("/tablet/checkins", json={"code": code})
        seen.append(json.dumps(body, ensure_ascii=False))
    async with api.client.get("/tablet/stream", headers=auth) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        seen.append(json.dumps(await next_event(resp), ensure_ascii=False))

    everything = "\n".join(seen)
    assert "张*" in everything and "欧*" in everything and "李*" in everything
    leaked = sorted(s for s in secrets if s in everything)
    assert leaked == [], f"the tablet can read {leaked}"


async def test_tablet_stream_pushes_changes_from_any_process_within_2s(api: Api) -> None:
    hall = await room(api)
    tablet = await door(api, hall)
    auth = {"Authorization": f"Bearer {tablet.token}"}
    db_path = api.client.app[settings_key].store.path
    async with api.client.get("/tablet/stream", headers=auth) as resp:
        assert resp.status == 200
        first = await next_event(resp)
        assert first["entries"] == []

        await booking(api, hall, name="李娜", starts_at=local(11), ends_at=local(12))
        pushed = await next_event(resp)
        assert [e["who"] for e in pushed["entries"]] == ["李*"]

        # Another process (the CLI, a second server) writes straight to the database.
        with sqlite3.connect(db_path) as other:
            other.execute(
                "UPDATE bookings SET status = 'cancelled', updated_at = ? WHERE room_id = ?",
                (to_db(START), hall),
            )
        pushed = await next_event(resp)
        assert pushed["entries"] == []


async def test_tablet_stream_ends_when_the_app_shuts_down(
    api: Api, client: TestClient[Any, Any]
) -> None:
    hall = await room(api)
    tablet = await door(api, hall)
    async with client.get(
        "/tablet/stream", headers={"Authorization": f"Bearer {tablet.token}"}
    ) as resp:
        await next_event(resp)
        await client.app.shutdown()
        rest = await asyncio.wait_for(resp.content.read(), 2.0)
    assert b"event: timeline" not in rest  # it ended, with nothing new

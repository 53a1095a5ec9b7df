"""Bookings: concurrency, weekly series, the approval queue, cancelling, events holding
their room, the messages each step sends, and the resident's own booking page."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from service.core.clock import from_db
from service.keys import delivery_key, store_key
from service.messages.links import booking_token
from tests.community import (
    ROOMS,
    TUE,
    book,
    eventually,
    outbox_files,
    published_event,
    resident,
    room,
)
from tests.conftest import Api


async def files_with(api: Api, channel: str, count: int) -> list[Path]:
    """The file channel's messages once there are `count` of them."""

    async def files() -> list[Path]:
        return outbox_files(api, channel)

    return await eventually(files, lambda found: len(found) >= count, f"{count} {channel} files")


async def messages_of(api: Api, booking_id: int) -> list[dict[str, Any]]:
    rows = await api.client.app[store_key].reader.fetchall(
        "SELECT kind, status, send_after, expires_at, language, body_text FROM messages"
        " JOIN message_bodies ON message_id = id WHERE booking_id = ? ORDER BY id",
        (booking_id,),
    )
    return [dict(r) for r in rows]


async def test_fifty_concurrent_requests_for_one_slot_give_one_booking(api: Api) -> None:
    room_id = await room(api)
    people = [await resident(api, f"住户{i}", f"1-1-{100 + i}") for i in range(50)]
    answers = await asyncio.gather(
        *(book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", resident_id=rid) for rid in people)
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 49
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"slot_taken"}
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings")
    assert listed["total"] == 1


async def test_weekly_series_books_what_fits_and_reports_each_conflict(api: Api) -> None:
    room_id = await room(api, closed_dates=["2026-12-15"])
    # Someone already has the second Tuesday.
    status, _ = await book(api, room_id, "2026-12-08T14:30", "2026-12-08T15:00")
    assert status == 201
    status, made = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", weeks=4, title="合唱")
    assert status == 201, made
    assert [b["starts_at"][:10] for b in made["bookings"]] == ["2026-12-01", "2026-12-22"]
    assert [(c["date"], c["code"]) for c in made["conflicts"]] == [
        ("2026-12-08", "slot_taken"),
        ("2026-12-15", "room_closed"),
    ]
    series = {b["series_id"] for b in made["bookings"]}
    assert series == {made["bookings"][0]["id"]}
    # A series none of whose weeks fits is refused outright.
    status, refused = await book(api, room_id, "2026-12-08T14:00", "2026-12-08T15:00", weeks=1)
    assert status == 409 and refused["error"]["code"] == "slot_taken"


async def test_approval_queue_confirm_and_decline(api: Api) -> None:
    room_id = await room(api, needs_approval=True)
    ann = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    bob = await resident(api, "Bob", "3-2-1502", ("sms", "13800138001"), language="en")
    key = api.client.app[delivery_key].ready().links.key
    # Residents ask from their page; an organiser's own booking needs no approval.
    form = {"room_id": str(room_id), "date": TUE, "start": "10:00", "end": "11:00"}
    for rid, start in ((ann, "10:00"), (bob, "14:00")):
        status, _ = await api.post(
            f"/b/{booking_token(key, rid)}",
            data={**form, "start": start, "end": f"{int(start[:2]) + 1}:00", "nonce": f"n{rid}"},
            allow_redirects=False,
        )
        assert status == 303
    status, queue = await api.get("/api/v1/bookings", params={"status": "pending"})
    assert status == 200 and queue["total"] == 2
    first, second = queue["items"]
    assert first["checkin_code"] is None
    # A pending request holds its slot.
    status, refused = await book(api, room_id, f"{TUE}T10:30", f"{TUE}T11:30")
    assert status == 409 and refused["error"]["code"] == "slot_taken"

    path = f"{ROOMS}/{room_id}/bookings"
    status, confirmed = await api.post(f"{path}/{first['id']}/confirm", json={})
    assert status == 200 and confirmed["status"] == "confirmed"
    assert re.fullmatch(r"[A-Z0-9]{6}", confirmed["checkin_code"])
    assert confirmed["decided_by"] == "organiser:王组织"
    status, declined = await api.post(
        f"{path}/{second['id']}/decline", json={"reason": "choir practice that evening"}
    )
    assert status == 200 and declined["status"] == "declined"
    status, again = await api.post(f"{path}/{second['id']}/confirm", json={})
    assert status == 409 and again["error"]["code"] == "illegal_transition"
    _, queue = await api.get("/api/v1/bookings", params={"status": "pending"})
    assert queue["total"] == 0
    # The declined slot is free again.
    status, _ = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T15:00")
    assert status == 201

    # Each resident heard: waiting, then confirmed (with the code) or declined, in their
    # language.
    files = [p.read_text(encoding="utf-8") for p in await files_with(api, "sms", 4)]
    assert any("审核" in f and "张伟" in f for f in files)
    assert any(confirmed["checkin_code"] in f and "张伟" in f for f in files)
    assert any("declined" in f and "choir practice" in f and "Bob" in f for f in files)
    assert any("approval" in f and "Bob" in f for f in files)


async def test_cancel_frees_the_slot_and_the_reminder_is_not_sent(api: Api) -> None:
    room_id = await room(api)
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    status, made = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", resident_id=rid)
    assert status == 201
    booking = made["bookings"][0]
    code = booking["checkin_code"]
    assert booking["status"] == "confirmed" and code
    [confirmation] = await files_with(api, "sms", 1)
    assert code in confirmation.read_text(encoding="utf-8")
    queued = await messages_of(api, booking["id"])
    assert [m["kind"] for m in queued] == ["booking_confirmation", "booking_reminder"]
    reminder = queued[1]
    assert reminder["status"] == "queued"
    assert from_db(reminder["send_after"]).isoformat() == "2026-12-01T04:00:00+00:00"
    assert from_db(reminder["expires_at"]).isoformat() == "2026-12-01T06:00:00+00:00"

    path = f"{ROOMS}/{room_id}/bookings/{booking['id']}"
    status, cancelled = await api.delete(path)
    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = await api.post(f"{path}/cancel")
    assert status == 200 and again["status"] == "cancelled"
    kinds = {m["kind"]: m["status"] for m in await messages_of(api, booking["id"])}
    assert kinds["booking_reminder"] == "expired"
    assert "booking_cancellation" in kinds
    files = await files_with(api, "sms", 2)
    assert any("已取消" in p.read_text(encoding="utf-8") for p in files)
    # The slot is free for someone else.
    status, _ = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00")
    assert status == 201


async def test_published_events_hold_their_room(api: Api) -> None:
    room_id = await room(api, buffer_minutes=15)
    event_id = await published_event(
        api, room_id=room_id, starts_at="2026-12-05T09:00", ends_at="2026-12-05T12:00"
    )
    status, refused = await book(api, room_id, "2026-12-05T11:00", "2026-12-05T13:00")
    assert status == 409 and refused["error"]["code"] == "slot_taken"
    status, week = await api.get(f"{ROOMS}/{room_id}/week", params={"start": "2026-12-05"})
    [held] = week["days"][0]["taken"]
    assert (held["starts"], held["ends"], held["event_id"]) == ("09:00", "12:00", event_id)
    assert held["who"] == "跳蚤市场"

    # Moving the event moves its hold.
    status, _ = await api.patch(
        f"/api/v1/events/{event_id}",
        json={"starts_at": "2026-12-05T14:00", "ends_at": "2026-12-05T16:00"},
    )
    assert status == 200
    status, _ = await book(api, room_id, "2026-12-05T11:00", "2026-12-05T13:00")
    assert status == 201
    # Publishing an event onto a taken slot (buffer included) is refused.
    status, draft = await api.post(
        "/api/v1/events",
        json={
            "kind": "meeting",
            "title": "业主大会",
            "room_id": room_id,
            "starts_at": "2026-12-05T13:10",
            "ends_at": "2026-12-05T13:50",
        },
    )
    assert status == 201
    status, refused = await api.post(f"/api/v1/events/{draft['id']}/publish")
    assert status == 409 and refused["error"]["code"] == "slot_taken"
    # Cancelling the first event frees its time.
    status, _ = await api.post(f"/api/v1/events/{event_id}/cancel")
    assert status == 200
    status, _ = await book(api, room_id, "2026-12-05T14:00", "2026-12-05T16:00")
    assert status == 201


async def test_the_residents_page_shows_rules_week_and_books(api: Api) -> None:
    room_id = await room(api, max_booking_minutes=120, buffer_minutes=10)
    rid = await resident(api, "Ann Lee", "3-2-1501", ("sms", "13800138000"), language="en")
    other = await resident(api, "王芳", "5-1-101")
    status, _ = await book(api, room_id, f"{TUE}T09:00", f"{TUE}T10:00", resident_id=other)
    assert status == 201
    key = api.client.app[delivery_key].ready().links.key
    page = f"/b/{booking_token(key, rid)}"

    async with api.client.get(page, params={"start": "2026-11-30"}) as resp:
        html = await resp.text()
        assert resp.status == 200
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "At most 120 minutes per booking" in html
    assert "10 minutes kept free between bookings" in html
    # Another resident's name is masked.
    assert "王*" in html and "王芳" not in html
    nonce = re.search(r'name="nonce" value="([^"]+)"', html)
    assert nonce

    form = {"room_id": str(room_id), "date": TUE, "start": "14:00", "end": "17:00"}
    status, refused = await api.post(page, data={**form, "nonce": nonce.group(1)})
    assert status == 409 and "Longer than the longest booking" in refused
    form["end"] = "16:00"
    for _ in range(2):  # a double submission books once
        async with api.client.post(
            page, data={**form, "nonce": nonce.group(1)}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            location = resp.headers["Location"]
    assert "saved=confirmed" in location
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings", params={"status": "confirmed"})
    assert listed["total"] == 2
    mine = next(b for b in listed["items"] if b["resident_id"] == rid)

    async with api.client.get(location) as resp:
        html = await resp.text()
    assert "Booked!" in html and mine["checkin_code"] in html and "<svg" in html
    # Cancelling asks once: the form's first post without the confirming button is refused.
    cancel = {"booking_id": str(mine["id"]), "nonce": "x"}
    status, asked = await api.post(f"{page}/cancel", data=cancel, allow_redirects=False)
    assert status == 400 and "Please confirm the cancellation first." in asked
    status, _ = await api.post(
        f"{page}/cancel", data={**cancel, "confirm": "yes"}, allow_redirects=False
    )
    assert status == 303
    # Someone else's booking is not the link's to cancel.
    other_booking = next(b for b in listed["items"] if b["resident_id"] == other)
    status, _ = await api.post(
        f"{page}/cancel",
        data={"booking_id": str(other_booking["id"]), "nonce": "y", "confirm": "yes"},
    )
    assert status == 404
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings", params={"status": "confirmed"})
    assert [b["resident_id"] for b in listed["items"]] == [other]
    # A forged link shows nothing.
    status, _ = await api.get("/b/not-a-token")
    assert status == 404


async def test_a_retried_api_request_books_nothing_twice(api: Api) -> None:
    room_id = await room(api)
    first = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", request_key="k1", weeks=2)
    again = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", request_key="k1", weeks=2)
    assert (first[0], again[0]) == (201, 200)
    assert [b["id"] for b in again[1]["bookings"]] == [b["id"] for b in first[1]["bookings"]]
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings")
    assert listed["total"] == 2

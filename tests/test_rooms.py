"""Rooms through the API: create, list, get, update, and the rules that guard them."""

from __future__ import annotations

from service.domain import rooms
from service.keys import store_key
from tests.conftest import START, Api

ROOMS = "/api/v1/rooms"


async def test_rooms_create_get_list(api: Api) -> None:
    status, created = await api.post(
        ROOMS, json={"name": " 活动室 ", "capacity": 40, "location": "3号楼一层"}
    )
    assert status == 201, created
    assert created["name"] == "活动室" and created["capacity"] == 40
    assert created["location"] == "3号楼一层"
    assert created["created_at"] == "2026-11-28T10:00:00+08:00"

    status, got = await api.get(f"{ROOMS}/{created['id']}")
    assert status == 200 and got == created

    await api.post(ROOMS, json={"name": "书屋", "capacity": 12})
    status, page = await api.get(ROOMS)
    assert status == 200
    assert page["total"] == 2 and [r["name"] for r in page["items"]] == ["书屋", "活动室"]
    status, page = await api.get(ROOMS, params={"limit": 1, "offset": 1})
    assert page["total"] == 2 and [r["name"] for r in page["items"]] == ["活动室"]


async def test_rooms_duplicate_name_conflicts(api: Api) -> None:
    await api.post(ROOMS, json={"name": "活动室", "capacity": 40})
    status, body = await api.post(ROOMS, json={"name": "活动室", "capacity": 10})
    assert status == 409
    assert body["error"]["code"] == "room_exists"
    assert body["error"]["fields"] == {"name": "already exists"}


async def test_rooms_ensure_room_is_idempotent(api: Api) -> None:
    store = api.client.app[store_key]
    first = await rooms.ensure_room(store, name="活动室", capacity=40, location="", now=START)
    again = await rooms.ensure_room(store, name="活动室", capacity=99, location="x", now=START)
    assert again == first
    _, page = await api.get(ROOMS)
    assert page["total"] == 1


async def test_rooms_update(api: Api) -> None:
    _, created = await api.post(ROOMS, json={"name": "活动室", "capacity": 40})
    await api.post(ROOMS, json={"name": "书屋", "capacity": 12})
    path = f"{ROOMS}/{created['id']}"
    status, updated = await api.patch(path, json={"capacity": 50, "location": "3号楼一层"})
    assert status == 200
    assert (updated["name"], updated["capacity"], updated["location"]) == (
        "活动室",
        50,
        "3号楼一层",
    )
    status, body = await api.patch(path, json={"name": "书屋"})
    assert status == 409 and body["error"]["code"] == "room_exists"
    status, body = await api.patch(path, json={"name": None})
    assert status == 400 and "name" in body["error"]["fields"]


async def test_rooms_cannot_shrink_below_an_events_capacity(api: Api) -> None:
    _, room = await api.post(ROOMS, json={"name": "活动室", "capacity": 40})
    status, event = await api.post(
        "/api/v1/events",
        json={
            "kind": "meeting",
            "title": "板凳会",
            "room_id": room["id"],
            "starts_at": "2026-12-02T19:00",
            "ends_at": "2026-12-02T20:30",
        },
    )
    assert status == 201 and event["capacity"] == 40
    path = f"{ROOMS}/{room['id']}"
    status, body = await api.patch(path, json={"capacity": 30})
    assert status == 409 and body["error"]["code"] == "room_capacity_in_use"
    assert "capacity" in body["error"]["fields"]

    # Once the event no longer needs 40 places, the room can shrink.
    await api.post(f"/api/v1/events/{event['id']}/cancel")
    status, updated = await api.patch(path, json={"capacity": 30})
    assert status == 200 and updated["capacity"] == 30


async def test_rooms_bad_input_and_unknown_ids(api: Api) -> None:
    for body, field in (
        ({"name": "", "capacity": 5}, "name"),
        ({"name": "\x00", "capacity": 5}, "name"),
        ({"name": "x"}, "capacity"),
        ({"name": "x", "capacity": -1}, "capacity"),
        ({"name": "x", "capacity": 10**30}, "capacity"),
        ({"name": "x", "capacity": 5, "size": 3}, "size"),
    ):
        status, answer = await api.post(ROOMS, json=body)
        assert status == 400 and field in answer["error"]["fields"], (body, answer)
    for room_id in ("404", "99999999999999999999999"):
        status, answer = await api.get(f"{ROOMS}/{room_id}")
        assert status == 404 and answer["error"]["code"] == "room_not_found"
        status, answer = await api.patch(f"{ROOMS}/{room_id}", json={"capacity": 3})
        assert status == 404 and answer["error"]["code"] == "room_not_found"


async def test_rooms_need_a_staff_token(anonymous: Api) -> None:
    status, body = await anonymous.post(ROOMS, json={"name": "活动室", "capacity": 40})
    assert status == 401 and body["error"]["code"] == "unauthenticated"

"""Events through the API: create, list, update, publish, cancel, finish, and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from service.domain import events, housekeeping
from service.keys import store_key
from tests.community import EVENTS, published_event, resident, settled
from tests.conftest import Api, PinnedClock


def _event(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "flea_market",
        "title": "跳蚤市场",
        "starts_at": "2026-12-05T09:00",
        "ends_at": "2026-12-05T12:00",
    }
    body.update(fields)
    return body


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    status, created = await api.post(EVENTS, json=_event(**fields))
    assert status == 201, created
    return dict(created)


async def _room(api: Api, name: str = "活动室", capacity: int = 40) -> int:
    status, room = await api.post("/api/v1/rooms", json={"name": name, "capacity": capacity})
    assert status == 201, room
    return int(room["id"])


async def test_events_create_reads_naive_times_in_community_time(api: Api) -> None:
    created = await _create(api, description="旧物换新家\n玩具、图书", max_party_size=4)
    assert created["status"] == "draft"
    assert created["starts_at"] == "2026-12-05T09:00:00+08:00"
    assert created["ends_at"] == "2026-12-05T12:00:00+08:00"
    assert created["capacity"] is None and created["audience_tags"] == []
    assert created["published_at"] is None

    row = await api.client.app[store_key].fetchone(
        "SELECT starts_at FROM events WHERE id = ?", (created["id"],)
    )
    assert row is not None and row["starts_at"] == "2026-12-05T01:00:00.000000Z"

    status, got = await api.get(f"{EVENTS}/{created['id']}")
    assert status == 200 and got == created


async def test_events_times_with_an_offset_are_kept(api: Api) -> None:
    created = await _create(
        api, starts_at="2026-12-05T01:00:00Z", ends_at="2026-12-05T12:00:00+08:00"
    )
    assert created["starts_at"] == "2026-12-05T09:00:00+08:00"
    assert created["ends_at"] == "2026-12-05T12:00:00+08:00"


async def test_events_list_filters_by_status_and_start(api: Api) -> None:
    first = await _create(api, title="一", starts_at="2026-12-01T09:00", ends_at="2026-12-01T10:00")
    second = await _create(
        api, title="二", starts_at="2026-12-05T23:30", ends_at="2026-12-06T01:00"
    )
    third = await _create(api, title="三", starts_at="2026-12-06T00:30", ends_at="2026-12-06T02:00")
    await api.post(f"{EVENTS}/{second['id']}/publish")
    await api.post(f"{EVENTS}/{third['id']}/cancel")

    async def titles(**params: Any) -> list[str]:
        status, page = await api.get(EVENTS, params=params)
        assert status == 200, page
        assert page["total"] == len(page["items"])
        return [e["title"] for e in page["items"]]

    assert await titles() == ["一", "二", "三"]  # soonest first
    assert await titles(status="published") == ["二"]
    assert await titles(status=["draft", "cancelled"]) == ["一", "三"]
    # A date as `to` takes in that whole local day; 00:30 on the 6th is the next day.
    assert await titles(**{"from": "2026-12-02", "to": "2026-12-05"}) == ["二"]
    assert await titles(**{"from": "2026-12-06", "to": "2026-12-06"}) == ["三"]
    assert await titles(**{"from": "2026-12-05T23:30"}) == ["二", "三"]
    # 23:30 local on the 5th is 15:30Z: an offset is honoured, and `to` as a time excludes it.
    assert await titles(**{"from": "2026-12-05T15:30:00Z"}) == ["二", "三"]
    assert await titles(to="2026-12-05T23:30") == ["一"]
    # An unencoded '+' arrives as a space; it is still read as the offset.
    status, page = await api.get(f"{EVENTS}?from=2026-12-05T23:30:00+08:00")
    assert status == 200 and [e["title"] for e in page["items"]] == ["二", "三"]
    assert first["id"] < second["id"]

    status, page = await api.get(EVENTS, params={"limit": 1, "offset": 1})
    assert page["total"] == 3 and [e["title"] for e in page["items"]] == ["二"]


async def test_events_list_refuses_bad_filters(api: Api) -> None:
    for params, field in (
        ({"status": "open"}, "status.0"),
        ({"from": "next week"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "0001-01-01"}, "from"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
        ({"starts_from": "2026-12-05"}, "starts_from"),
    ):
        status, body = await api.get(EVENTS, params=params)
        assert status == 400, (params, body)
        assert field in body["error"]["fields"], (params, body)


async def test_events_update_while_draft_and_published(api: Api) -> None:
    created = await _create(api, rsvp_deadline="2026-12-04T20:00")
    path = f"{EVENTS}/{created['id']}"
    status, updated = await api.patch(
        path, json={"title": "  跳蚤市场（室内）", "location": "大厅"}
    )
    assert status == 200, updated
    assert updated["title"] == "跳蚤市场（室内）" and updated["location"] == "大厅"
    assert updated["starts_at"] == created["starts_at"]

    await api.post(f"{path}/publish")
    status, updated = await api.patch(
        path, json={"starts_at": "2026-12-05T10:00", "rsvp_deadline": None}
    )
    assert status == 200, updated
    assert updated["status"] == "published"
    assert updated["starts_at"] == "2026-12-05T10:00:00+08:00"
    assert updated["rsvp_deadline"] is None

    status, body = await api.patch(path, json={"title": None})
    assert status == 400 and "title" in body["error"]["fields"]
    # The merged event is checked as a whole: a new start after the old end is refused.
    status, body = await api.patch(path, json={"starts_at": "2026-12-05T13:00"})
    assert status == 400 and body["error"]["fields"] == {"ends_at": "must be after starts_at"}


async def test_events_update_of_a_cancelled_event_conflicts(api: Api) -> None:
    created = await _create(api)
    path = f"{EVENTS}/{created['id']}"
    await api.post(f"{path}/cancel")
    status, body = await api.patch(path, json={"title": "再来"})
    assert status == 409 and body["error"]["code"] == "event_not_editable"
    status, got = await api.get(path)
    assert got["title"] == "跳蚤市场"


async def test_events_publish_is_idempotent(api: Api, clock: PinnedClock) -> None:
    created = await _create(api)
    path = f"{EVENTS}/{created['id']}/publish"
    status, published = await api.post(path)
    assert status == 200 and published["status"] == "published"
    assert published["published_at"] == "2026-11-28T10:00:00+08:00"
    clock.advance(minutes=5)
    status, again = await api.post(path)
    assert status == 200 and again == published


async def test_events_publish_after_the_start_conflicts(api: Api) -> None:
    # The clock says 10:00 local on 28 November.
    created = await _create(api, starts_at="2026-11-28T09:00", ends_at="2026-11-28T11:00")
    status, body = await api.post(f"{EVENTS}/{created['id']}/publish")
    assert status == 409 and body["error"]["code"] == "event_started"


async def test_events_cancel_and_illegal_transitions(api: Api, clock: PinnedClock) -> None:
    created = await _create(api)
    path = f"{EVENTS}/{created['id']}"
    status, cancelled = await api.post(f"{path}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] == "2026-11-28T10:00:00+08:00"
    status, again = await api.post(f"{path}/cancel")
    assert status == 200 and again == cancelled
    status, body = await api.post(f"{path}/publish")
    assert status == 409 and body["error"]["code"] == "illegal_transition"

    finished = await _create(api, starts_at="2026-11-29T09:00", ends_at="2026-11-29T10:00")
    await api.post(f"{EVENTS}/{finished['id']}/publish")
    clock.advance(days=2)
    store = api.client.app[store_key]
    assert await events.finish_ended_events(store, now=clock.now) == 1
    status, body = await api.post(f"{EVENTS}/{finished['id']}/cancel")
    assert status == 409 and body["error"]["code"] == "illegal_transition"
    status, body = await api.patch(f"{EVENTS}/{finished['id']}", json={"title": "补记"})
    assert status == 409 and body["error"]["code"] == "event_not_editable"


async def test_events_finish_ended_events_after_the_clock_moves(
    api: Api, clock: PinnedClock
) -> None:
    store = api.client.app[store_key]
    early = await _create(api, title="早", starts_at="2026-11-29T09:00", ends_at="2026-11-29T10:00")
    later = await _create(api, title="晚", starts_at="2026-12-05T09:00", ends_at="2026-12-05T10:00")
    draft = await _create(
        api, title="草稿", starts_at="2026-11-29T09:00", ends_at="2026-11-29T10:00"
    )
    for event in (early, later):
        await api.post(f"{EVENTS}/{event['id']}/publish")

    assert await events.finish_ended_events(store, now=clock.now) == 0
    clock.advance(days=1, hours=1)  # 11:00 on the 29th: only the early event has ended
    assert await events.finish_ended_events(store, now=clock.now) == 1
    assert await events.finish_ended_events(store, now=clock.now) == 0

    status, page = await api.get(EVENTS, params={"status": "finished"})
    assert status == 200 and [e["title"] for e in page["items"]] == ["早"]
    _, got = await api.get(f"{EVENTS}/{later['id']}")
    assert got["status"] == "published"
    _, got = await api.get(f"{EVENTS}/{draft['id']}")
    assert got["status"] == "draft"


async def test_events_bad_input_is_400_naming_the_field(api: Api) -> None:
    for fields, name in (
        ({"ends_at": "2026-12-05T08:00"}, "ends_at"),
        ({"ends_at": "2026-12-05T09:00"}, "ends_at"),
        ({"rsvp_deadline": "2026-12-05T09:30"}, "rsvp_deadline"),
        ({"kind": "party"}, "kind"),
        ({"title": "   "}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"max_party_size": 21}, "max_party_size"),
        ({"max_party_size": 0}, "max_party_size"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 10**30}, "capacity"),
        ({"room_id": 10**30}, "room_id"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00"}, "starts_at"),
        ({"ends_at": "9999-12-31T23:59:59-12:00"}, "ends_at"),
        ({"audience_tags": ["volunteer", " "]}, "audience_tags"),
        ({"title": "跳蚤\x00市场"}, "title"),
        ({"location": "广场\n东侧"}, "location"),
        ({"description": "\ud800"}, "description"),
        ({"color": "red"}, "color"),
    ):
        status, body = await api.post(EVENTS, json=_event(**fields))
        assert status == 400, (fields, body)
        assert name in body["error"]["fields"], (fields, body)
    status, body = await api.post(EVENTS, json={"title": "只有标题"})
    assert status == 400
    assert {"kind", "starts_at", "ends_at"} <= set(body["error"]["fields"])
    status, page = await api.get(EVENTS)
    assert page["total"] == 0


async def test_events_in_a_room_take_its_capacity_and_fit_in_it(api: Api) -> None:
    room_id = await _room(api, capacity=40)
    created = await _create(api, room_id=room_id)
    assert created["room_id"] == room_id and created["capacity"] == 40
    smaller = await _create(api, room_id=room_id, capacity=12)
    assert smaller["capacity"] == 12

    status, body = await api.post(EVENTS, json=_event(room_id=room_id, capacity=41))
    assert status == 400 and "capacity" in body["error"]["fields"]
    status, body = await api.post(EVENTS, json=_event(room_id=room_id + 100))
    assert status == 404
    assert body["error"]["code"] == "room_not_found" and "room_id" in body["error"]["fields"]

    # Moving the 40-person event into a 20-person room needs a capacity that fits.
    small_room = await _room(api, name="小会议室", capacity=20)
    path = f"{EVENTS}/{created['id']}"
    status, body = await api.patch(path, json={"room_id": small_room})
    assert status == 400 and "capacity" in body["error"]["fields"]
    status, moved = await api.patch(path, json={"room_id": small_room, "capacity": 20})
    assert status == 200 and (moved["room_id"], moved["capacity"]) == (small_room, 20)
    status, outside = await api.patch(path, json={"room_id": None, "capacity": None})
    assert status == 200 and (outside["room_id"], outside["capacity"]) == (None, None)


async def test_events_audience_tags_round_trip(api: Api) -> None:
    created = await _create(api, audience_tags=["volunteer", " elder ", "volunteer"])
    assert created["audience_tags"] == ["elder", "volunteer"]
    path = f"{EVENTS}/{created['id']}"
    status, got = await api.get(path)
    assert got["audience_tags"] == ["elder", "volunteer"]
    status, page = await api.get(EVENTS)
    assert page["items"][0]["audience_tags"] == ["elder", "volunteer"]

    status, updated = await api.patch(path, json={"audience_tags": ["building-3"]})
    assert status == 200 and updated["audience_tags"] == ["building-3"]
    status, updated = await api.patch(path, json={"title": "只改标题"})
    assert updated["audience_tags"] == ["building-3"]
    status, updated = await api.patch(path, json={"audience_tags": []})
    assert status == 200 and updated["audience_tags"] == []


async def test_events_unknown_ids_are_404(api: Api) -> None:
    for method, suffix in (("GET", ""), ("PATCH", ""), ("POST", "/publish"), ("POST", "/cancel")):
        for event_id in ("999", "99999999999999999999999"):
            kwargs: dict[str, Any] = {"json": {"title": "x"}} if method == "PATCH" else {}
            status, body = await api.call(method, f"{EVENTS}/{event_id}{suffix}", **kwargs)
            assert status == 404, (method, suffix, event_id, body)
            assert body["error"]["code"] == "event_not_found"


async def test_events_need_a_staff_token(anonymous: Api) -> None:
    status, body = await anonymous.get(EVENTS)
    assert status == 401 and body["error"]["code"] == "unauthenticated"


async def test_events_housekeeping_finishes_ended_events_in_the_background(
    api: Api, clock: PinnedClock
) -> None:
    store = api.client.app[store_key]
    event = await _create(api, starts_at="2026-11-29T09:00", ends_at="2026-11-29T10:00")
    await api.post(f"{EVENTS}/{event['id']}/publish")
    clock.advance(days=2)
    async with housekeeping.running(store, clock, interval_s=0.02):
        for _ in range(200):
            _, got = await api.get(f"{EVENTS}/{event['id']}")
            if got["status"] == "finished":
                break
            await asyncio.sleep(0.01)
    assert got["status"] == "finished"


async def _sent_to_two(api: Api) -> int:
    for n in range(2):
        await resident(api, f"居民{n}", f"1-1-{n}01", ("sms", f"+8613800138{n:03d}"))
    event_id = await published_event(api)
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200 and report["queued"] == 2, report
    await settled(api, event_id, total=2)
    return event_id


def _kinds(deliveries: dict[str, Any]) -> list[str]:
    return sorted(m["kind"] for m in deliveries["messages"]["items"])


async def test_events_cancel_with_notify_tells_every_invited_once(api: Api) -> None:
    event_id = await _sent_to_two(api)
    status, cancelled = await api.post(f"{EVENTS}/{event_id}/cancel", json={"notify": True})
    assert status == 200 and cancelled["status"] == "cancelled"
    body = await settled(api, event_id, total=4)
    assert _kinds(body) == ["cancellation", "cancellation", "invitation", "invitation"]
    assert body["by_status"]["failed"] == 0
    # A retried request cancels nothing new and tells no one twice.
    status, _ = await api.post(f"{EVENTS}/{event_id}/cancel", json={"notify": True})
    assert status == 200
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    assert _kinds(body).count("cancellation") == 2


async def test_events_cancel_notifies_nobody_by_default(api: Api) -> None:
    event_id = await _sent_to_two(api)
    status, bad = await api.post(f"{EVENTS}/{event_id}/cancel", json={"notify": "perhaps"})
    assert status == 400 and "notify" in bad["error"]["fields"]
    status, cancelled = await api.post(f"{EVENTS}/{event_id}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    assert _kinds(body) == ["invitation", "invitation"]

"""A resident's privacy (PIPL art. 47; GDPR art. 17 and 20): erasure leaves none of their
addresses or texts in the database file or its WAL, the counts stay; the export gives
everything Linli holds about one resident; retention purges what has aged out."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.core.errors import SettingsError
from service.core.retention import MIN_CHECKIN_DAYS
from service.domain import housekeeping
from service.domain.housekeeping import Purged
from service.keys import settings_key, store_key
from service.settings import load_settings
from service.store.checkin import NO_SHOW_LOOKBACK
from tests.community import (
    EVENTS,
    ROOMS,
    android_text,
    answer,
    attendance,
    book,
    code_of,
    door,
    published_event,
    resident,
    room,
    settled,
)
from tests.conftest import GATEWAY_SECRET, Api, PinnedClock, base_overrides
from tests.console import ConsoleClient
from tests.fakes.sms_gateway import FakeSmsGateway

TYPED = "138 0013 8000"
E164 = "+8613800138000"
EMAIL = "Zhang.Wei@Example.com"
CHECKINS = "/api/v1/checkins"
# An organiser's booking for a resident: its confirmation now, its reminder queued.
KINDS_OF_BOOKING = ("booking_confirmation", "booking_reminder")
# The pinned clock is 10:00 in Shanghai: the event is today.
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}


async def text(api: Api, body: str, *, sms_id: str) -> int:
    """The resident's phone texting `body` to Linli (the `android` app's gateway)."""
    return await android_text(api, body, phone=E164, secret=GATEWAY_SECRET, sms_id=sms_id)


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {key: n for key, n in counts.items() if n}


def _counts(body: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """An event's counts by status, and by channel and status."""
    by_channel = {name: _nonzero(c) for name, c in body["by_channel"].items()}
    return _nonzero(body["by_status"]), by_channel


async def _deliveries(api: Api, event_id: int) -> dict[str, Any]:
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
    assert status == 200, body
    return dict(body)


def _file_bytes(api: Api) -> bytes:
    """The database file and its WAL, as a disk would show them."""
    path = Path(api.client.app[settings_key].store.path)
    found = b""
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            found += part.read_bytes()
    return found


async def test_erasure_leaves_no_address_or_text_and_keeps_the_counts(
    android: Api,
    gateway: FakeSmsGateway,
    clock: PinnedClock,
) -> None:
    rid = await resident(android, "张伟", "1-1-101", ("sms", TYPED), ("email", EMAIL))
    other = await resident(android, "李娜", "1-1-102", ("sms", "13900139000"))
    by_sms = await published_event(android, max_party_size=4)
    assert (await android.post(f"{EVENTS}/{by_sms}/send"))[0] == 200
    await settled(android, by_sms, total=2)
    assert await text(android, "1 2", sms_id="rx-1") == 204  # 张伟 answers by SMS
    await settled(android, by_sms, total=3)  # and is confirmed
    by_mail = await published_event(android, title="读书会", channels=["email"])
    assert (await android.post(f"{EVENTS}/{by_mail}/send"))[0] == 200
    await settled(android, by_mail, total=1)  # 李娜 has no email: only 张伟's
    clock.advance(hours=12)  # 22:00 in Shanghai: SMS wait for the morning
    later = await published_event(
        android, title="义剪", starts_at="2026-12-06T09:00", ends_at="2026-12-06T12:00"
    )
    assert (await android.post(f"{EVENTS}/{later}/send"))[0] == 200
    before = {e: _counts(await _deliveries(android, e)) for e in (by_sms, by_mail, later)}
    assert before[later][0] == {"queued": 2}
    assert E164.encode() in _file_bytes(android)

    status, _ = await android.delete(f"/api/v1/residents/{rid}")
    assert status == 204

    raw = _file_bytes(android)
    for trace in (E164, "13800138000", TYPED, EMAIL, EMAIL.lower(), "已为您登记参加"):
        assert trace.encode() not in raw, trace
    for event_id in (by_sms, by_mail):
        after = await _deliveries(android, event_id)
        assert _counts(after) == before[event_id]  # the statistics stay
        for message in after["messages"]["items"]:
            if message["resident_id"] is None:
                assert message["address"] == "" and message["body_text"] == ""
                assert all(a["error"] is None for a in message["attempt_log"])
    pending = await _deliveries(android, later)
    assert _nonzero(pending["by_status"]) == {"queued": 1, "suppressed": 1}  # 张伟's is cancelled
    [cancelled] = [m for m in pending["messages"]["items"] if m["status"] == "suppressed"]
    assert cancelled["last_error_code"] == "erased", cancelled
    assert [m["address"] for m in pending["messages"]["items"] if m["status"] == "queued"] == [
        "+8613900139000"
    ]
    assert other


async def test_erasure_a_failed_message_of_an_erased_resident_cannot_be_retried(
    android: Api,
    gateway: FakeSmsGateway,
) -> None:
    rid = await resident(android, "张伟", "1-1-101", ("sms", TYPED))
    event_id = await published_event(android)
    gateway.fail_next(400, message=f"{E164} is not a mobile number")
    assert (await android.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    body = await settled(android, event_id, total=1)
    [failed] = body["messages"]["items"]
    assert failed["status"] == "failed" and E164 in failed["attempt_log"][0]["error"]

    assert (await android.delete(f"/api/v1/residents/{rid}"))[0] == 204

    status, refused = await android.post(f"/api/v1/messages/{failed['id']}/retry")
    assert status == 409 and refused["error"]["code"] == "message_not_retryable", refused
    assert "no address or text" in refused["error"]["message"]
    [after] = (await _deliveries(android, event_id))["messages"]["items"]
    assert after["status"] == "failed" and after["attempt_log"][0]["error"] is None
    assert E164.encode() not in _file_bytes(android)


async def _count(api: Api, sql: str) -> int:
    row = await api.client.app[store_key].reader.fetchone(f"SELECT count(*) AS n FROM {sql}")
    assert row is not None
    return int(row["n"])


async def test_retention_purges_each_kind_once_it_has_aged_out_in_batches(
    android: Api,
    clock: PinnedClock,
) -> None:
    store = android.client.app[store_key]
    rid = await resident(android, "张伟", "1-1-101", ("sms", TYPED))
    event_id = await published_event(android, **TODAY)
    assert (await android.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    await settled(android, event_id, total=1)
    assert await text(android, "1", sms_id="rx-1") == 204  # the answer, then its confirmation
    before = _counts(await settled(android, event_id, total=2))
    code = await code_of(android, event_id, rid)
    assert (await android.post(CHECKINS, json={"code": code}))[0] == 201
    keep = android.client.app[settings_key].retention
    assert (keep.message_bodies_days, keep.attempts_days) == (180, 180)
    assert (keep.inbound_days, keep.checkins_days) == (30, 365)
    one_by_one = replace(keep, batch=1)

    assert await housekeeping.purge_aged(store, one_by_one, now=clock()) == Purged()
    clock.advance(days=31)
    assert await housekeeping.purge_aged(store, one_by_one, now=clock()) == Purged(inbound=1)
    clock.advance(days=150)
    assert await housekeeping.purge_aged(store, one_by_one, now=clock()) == Purged(
        message_bodies=2, attempts=2
    )
    after = await _deliveries(android, event_id)
    assert _counts(after) == before  # the statistics stay
    assert {m["address"] for m in after["messages"]["items"]} == {E164}
    assert {m["body_text"] for m in after["messages"]["items"]} == {""}
    assert [m["attempt_log"] for m in after["messages"]["items"]] == [[], []]
    assert await _count(android, "checkins") == 1
    clock.advance(days=185)
    assert await housekeeping.purge_aged(store, one_by_one, now=clock()) == Purged(checkins=1)
    assert await _count(android, "checkins") == 0
    assert await housekeeping.purge_aged(store, one_by_one, now=clock()) == Purged()


async def test_retention_zero_keeps_forever_and_a_short_check_in_limit_is_refused(
    tmp_path: Path, db_path: Path
) -> None:
    forever = load_settings(
        overrides={**base_overrides(tmp_path, db_path), "retention.message_bodies_days": 0}
    )
    assert forever.retention.message_bodies_days == 0
    with pytest.raises(SettingsError, match=r"retention\.checkins_days: must be 0"):
        load_settings(env={"LINLI_RETENTION_CHECKINS_DAYS": "7"})


def test_retention_check_ins_outlive_the_no_show_lookback() -> None:
    assert timedelta(days=MIN_CHECKIN_DAYS) > NO_SHOW_LOOKBACK


async def _someone_with_a_history(api: Api) -> tuple[int, int]:
    """A resident with contacts and a tag, an answered invitation, its messages, a
    booking and a check-in; (resident id, event id)."""
    rid = await resident(api, "张伟", "1-1-101", ("sms", TYPED), ("email", EMAIL), tags=["志愿者"])
    event_id = await published_event(api, max_party_size=4, **TODAY)
    assert (await api.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    await answer(api, event_id, rid, "maybe")
    await answer(api, event_id, rid, "yes", 2)
    await settled(api, event_id, total=3)  # the invitation and two confirmations
    code = await code_of(api, event_id, rid)
    assert (await api.post(CHECKINS, json={"code": code}))[0] == 201
    room_id = await room(api)
    status, booked = await book(
        api, room_id, "2026-12-02T14:00", "2026-12-02T16:00", resident_id=rid, note="生日会"
    )
    assert status == 201, booked
    return rid, event_id


async def test_export_gives_everything_held_about_one_resident(
    api: Api, admin: Api, client: TestClient[Any, Any]
) -> None:
    rid, event_id = await _someone_with_a_history(api)
    await resident(api, "李娜", "1-1-101", ("sms", "13900139000"))  # same household, not theirs

    for who in (api, admin):
        status, body = await who.get(f"/api/v1/residents/{rid}/export")
        assert status == 200, body
    assert body["resident"]["name"] == "张伟" and body["resident"]["tags"] == ["志愿者"]
    assert [c["address"] for c in body["resident"]["contacts"]] == [E164, EMAIL.lower()]
    assert body["household"]["unit"] == "1-1-101"
    [invitation] = body["invitations"]
    assert invitation["event_id"] == event_id and invitation["answer"] == "yes"
    assert [h["answer"] for h in invitation["history"]] == ["maybe", "yes"]
    [booking] = body["bookings"]
    assert booking["note"] == "生日会"
    [checkin] = body["checkins"]
    assert checkin["party_size"] == 2 and checkin["event_id"] == event_id
    assert [m["kind"] for m in body["messages"]] == [
        "invitation",
        "rsvp_confirmation",
        "rsvp_confirmation",
        *KINDS_OF_BOOKING,
    ]
    assert {m["address"] for m in body["messages"]} == {E164}
    assert all(m["body_text"] for m in body["messages"])
    assert all(m["attempt_log"] for m in body["messages"] if m["status"] in ("sent", "delivered"))
    assert [m["attempt_log"] for m in body["messages"][:3]] != [[], [], []]
    assert body["exported_at"]

    status, _ = await api.get("/api/v1/residents/999/export")
    assert status == 404
    door_token = await door(api, booking["room_id"])
    assert (await door_token.get(f"/api/v1/residents/{rid}/export"))[0] == 403
    status, doc = await api.get("/api/v1/openapi.json")
    operation = doc["paths"]["/api/v1/residents/{id}/export"]["get"]
    assert "ResidentExport" in json.dumps(operation["responses"]["200"])


async def test_export_console_button_downloads_the_json(api: Api, console: ConsoleClient) -> None:
    rid, _ = await _someone_with_a_history(api)
    page = await console.get(f"/console/residents/{rid}")
    assert f'href="/console/residents/{rid}/export"' in page.text
    async with console.client.get(f"/console/residents/{rid}/export") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert resp.headers["Content-Disposition"] == (
            f'attachment; filename="linli-resident-{rid}.json"'
        )
        body = await resp.json()
    assert body["resident"]["id"] == rid and len(body["messages"]) == 3 + len(KINDS_OF_BOOKING)
    _, direct = await api.get(f"/api/v1/residents/{rid}/export")
    for part in ("resident", "household", "invitations", "bookings", "checkins"):
        assert body[part] == direct[part], part
    assert [m["id"] for m in body["messages"]] == [m["id"] for m in direct["messages"]]


async def test_erasure_keeps_the_people_counted_at_the_door(api: Api) -> None:
    rid, event_id = await _someone_with_a_history(api)
    status, before = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200 and before["people_checked_in"] == 2, before

    assert (await api.delete(f"/api/v1/residents/{rid}"))[0] == 204

    status, after = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200 and after["people_checked_in"] == 2, after
    assert after["items"] == []  # their invitation and answers went with them
    assert EMAIL.lower().encode() not in _file_bytes(api)


async def test_erasure_keeps_their_answers_in_the_counts_of_an_event_under_way(
    api: Api, clock: PinnedClock
) -> None:
    zhang = await resident(api, "张伟", "1-1-101", ("sms", TYPED))
    li = await resident(api, "李娜", "1-1-102", ("sms", "13900139000"))
    wang = await resident(api, "王芳", "1-1-103", ("sms", "13700137000"))
    event_id = await published_event(api, max_party_size=4, **TODAY)
    assert (await api.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    await answer(api, event_id, zhang, "yes", 2)
    await answer(api, event_id, li, "no")
    await answer(api, event_id, wang, "maybe")
    clock.advance(hours=5)  # 15:00: the event has started
    counted = ("yes", "no", "maybe", "invited", "people_yes")
    before = {key: (await attendance(api, event_id))[key] for key in counted}
    assert before == {"yes": 1, "no": 1, "maybe": 1, "invited": 3, "people_yes": 2}

    for rid in (zhang, wang):
        assert (await api.delete(f"/api/v1/residents/{rid}"))[0] == 204

    after = await attendance(api, event_id)
    assert {key: after[key] for key in counted} == before  # the statistics stay
    assert [item["resident_id"] for item in after["items"]] == [li]  # nobody behind the rest
    assert TYPED.replace(" ", "").encode() not in _file_bytes(api)


async def test_erasure_frees_their_seats_at_an_event_still_to_come(api: Api) -> None:
    zhang = await resident(api, "张伟", "1-1-101", ("sms", TYPED))
    li = await resident(api, "李娜", "1-1-102", ("sms", "13900139000"))
    event_id = await published_event(api, capacity=2, max_party_size=2)
    assert (await api.post(f"{EVENTS}/{event_id}/send"))[0] == 200
    await answer(api, event_id, zhang, "yes", 2)
    await answer(api, event_id, li, "yes")
    waiting = await attendance(api, event_id)
    assert (waiting["yes"], waiting["waitlisted"]) == (1, 1)

    assert (await api.delete(f"/api/v1/residents/{zhang}"))[0] == 204

    after = await attendance(api, event_id)
    assert (after["yes"], after["waitlisted"], after["invited"]) == (1, 0, 1)
    [moved_up] = after["items"]
    assert moved_up["resident_id"] == li and moved_up["answer"] == "yes"
    body = await _deliveries(api, event_id)
    told = [m for m in body["messages"]["items"] if m["resident_id"] == li]
    assert "waitlist_offer" in {m["kind"] for m in told}, told


async def test_erasure_cancels_their_bookings_still_to_come(api: Api, clock: PinnedClock) -> None:
    zhang = await resident(api, "张伟", "1-1-101", ("sms", TYPED))
    li = await resident(api, "李娜", "1-1-102", ("sms", "13900139000"))
    room_id = await room(api)
    status, past = await book(
        api, room_id, "2026-11-29T14:00", "2026-11-29T16:00", resident_id=zhang
    )
    assert status == 201, past
    status, coming = await book(
        api, room_id, "2026-12-03T14:00", "2026-12-03T16:00", resident_id=zhang
    )
    assert status == 201, coming
    clock.advance(days=2)  # the 29th is over, the 3rd still to come

    assert (await api.delete(f"/api/v1/residents/{zhang}"))[0] == 204

    _, kept = await api.get(f"{ROOMS}/{room_id}/bookings/{past['bookings'][0]['id']}")
    assert kept["status"] == "confirmed" and kept["resident_id"] is None, kept
    _, freed = await api.get(f"{ROOMS}/{room_id}/bookings/{coming['bookings'][0]['id']}")
    assert freed["status"] == "cancelled", freed
    status, taken = await book(api, room_id, "2026-12-03T14:00", "2026-12-03T16:00", resident_id=li)
    assert status == 201, taken  # the room is free again

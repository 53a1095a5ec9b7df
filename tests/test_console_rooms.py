"""The console's rooms pages: rules edited in the browser bind the API too, the week shows
bookings, the organiser books for a resident, cancels, and works the approval queue."""

from __future__ import annotations

from datetime import datetime

from service.domain import bookings
from service.keys import settings_key, store_key
from tests.community import ROOMS, resident, room
from tests.conftest import START, Api
from tests.console import ConsoleClient

# The pinned now is Saturday 28 Nov 2026 10:00 in Shanghai; Tuesday 1 Dec is "soon".
TUE = "2026-12-01"
WEEK = "2026-11-30"


def rules_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "活动室",
        "capacity": "30",
        "location": "3号楼一层",
        "max_booking_minutes": "",
        "min_notice_minutes": "0",
        "max_days_ahead": "",
        "max_per_household_week": "",
        "buffer_minutes": "0",
        "all_day": "1",
        "closed_dates": "",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def test_console_rooms_rule_edit_binds_console_and_api(
    console: ConsoleClient, api: Api
) -> None:
    room_id = await room(api)
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    page = await console.post(f"/console/rooms/{room_id}", rules_form(max_booking_minutes="60"))
    assert page.status == 200 and page.url == f"/console/rooms/{room_id}", page.text
    assert page.flash == "规则已保存。"
    _, got = await api.get(f"{ROOMS}/{room_id}")
    assert got["max_booking_minutes"] == 60

    # Through the console's booking form: refused beside the end time, the values kept.
    page = await console.post(
        f"/console/rooms/{room_id}/week",
        {"resident_id": str(rid), "date": TUE, "start": "14:00", "end": "16:00", "weeks": "1"},
    )
    assert page.status == 409
    assert page.error_for("end") == "超过单次预约最长时长（60 分钟）。"
    assert 'value="16:00"' in page.text
    # And through the API, the same rule with the same words.
    status, body = await api.post(
        f"{ROOMS}/{room_id}/bookings",
        json={"starts_at": f"{TUE}T14:00+08:00", "ends_at": f"{TUE}T16:00+08:00"},
    )
    assert status == 409 and body["error"]["code"] == "rule_max_length", body

    # English, too.
    page = await console.post(
        f"/console/rooms/{room_id}/week?lang=en",
        {"date": TUE, "start": "14:00", "end": "16:00"},
    )
    assert page.error_for("end") == "Longer than the longest booking allowed (60 minutes)."


async def test_console_rooms_bad_rules_come_back_beside_their_fields(
    console: ConsoleClient, api: Api
) -> None:
    room_id = await room(api)
    page = await console.post(
        f"/console/rooms/{room_id}",
        rules_form(all_day="", hours_mon="08:00-25:00", buffer_minutes="-5"),
    )
    assert page.status == 400
    assert page.error_for("buffer_minutes") or page.error_for("hours_mon")
    page = await console.post(
        f"/console/rooms/{room_id}", rules_form(all_day="", hours_tue="eight till noon")
    )
    assert page.status == 400 and page.error_for("hours_tue"), page.text
    assert 'value="eight till noon"' in page.text
    page = await console.post(f"/console/rooms/{room_id}", rules_form(closed_dates="2026-13-01"))
    assert page.status == 400 and page.error_for("closed_dates")
    page = await console.post(
        f"/console/rooms/{room_id}",
        rules_form(all_day="", hours_mon="08:00-12:00, 14:00-21:00", closed_dates="2026-12-31"),
    )
    assert page.status == 200, page.text
    _, got = await api.get(f"{ROOMS}/{room_id}")
    assert got["opening_hours"] == {"mon": [["08:00", "12:00"], ["14:00", "21:00"]]}
    assert got["closed_dates"] == ["2026-12-31"]


async def test_console_rooms_new_room_and_list(console: ConsoleClient, api: Api) -> None:
    page = await console.post("/console/rooms", rules_form(name="多功能厅", capacity="50"))
    assert page.status == 200 and page.flash == "已创建活动室 多功能厅。", page.text
    page = await console.get("/console/rooms")
    assert page.has("多功能厅")
    page = await console.post("/console/rooms", rules_form(name="多功能厅", capacity="50"))
    assert page.status == 409 and page.error_for("name"), page.text
    page = await console.post("/console/rooms", rules_form(name="小厅", capacity=""))
    assert page.status == 400 and page.error_for("capacity")


async def test_console_rooms_week_shows_booking_and_cancels(
    console: ConsoleClient, api: Api
) -> None:
    room_id = await room(api)
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    page = await console.post(
        f"/console/rooms/{room_id}/week",
        {"resident_id": str(rid), "date": TUE, "start": "14:00", "end": "15:30", "title": "书法"},
    )
    assert page.status == 200 and page.flash == "已预约（1 次）。", page.text
    assert page.url == f"/console/rooms/{room_id}/week?start={WEEK}"
    assert page.has("14:00–15:30") and page.has("张伟") and page.has("书法")
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings")
    [booking] = listed["items"]
    assert booking["status"] == "confirmed"

    # The week after has nothing; the previous-week link leads back.
    page = await console.get(f"/console/rooms/{room_id}/week?start=2026-12-07")
    assert not page.has("书法") and f"start={WEEK}" in page.text

    # Cancelling needs the confirmation button.
    page = await console.post(f"/console/bookings/{booking['id']}/cancel", {})
    assert page.status == 400
    page = await console.post(f"/console/bookings/{booking['id']}/cancel", {"confirm": "yes"})
    assert page.status == 200 and page.flash == "预约已取消。"
    _, got = await api.get(f"{ROOMS}/{room_id}/bookings/{booking['id']}")
    assert got["status"] == "cancelled"


async def pending_request(api: Api, room_id: int, resident_id: int, start: str, end: str) -> int:
    """A resident's request (as their booking page makes it), waiting for approval."""
    app = api.client.app
    result = await bookings.request_booking(
        app[store_key],
        bookings.BookingRequest(
            room_id=room_id,
            starts_at=datetime.fromisoformat(f"{TUE}T{start}+08:00"),
            ends_at=datetime.fromisoformat(f"{TUE}T{end}+08:00"),
            resident_id=resident_id,
            booked_by="resident",
        ),
        now=START,
        tz=app[settings_key].tz,
    )
    assert result.bookings[0].status == "pending"
    return result.bookings[0].id


async def test_console_rooms_queue_confirm_and_decline(console: ConsoleClient, api: Api) -> None:
    room_id = await room(api, needs_approval=True)
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    first = await pending_request(api, room_id, rid, "10:00", "11:00")
    second = await pending_request(api, room_id, rid, "14:00", "15:00")
    page = await console.get("/console/bookings/pending")
    assert page.has("张伟") and f"booking-{first}" in page.text and f"booking-{second}" in page.text

    page = await console.post(f"/console/bookings/{first}/confirm", {})
    assert page.flash == "预约已通过，已通知居民。" and f"booking-{first}" not in page.text
    page = await console.post(f"/console/bookings/{second}/decline", {})
    assert page.status == 400
    page = await console.post(f"/console/bookings/{second}/decline", {"confirm": "yes"})
    assert page.flash == "预约未通过，已通知居民。" and page.by_id("queue-empty")
    _, one = await api.get(f"{ROOMS}/{room_id}/bookings/{first}")
    _, two = await api.get(f"{ROOMS}/{room_id}/bookings/{second}")
    assert one["status"] == "confirmed" and two["status"] == "declined"
    # Declining a confirmed booking is refused with a page, not a 500.
    page = await console.post(f"/console/bookings/{first}/decline", {"confirm": "yes"})
    assert page.status == 409


async def test_console_rooms_unknown_room_is_404(console: ConsoleClient) -> None:
    page = await console.get("/console/rooms/999/week")
    assert page.status == 404
    page = await console.get("/console/rooms/999/week?start=not-a-date")
    assert page.status in (400, 404)


async def test_console_rooms_pages_read_in_english(console: ConsoleClient, api: Api) -> None:
    room_id = await room(api, opening_hours={"tue": [["08:00", "12:00"]]})
    for path, words in (
        ("/console/rooms", "New room"),
        (f"/console/rooms/{room_id}", "Opening hours"),
        (f"/console/rooms/{room_id}/week?start={WEEK}", "Not open this day"),
        ("/console/bookings/pending", "No booking is waiting for approval."),
        ("/console/messages", "No messages match."),
        ("/console/settings", "Quiet hours"),
    ):
        page = await console.get(f"{path}{'&' if '?' in path else '?'}lang=en")
        assert page.status == 200 and page.has(words), path

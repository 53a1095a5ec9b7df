"""Room rules: organisers set them through the rooms API (checked, 4xx naming the field),
and a request that breaks one is refused with the rule named in the resident's language."""

from __future__ import annotations

from typing import Any

import pytest

from tests.community import ROOMS, TUE, book, resident, room
from tests.conftest import Api


async def test_rules_are_set_read_and_changed(api: Api) -> None:
    hours = {"mon": [["14:00", "21:00"], ["08:00", "12:00"]], "sat": [["09:00", "17:00"]]}
    room_id = await room(
        api,
        max_booking_minutes=120,
        min_notice_minutes=60,
        max_days_ahead=14,
        max_per_household_week=2,
        buffer_minutes=15,
        needs_approval=True,
        opening_hours=hours,
        closed_dates=["2027-01-01", "2026-12-31"],
    )
    status, got = await api.get(f"{ROOMS}/{room_id}")
    assert status == 200
    assert got["max_booking_minutes"] == 120 and got["min_notice_minutes"] == 60
    assert got["max_days_ahead"] == 14 and got["max_per_household_week"] == 2
    assert got["buffer_minutes"] == 15 and got["needs_approval"] is True
    # Ranges come back sorted, closed dates in order.
    assert got["opening_hours"]["mon"] == [["08:00", "12:00"], ["14:00", "21:00"]]
    assert got["closed_dates"] == ["2026-12-31", "2027-01-01"]

    status, patched = await api.patch(
        f"{ROOMS}/{room_id}",
        json={"max_booking_minutes": None, "needs_approval": False, "closed_dates": []},
    )
    assert status == 200, patched
    assert patched["max_booking_minutes"] is None and patched["needs_approval"] is False
    assert patched["closed_dates"] == [] and patched["min_notice_minutes"] == 60
    assert patched["opening_hours"]["sat"] == [["09:00", "17:00"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"opening_hours": {"mon": [["08:00", "25:00"]]}}, "opening_hours.mon"),
        ({"opening_hours": {"tue": [["08:00", "12:00"], ["11:00", "14:00"]]}}, "opening_hours.tue"),
        ({"opening_hours": {"wed": [["12:00", "08:00"]]}}, "opening_hours.wed"),
        ({"opening_hours": {"someday": [["08:00", "12:00"]]}}, "opening_hours.someday"),
        ({"closed_dates": ["2026-13-01"]}, "closed_dates"),
        ({"closed_dates": ["1.12.2026"]}, "closed_dates"),
        ({"max_booking_minutes": 0}, "max_booking_minutes"),
        ({"buffer_minutes": -5}, "buffer_minutes"),
        ({"min_notice_minutes": None}, "min_notice_minutes"),
    ],
)
async def test_bad_rules_are_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    room_id = await room(api)
    status, refused = await api.patch(f"{ROOMS}/{room_id}", json=body)
    assert status == 400, refused
    assert field in refused["error"]["fields"], refused
    # Nothing changed.
    _, got = await api.get(f"{ROOMS}/{room_id}")
    assert got["opening_hours"] == {} and got["closed_dates"] == []


async def test_bad_hours_refuse_a_new_room_too(api: Api) -> None:
    status, refused = await api.post(
        ROOMS, json={"name": "书屋", "capacity": 5, "opening_hours": {"fri": [["9:00", "12:00"]]}}
    )
    assert status == 400 and "opening_hours.fri" in refused["error"]["fields"]
    _, listed = await api.get(ROOMS)
    assert listed["total"] == 0


# (rules of the room, the slot asked for, the code, words in zh-CN, words in English)
CASES = [
    ({"max_booking_minutes": 60}, ("10:00", "11:30"), "rule_max_length", "最长", "longest"),
    ({"min_notice_minutes": 4 * 24 * 60}, ("10:00", "11:00"), "rule_min_notice", "提前", "ahead"),
    ({"max_days_ahead": 2}, ("10:00", "11:00"), "rule_days_ahead", "天", "days ahead"),
    ({"closed_dates": [TUE]}, ("10:00", "11:00"), "room_closed", "不开放", "closed"),
    (
        {"opening_hours": {"tue": [["14:00", "21:00"]]}},
        ("13:00", "15:00"),
        "outside_hours",
        "开放时间",
        "opening hours",
    ),
]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize(("rules", "slot", "code", "zh", "en"), CASES)
async def test_each_rule_is_named_in_the_residents_language(
    api: Api,
    language: str,
    rules: dict[str, Any],
    slot: tuple[str, str],
    code: str,
    zh: str,
    en: str,
) -> None:
    room_id = await room(api, **rules)
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"), language=language)
    status, refused = await book(
        api, room_id, f"{TUE}T{slot[0]}", f"{TUE}T{slot[1]}", resident_id=rid
    )
    assert status == 409, refused
    assert refused["error"]["code"] == code
    words = zh if language == "zh-CN" else en
    assert words in refused["error"]["message"].lower(), refused
    # Nothing was booked.
    _, listed = await api.get(f"{ROOMS}/{room_id}/bookings")
    assert listed["total"] == 0


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_household_weekly_limit_counts_the_whole_household(api: Api, language: str) -> None:
    room_id = await room(api, max_per_household_week=1)
    first = await resident(api, "张伟", "3-2-1501", language=language)
    spouse = await resident(api, "李娜", "3-2-1501", language=language)
    status, _ = await book(api, room_id, f"{TUE}T10:00", f"{TUE}T11:00", resident_id=first)
    assert status == 201
    status, refused = await book(
        api, room_id, "2026-12-03T10:00", "2026-12-03T11:00", resident_id=spouse
    )
    assert status == 409 and refused["error"]["code"] == "rule_household_week"
    assert ("每户每周" if language == "zh-CN" else "per household") in refused["error"]["message"]
    # The next week (Monday 7 Dec) is a new week.
    status, _ = await book(api, room_id, "2026-12-07T10:00", "2026-12-07T11:00", resident_id=spouse)
    assert status == 201


async def test_opening_hours_allow_a_slot_inside_and_the_week_shows_them(api: Api) -> None:
    hours = {"tue": [["08:00", "12:00"], ["14:00", "21:00"]]}
    room_id = await room(api, opening_hours=hours, closed_dates=["2026-12-02"])
    status, made = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00")
    assert status == 201, made
    # Across the lunch break fits no range.
    status, refused = await book(api, room_id, f"{TUE}T11:00", f"{TUE}T15:00")
    assert status == 409 and refused["error"]["code"] == "outside_hours"
    # A day with no hours (Monday) is closed.
    status, refused = await book(api, room_id, "2026-11-30T09:00", "2026-11-30T10:00")
    assert status == 409 and refused["error"]["code"] == "outside_hours"

    status, week = await api.get(f"{ROOMS}/{room_id}/week", params={"start": "2026-11-30"})
    assert status == 200, week
    mon, tue, wed = week["days"][:3]
    assert mon["hours"] == [] and mon["free"] == []
    assert tue["hours"] == [["08:00", "12:00"], ["14:00", "21:00"]]
    assert [(s["starts"], s["ends"]) for s in tue["taken"]] == [("14:00", "16:00")]
    assert tue["free"] == [["08:00", "12:00"], ["16:00", "21:00"]]
    assert wed["closed"] is True and wed["free"] == []


async def test_organisers_may_override_rules_but_not_overlaps(api: Api) -> None:
    room_id = await room(api, max_booking_minutes=60, closed_dates=[TUE])
    status, made = await book(
        api, room_id, f"{TUE}T09:00", f"{TUE}T12:00", override_rules=True, title="社区会议"
    )
    assert status == 201, made
    assert made["bookings"][0]["status"] == "confirmed"
    status, refused = await book(api, room_id, f"{TUE}T11:00", f"{TUE}T13:00", override_rules=True)
    assert status == 409 and refused["error"]["code"] == "slot_taken"


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_the_buffer_keeps_a_gap_after_each_booking(api: Api, language: str) -> None:
    room_id = await room(api, buffer_minutes=30)
    rid = await resident(api, "张伟", "3-2-1501", language=language)
    status, _ = await book(api, room_id, f"{TUE}T10:00", f"{TUE}T11:00")
    assert status == 201
    status, refused = await book(api, room_id, f"{TUE}T11:15", f"{TUE}T12:00", resident_id=rid)
    assert status == 409 and refused["error"]["code"] == "slot_taken"
    assert ("已被预约" if language == "zh-CN" else "already booked") in refused["error"]["message"]
    # A new booking's own buffer may not reach into the next one either.
    status, refused = await book(api, room_id, f"{TUE}T09:00", f"{TUE}T09:45")
    assert status == 409 and refused["error"]["code"] == "slot_taken"
    status, _ = await book(api, room_id, f"{TUE}T11:30", f"{TUE}T12:00")
    assert status == 201

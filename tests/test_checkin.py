"""Check-in at the door through the API: codes on yes, by code however typed, twice,
every refusal reason, walk-ins, nonce replays, door tokens bound to their room,
no-shows after the end, the checkin.created webhook, and the code (with its QR) on the
RSVP page and in the confirmation."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

from service.core.checkin_codes import qr_png
from service.core.clock import to_db
from service.core.extras import CHECKIN_QR_CID, Extras
from service.domain import housekeeping
from service.keys import store_key
from service.messages.compose import checkin_qr
from tests.community import (
    EVENTS,
    SECRET,
    answer,
    booking,
    code_of,
    door,
    hooks_on,
    invited,
    open_page,
    outbox_files,
    published_event,
    resident,
    room,
    settled,
    submit,
    subscribe,
    yes_code,
)
from tests.conftest import START, Api, MakeApi, PinnedClock
from tests.fakes.smtp import SmtpSink
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.mail import opened, outbound

CHECKINS = "/api/v1/checkins"
# The pinned clock is 10:00 in Shanghai: these events are today.
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}
TOMORROW = {"starts_at": "2026-11-29T14:00", "ends_at": "2026-11-29T16:00"}


async def refused(api: Api, body: dict[str, Any], status: int, reason: str) -> dict[str, Any]:
    got, answer_body = await api.post(CHECKINS, json=body)
    assert (got, answer_body["error"]["code"]) == (status, reason), answer_body
    return dict(answer_body["error"])


async def count_rows(api: Api) -> int:
    row = await api.client.app[store_key].reader.fetchone("SELECT count(*) AS n FROM checkins")
    assert row is not None
    return int(row["n"])


async def no_shows(api: Api) -> tuple[int, int]:
    row = await api.client.app[store_key].reader.fetchone(
        "SELECT (SELECT count(*) FROM invitations WHERE no_show_at IS NOT NULL) AS i,"
        " (SELECT count(*) FROM bookings WHERE no_show_at IS NOT NULL) AS b"
    )
    assert row is not None
    return int(row["i"]), int(row["b"])


async def test_checkin_yes_gets_a_code_and_a_promotion_too(api: Api) -> None:
    event_id = await published_event(api, capacity=1, **TODAY)
    first = await resident(api, "张伟", "1-1-1", ("sms", "+8613800000001"))
    second = await resident(api, "王芳", "1-1-2", ("sms", "+8613800000002"))
    await answer(api, event_id, first, "yes")
    await answer(api, event_id, second, "yes")  # no seat left: waitlisted, no code
    code = await code_of(api, event_id, first)
    assert code is not None and len(code) == 6
    assert await code_of(api, event_id, second) is None

    await answer(api, event_id, first, "no")  # frees the seat: the second moves up

    promoted = await code_of(api, event_id, second)
    assert promoted is not None
    # The notice that they moved up is their confirmation: it carries the code.
    await settled(api, event_id, total=4)
    texts = [path.read_text(encoding="utf-8") for path in outbox_files(api, "sms")]
    [offer] = [text for text in texts if "Kind: waitlist_offer" in text]
    assert f"签到码{promoted}" in offer
    # The first keeps the same code should they come back to yes.
    await answer(api, event_id, first, "yes")
    assert await code_of(api, event_id, first) == code


async def test_checkin_by_code_typed_any_way_then_twice_is_already_checked_in(
    api: Api, clock: PinnedClock
) -> None:
    event_id = await published_event(api, max_party_size=4, **TODAY)
    code = await yes_code(api, event_id, size=3)
    typed = " ".join(code.lower())  # lower-case and spaced, as typed at a door
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)

    status, outcome = await api.post(CHECKINS, json={"code": typed})

    assert status == 201, outcome
    assert outcome["code"] == code and outcome["kind"] == "event"
    assert (outcome["party_size"], outcome["walk_ins"], outcome["repeated"]) == (3, 0, False)
    assert outcome["name"] == "张*" and outcome["title"] == "跳蚤市场"
    assert "13812345678" not in str(outcome)

    clock.advance(minutes=30)
    error = await refused(api, {"code": full_width}, 409, "already_checked_in")
    assert error["message"] == "already checked in at 10:00"
    assert error["checked_in_at"].startswith("2026-11-28T02:00:00")
    assert await count_rows(api) == 1


async def test_checkin_party_at_the_door_and_walk_ins(api: Api) -> None:
    event_id = await published_event(api, max_party_size=4, **TODAY)
    code = await yes_code(api, event_id, size=2)

    status, outcome = await api.post(CHECKINS, json={"code": code, "party_size": 1, "walk_ins": 2})
    assert status == 201 and (outcome["party_size"], outcome["walk_ins"]) == (1, 2)

    status, walk_in = await api.post(CHECKINS, json={"walk_ins": 5, "event_id": event_id})
    assert status == 201, walk_in
    assert (walk_in["kind"], walk_in["code"], walk_in["name"]) == ("walk_in", None, "")
    assert walk_in["walk_ins"] == 5

    status, listed = await api.get(f"{EVENTS}/{event_id}/checkins")
    assert status == 200
    assert [(a["name"], a["party_size"], a["walk_ins"]) for a in listed["items"]] == [
        ("张伟", 1, 2),
        ("", 0, 5),
    ]
    status, body = await api.post(CHECKINS, json={"walk_ins": 0})
    assert status == 400 and body["error"]["fields"].keys() == {"code"}
    status, seen = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert (seen["checked_in"], seen["people_checked_in"], seen["no_shows"]) == (1, 8, 0)


async def test_checkin_refusals_carry_their_reason(api: Api) -> None:
    hall = await room(api)
    other = await room(api, "会议室")
    today = await published_event(api, room_id=hall, **TODAY)
    tomorrow = await published_event(api, room_id=hall, **TOMORROW)
    later = await yes_code(api, tomorrow, "赵明")
    here = await yes_code(api, today, "钱红")
    said_no = await yes_code(api, today, "孙丽")
    await answer(api, today, await resident(api, "周杰", "1-2-3", ("sms", "+8613811112222")), "no")
    no_row = await api.client.app[store_key].reader.fetchone(
        "SELECT i.resident_id FROM invitations i JOIN checkin_codes c ON c.invitation_id = i.id"
        " WHERE c.code = ?",
        (said_no,),
    )
    assert no_row is not None
    await answer(api, today, int(no_row["resident_id"]), "no")

    await refused(api, {"code": "XXXXXX"}, 404, "unknown_code")
    await refused(api, {"code": "not a code"}, 404, "unknown_code")
    await refused(api, {"code": here, "room_id": other}, 409, "wrong_room")
    await refused(api, {"code": later}, 409, "not_today")
    error = await refused(api, {"code": here, "event_id": tomorrow}, 409, "wrong_room")
    assert error["message"] == "this code is for another event"
    error = await refused(api, {"code": said_no}, 409, "cancelled")
    assert "no, not yes" in error["message"]
    assert await count_rows(api) == 0

    status, _ = await api.post(f"{EVENTS}/{today}/cancel")
    assert status == 200
    await refused(api, {"code": here}, 409, "cancelled")


async def test_checkin_bookings_pending_and_cancelled_are_refused(api: Api) -> None:
    hall = await room(api)
    confirmed = await booking(api, hall)
    later = START + timedelta(hours=4)
    slot = {"starts_at": to_db(later), "ends_at": to_db(later + timedelta(hours=1))}
    pending = await booking(api, hall, "pending", "王芳", **slot)
    cancelled = await booking(api, hall, "cancelled", "赵明", **slot)

    status, outcome = await api.post(CHECKINS, json={"code": confirmed, "room_id": hall})
    assert status == 201, outcome
    assert (outcome["kind"], outcome["title"], outcome["party_size"]) == ("booking", "合唱排练", 4)
    assert outcome["name"] == "李*" and outcome["room_id"] == hall
    error = await refused(api, {"code": pending}, 409, "cancelled")
    assert "waiting for approval" in error["message"]
    error = await refused(api, {"code": cancelled}, 409, "cancelled")
    assert "booking was cancelled" in error["message"]


async def test_checkin_a_repeated_nonce_gives_the_first_outcome_and_one_row(api: Api) -> None:
    event_id = await published_event(api, **TODAY)
    code = await yes_code(api, event_id)
    body = {"code": code, "nonce": "tablet-1-0001"}

    first_status, first = await api.post(CHECKINS, json=body)
    again_status, again = await api.post(CHECKINS, json=body)

    assert (first_status, again_status) == (201, 200)
    assert again["repeated"] is True and again["id"] == first["id"]
    assert {k: v for k, v in again.items() if k != "repeated"} == {
        k: v for k, v in first.items() if k != "repeated"
    }
    assert await count_rows(api) == 1


async def test_checkin_a_door_token_is_bound_to_its_room(api: Api) -> None:
    hall = await room(api)
    other = await room(api, "会议室")
    here_event = await published_event(api, room_id=hall, **TODAY)
    there_event = await published_event(api, room_id=other, **TODAY)
    here = await yes_code(api, here_event, "钱红")
    there = await yes_code(api, there_event, "孙丽")
    tablet = await door(api, hall)

    # Asking for the other room changes nothing: the door's own room is used.
    await refused(tablet, {"code": there, "room_id": other}, 409, "wrong_room")
    status, seen = await tablet.get(f"{CHECKINS}/{there}")
    assert status == 409 and seen["error"]["code"] == "wrong_room"
    status, seen = await tablet.get(f"{CHECKINS}/{here.lower()}")
    assert status == 200 and (seen["status"], seen["name"]) == ("ok", "钱*")
    status, outcome = await tablet.post(CHECKINS, json={"code": here})
    assert status == 201 and outcome["room_id"] == hall
    status, seen = await tablet.get(f"{CHECKINS}/{here}")
    assert seen["status"] == "already_checked_in" and seen["checked_in_at"]

    for path in (f"{EVENTS}/{here_event}/checkins", EVENTS, "/api/v1/residents"):
        status, body = await tablet.get(path)
        assert status == 403, (path, body)


async def test_checkin_no_shows_are_marked_after_the_end(api: Api, clock: PinnedClock) -> None:
    event_id = await published_event(api, **TODAY)
    came = await yes_code(api, event_id, "钱红")
    await yes_code(api, event_id, "孙丽")
    hall = await room(api)
    await booking(api, hall)
    status, _ = await api.post(CHECKINS, json={"code": came})
    assert status == 201
    store = api.client.app[store_key]

    await housekeeping.tidy(store, clock)
    assert await no_shows(api) == (0, 0)
    clock.advance(hours=7)  # 17:00 local: the event and the booking are over
    await housekeeping.tidy(store, clock)
    assert await no_shows(api) == (1, 1)
    first = await store.reader.fetchall("SELECT no_show_at FROM invitations")
    clock.advance(hours=1)
    await housekeeping.tidy(store, clock)  # again: nothing new, the first marks stay
    assert await store.reader.fetchall("SELECT no_show_at FROM invitations") == first

    rows = await store.reader.fetchall(
        "SELECT r.name, i.no_show_at FROM invitations i JOIN residents r ON r.id = i.resident_id"
        " ORDER BY r.name"
    )
    marked = {row["name"]: row["no_show_at"] for row in rows}
    assert marked["钱红"] is None and marked["孙丽"] is not None
    status, seen = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert (seen["yes"], seen["checked_in"], seen["no_shows"]) == (2, 1, 1)


async def test_checkin_created_reaches_a_subscribed_webhook(make_api: MakeApi) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        event_id = await published_event(api, max_party_size=4, **TODAY)
        code = await yes_code(api, event_id, size=2)
        await subscribe(api, hook.url, "checkin.created")

        status, outcome = await api.post(CHECKINS, json={"code": code, "walk_ins": 1})
        assert status == 201
        await hook.wait_for(1)

        [delivery] = hook.deliveries
        assert delivery.valid and delivery.body["type"] == "checkin.created"
        data = delivery.body["data"]
        assert (data["checkin_id"], data["code"], data["event_id"]) == (
            outcome["id"],
            code,
            event_id,
        )
        assert (data["party_size"], data["walk_ins"], data["via"]) == (2, 1, "api")
        assert data["at"] == "2026-11-28T02:00:00Z"
        raw = hook.requests[0].raw.decode()
        for personal in ("张伟", "张*", "3-2-1501", "13812345678"):
            assert personal not in raw

        # A room booking's check-in concerns no event: it is told all the same.
        hall = await room(api)
        booked = await booking(api, hall)
        status, outcome = await api.post(CHECKINS, json={"code": booked, "room_id": hall})
        assert status == 201, outcome
        await hook.wait_for(2)
        data = hook.deliveries[1].body["data"]
        assert (data["code"], data["event_id"], data["room_id"]) == (booked, None, hall)
        assert data["booking_id"] == outcome["booking_id"] and data["party_size"] == 4


async def test_checkin_the_rsvp_page_shows_the_code_and_qr_only_for_yes(api: Api) -> None:
    event_id, [rid], [path] = await invited(api)

    _, pending_page, _ = await open_page(api, path)
    assert 'id="checkin-code"' not in pending_page and "<svg" not in pending_page
    status, yes_page = await submit(api, path, answer="yes", party_size="1")
    assert status == 200
    code = await code_of(api, event_id, rid)
    assert code is not None
    assert f'<p class="code" id="checkin-code">{code}</p>' in yes_page
    assert "<svg" in yes_page and "签到码" in yes_page

    status, no_page = await submit(api, path, answer="no")
    assert status == 200
    assert code not in no_page and "<svg" not in no_page


async def test_checkin_the_confirmation_of_a_yes_carries_the_code(api: Api) -> None:
    event_id, [rid], _ = await invited(api)

    await answer(api, event_id, rid, "yes")  # taken by an organiser: confirmed by SMS

    await settled(api, event_id, total=2)
    code = await code_of(api, event_id, rid)
    texts = [path.read_text(encoding="utf-8") for path in outbox_files(api, "sms")]
    [confirmation] = [text for text in texts if "Kind: rsvp_confirmation" in text]
    assert f"签到码{code}" in confirmation


async def test_checkin_a_link_answer_sends_the_code_on_the_residents_channel(api: Api) -> None:
    event_id, [rid], [path] = await invited(api)  # invited by SMS

    status, _ = await submit(api, path, answer="yes", party_size="2")
    assert status == 200

    # The page is not the only place the code lives: the resident's SMS carries it too.
    await settled(api, event_id, total=2)
    code = await code_of(api, event_id, rid)
    texts = [path.read_text(encoding="utf-8") for path in outbox_files(api, "sms")]
    [confirmation] = [text for text in texts if "Kind: rsvp_confirmation" in text]
    assert f"签到码{code}" in confirmation and "共2人" in confirmation

    # A no on the page is confirmed as well, with no code.
    await submit(api, path, answer="no")
    await settled(api, event_id, total=3)
    texts = [path.read_text(encoding="utf-8") for path in outbox_files(api, "sms")]
    confirmations = [text for text in texts if "Kind: rsvp_confirmation" in text]
    assert len(confirmations) == 2
    assert any("您这次不参加" in text and "签到码" not in text for text in confirmations)


async def test_checkin_a_link_answer_by_an_email_resident_is_confirmed_by_email(
    api: Api,
) -> None:
    event_id, [rid], [path] = await invited(api, contact=("email", "li.na@example.org"))

    await submit(api, path, answer="yes", party_size="1")

    await settled(api, event_id, total=2)
    code = await code_of(api, event_id, rid)
    emails = [path.read_text(encoding="utf-8") for path in outbox_files(api, "email")]
    [confirmation] = [text for text in emails if "Kind: rsvp_confirmation" in text]
    assert f"签到码：{code}" in confirmation


async def test_checkin_a_residents_webhook_confirmation_carries_the_code(api: Api) -> None:
    hook = ("webhook", "http://127.0.0.1:9/hook")
    going = await resident(api, "李娜", "1-1-103", hook)
    maybe = await resident(api, "王芳", "1-1-104", ("webhook", "http://127.0.0.1:9/other"))
    event_id = await published_event(api, **TODAY)

    await answer(api, event_id, going, "yes")
    await answer(api, event_id, maybe, "maybe")

    rows = await api.client.app[store_key].reader.fetchall(
        "SELECT resident_id, body_text FROM messages JOIN message_bodies ON message_id = id"
        " WHERE kind = 'rsvp_confirmation'"
    )
    sent = {r["resident_id"]: json.loads(r["body_text"])["data"]["rsvp"] for r in rows}
    assert sent[going] == {
        "answer": "yes",
        "party_size": 1,
        "checkin_code": await code_of(api, event_id, going),
    }
    assert sent[maybe]["checkin_code"] is None


async def test_checkin_the_confirmation_email_shows_the_code_large(api: Api) -> None:
    person = await resident(api, "王芳", "2-1-301", ("email", "wang.fang@example.org"))
    event_id = await published_event(api, **TODAY)

    await answer(api, event_id, person, "yes")

    await settled(api, event_id, total=1)
    code = await code_of(api, event_id, person)
    [email] = [path.read_text(encoding="utf-8") for path in outbox_files(api, "email")]
    assert "Kind: rsvp_confirmation" in email
    assert f"签到码：{code}" in email  # the text part
    row = await api.client.app[store_key].reader.fetchone(
        "SELECT body_html, extra FROM messages JOIN message_bodies ON message_id = id"
        " WHERE kind = 'rsvp_confirmation'"
    )
    assert row is not None
    big = re.search(r'font-size:34px[^"]*">(\w+)</p>', row["body_html"])
    assert big is not None and big.group(1) == code
    assert f'src="cid:{CHECKIN_QR_CID}"' in row["body_html"]
    # Drawn when the confirmation was composed, and stored with it.
    [qr] = json.loads(row["extra"])["attachments"]
    assert qr["content_id"] == CHECKIN_QR_CID and qr["content_type"] == "image/png"
    assert base64.b64decode(qr["data"]) == qr_png(code)


async def test_checkin_the_email_carries_the_qr_as_an_inline_png() -> None:
    message = outbound(
        kind="rsvp_confirmation",
        text="签到码：K7M4AC",
        html=f'<p>K7M4AC</p><img src="cid:{CHECKIN_QR_CID}">',
        extra=Extras(attachments=(checkin_qr("K7M4AC"),)),
    )
    async with SmtpSink() as sink, opened(sink.port) as channel:
        await channel.send(message)
        [mail] = await sink.wait_for(1)

    plain, related = list(mail.message.iter_parts())
    assert plain.get_content().strip() == "签到码：K7M4AC"
    assert related.get_content_type() == "multipart/related"
    html, image = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == f"<{CHECKIN_QR_CID}>"
    assert image.get_content() == qr_png("K7M4AC")

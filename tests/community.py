"""Helpers that set up a community through the API: residents, published events and
invitations, the resident's RSVP page, rooms and bookings, check-in codes, webhook
subscriptions, channel settings, and waiting for the outbox to settle. Test modules share
helpers only through here, tests/mail.py, console.py, processes.py, conftest.py and fakes/,
never through another test module (tests/test_tests.py sees to it)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar
from urllib.parse import urlsplit

from service.core.clock import to_db
from service.core.models import Role
from service.core.webhook_rules import new_secret
from service.domain.auth import issue_token
from service.keys import clock_key, delivery_key, settings_key, store_key
from service.store import Tx
from service.store.checkin import ensure_code
from service.web.telegram import SECRET_HEADER
from tests.conftest import START, Api
from tests.fakes.sms_gateway import FakeSmsGateway, android_event, android_signed
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

EVENTS = "/api/v1/events"
ROOMS = "/api/v1/rooms"
SUBSCRIPTIONS = "/api/v1/subscriptions"
# Saturday 28 Nov 2026 10:00 in Shanghai is the pinned now; Tuesday 1 Dec is "soon".
TUE = "2026-12-01"
# The signing secret `subscribe` gives a subscription unless told otherwise.
SECRET = new_secret()
# How long a test waits for the worker or a background task to get somewhere: generous,
# for a loaded 2-core CI machine; a passing test goes on as soon as the state is reached.
PATIENCE_S: Final = 30.0
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, every: float = 0.02
) -> T:
    """`probe()`'s value once `done` holds for it, asked every `every` s; after PATIENCE_S
    an AssertionError naming `what` and the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    while True:
        value = await probe()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"never {what}: {value!r}")
        await asyncio.sleep(every)


async def resident(api: Api, name: str, unit: str, *contacts: tuple[str, str], **kw: Any) -> int:
    body = {
        "name": name,
        "unit": unit,
        "contacts": [{"channel": c, "address": a} for c, a in contacts],
    }
    body.update(kw)
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201, created
    return int(created["id"])


async def published_event(api: Api, **fields: Any) -> int:
    body: dict[str, Any] = {
        "kind": "flea_market",
        "title": "跳蚤市场",
        "location": "中心广场",
        "starts_at": "2026-12-05T09:00",
        "ends_at": "2026-12-05T12:00",
    }
    body.update(fields)
    status, event = await api.post(EVENTS, json=body)
    assert status == 201, event
    status, _ = await api.post(f"{EVENTS}/{event['id']}/publish")
    assert status == 200
    return int(event["id"])


async def until(
    api: Api, event_id: int, done: Callable[[dict[str, int]], bool], what: str
) -> dict[str, Any]:
    """The event's deliveries once `done(counts by status)` holds (or an AssertionError)."""

    async def deliveries() -> dict[str, Any]:
        status, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
        assert status == 200, body
        return dict(body)

    return await eventually(deliveries, lambda body: done(body["by_status"]), what)


async def settled(api: Api, event_id: int, *, total: int) -> dict[str, Any]:
    """The deliveries once `total` messages exist and none is queued or sending any more."""
    return await until(
        api,
        event_id,
        lambda c: sum(c.values()) >= total and c["queued"] == 0 and c["sending"] == 0,
        f"settled with {total} messages",
    )


def outbox_files(api: Api, channel: str) -> list[Path]:
    root = Path(api.client.app[settings_key].channels.file.path) / channel
    return sorted(root.glob("*.txt")) if root.exists() else []


def assert_fell_back(body: dict[str, Any], first: str, status: str, then: str) -> None:
    """In a deliveries answer: the message on channel `first` ended `status`, and its
    fallback on `then`, in the same group, was delivered."""
    by_channel = {m["channel"]: m for m in body["messages"]["items"]}
    assert by_channel[first]["status"] == status
    assert by_channel[then]["status"] == "delivered"
    assert by_channel[then]["group_uid"] == by_channel[first]["uid"]


def sms_gateway_settings(gateway: FakeSmsGateway) -> dict[str, Any]:
    """A real SMS channel (the Android gateway stand-in): quiet hours apply to it."""
    return {
        "channels.sms.enabled": True,
        "channels.sms.url": gateway.url,
        "channels.sms.username": gateway.username,
        "channels.sms.password": gateway.password,
    }


def android_settings(gateway: FakeSmsGateway, secret: str) -> dict[str, Any]:
    """SMS through the Android gateway stand-in, which also reports residents' texts
    (signed with `secret`); unthrottled, since tests send a few at once."""
    return {
        **sms_gateway_settings(gateway),
        "channels.sms.provider": "android_gateway",
        "channels.sms.webhook_secret": secret,
        "channels.sms.rate_per_s": 0.0,
    }


async def android_text(
    api: Api, body: str, *, phone: str, secret: str, sms_id: str | None = None
) -> int:
    """The phone reporting an SMS `body` from `phone`; its event id is new unless given."""
    event = android_event(
        "sms:received", message_id="rx", phone_number=phone, text=body, event_id=sms_id
    )
    raw, headers = android_signed(event, secret, int(time.time()))
    resp = await api.client.post("/hooks/sms/android", data=raw, headers=headers)
    return resp.status


def twilio_settings(twilio: FakeTwilio) -> dict[str, Any]:
    """A real SMS channel through the Twilio stand-in."""
    return {
        "channels.sms.enabled": True,
        "channels.sms.provider": "twilio",
        "channels.sms.url": twilio.url,
        "channels.sms.account_sid": ACCOUNT_SID,
        "channels.sms.auth_token": AUTH_TOKEN,
        "channels.sms.from_number": FROM_NUMBER,
    }


class Invitation(NamedTuple):
    """An event sent to residents: its id, theirs, and the path of each one's RSVP page
    (where the link in their message leads)."""

    event_id: int
    residents: list[int]
    pages: list[str]


async def invited(
    api: Api,
    people: int = 1,
    *,
    contact: tuple[str, str] = ("sms", "13800138000"),
    language: str = "zh-CN",
    settle: bool = True,
    **event: Any,
) -> Invitation:
    """A new event (at most 4 people per answer unless `event` says otherwise) sent to
    `people` residents: 张伟 of 3-2-1501 on `contact` in `language`, then 居民1, 居民2… by
    SMS. With `settle` it returns once every message has gone out, each SMS carrying its
    resident's link."""
    residents = [await resident(api, "张伟", "3-2-1501", contact, language=language)]
    for i in range(1, people):
        phone = f"1380013{8000 + i:04d}"
        residents.append(await resident(api, f"居民{i}", f"1-1-{100 + i}", ("sms", phone)))
    event_id = await published_event(api, **{"max_party_size": 4, **event})
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200 and report["invited"] == people, report
    links = [rsvp_link(api, event_id, rid) for rid in residents]
    if settle:
        body = await settled(api, event_id, total=people)
        assert body["by_status"]["sent"] + body["by_status"]["delivered"] == people, body
        texts = "\n".join(p.read_text(encoding="utf-8") for p in outbox_files(api, "sms"))
        by_sms = links[1:] if contact[0] != "sms" else links
        assert all(link in texts for link in by_sms), texts
    return Invitation(event_id, residents, [urlsplit(link).path for link in links])


def rsvp_link(api: Api, event_id: int, resident_id: int) -> str:
    """The link to the resident's RSVP page that their messages carry."""
    return api.client.app[delivery_key].ready().links.rsvp(event_id, resident_id)


def page_path(api: Api, event_id: int, resident_id: int) -> str:
    """The path of the resident's RSVP page."""
    return urlsplit(rsvp_link(api, event_id, resident_id)).path


async def open_page(api: Api, path: str) -> tuple[int, str, dict[str, str]]:
    async with api.client.get(path) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found.group(1)


async def submit(api: Api, path: str, **form: str) -> tuple[int, str]:
    """Send the page's form as a browser does, with the nonce of a fresh page view unless
    one is given."""
    if "nonce" not in form:
        _, html, _ = await open_page(api, path)
        form["nonce"] = nonce_of(html)
    async with api.client.post(path, data=form) as resp:
        return resp.status, await resp.text()


async def attendance(api: Api, event_id: int) -> dict[str, Any]:
    status, body = await api.get(f"{EVENTS}/{event_id}/attendance", params={"limit": "500"})
    assert status == 200, body
    return dict(body)


async def answer(api: Api, event_id: int, resident_id: int, what: str, size: int = 1) -> None:
    """The resident's answer, taken by an organiser through the API."""
    body = {"resident_id": resident_id, "answer": what, "party_size": size}
    status, result = await api.post(f"{EVENTS}/{event_id}/answers", json=body)
    assert status == 200, result


async def room(api: Api, name: str = "活动室", **rules: Any) -> int:
    status, created = await api.post(ROOMS, json={"name": name, "capacity": 30, **rules})
    assert status == 201, created
    return int(created["id"])


async def book(api: Api, room_id: int, start: str, end: str, **fields: Any) -> tuple[int, Any]:
    return await api.post(
        f"{ROOMS}/{room_id}/bookings",
        json={"starts_at": f"{start}+08:00", "ends_at": f"{end}+08:00", **fields},
    )


async def booking(
    api: Api, room_id: int, status: str = "confirmed", name: str = "李娜", **when: str
) -> str:
    """A booking of the room written straight to the store (bookings are another
    module's) with its code."""
    start = when.get("starts_at", to_db(START + timedelta(hours=1)))
    end = when.get("ends_at", to_db(START + timedelta(hours=3)))
    phone = f"+86139{sum(map(ord, name)):08d}"
    person = await resident(api, name, "1-1-101", ("sms", phone))
    now = api.client.app[clock_key]()

    async def txn(tx: Tx) -> str:
        booking_id = await tx.execute(
            "INSERT INTO bookings (room_id, resident_id, title, party_size, starts_at, ends_at,"
            " blocked_until, status, booked_by, created_at, updated_at)"
            " VALUES (?, ?, '合唱排练', 4, ?, ?, ?, ?, 'resident', ?, ?)",
            (room_id, person, start, end, end, status, to_db(now), to_db(now)),
        )
        return await ensure_code(tx, booking_id=booking_id, now=now)

    return str(await api.client.app[store_key].write(txn))


async def code_of(api: Api, event_id: int, resident_id: int) -> str | None:
    row = await api.client.app[store_key].reader.fetchone(
        "SELECT c.code FROM checkin_codes c JOIN invitations i ON i.id = c.invitation_id"
        " WHERE i.event_id = ? AND i.resident_id = ?",
        (event_id, resident_id),
    )
    return None if row is None else str(row["code"])


async def yes_code(api: Api, event_id: int, name: str = "张伟", size: int = 1) -> str:
    phone = "+8613812345678" if name == "张伟" else f"+86139{sum(map(ord, name)):08d}"
    person = await resident(api, name, "3-2-1501", ("sms", phone))
    await answer(api, event_id, person, "yes", size)
    code = await code_of(api, event_id, person)
    assert code is not None
    return code


async def door(api: Api, room_id: int) -> Api:
    _, token = await issue_token(
        api.client.app[store_key], role=Role.DOOR, name="活动室门口", now=START, room=room_id
    )
    return Api(api.client, token)


def hooks_on(**more: Any) -> dict[str, Any]:
    """A real webhook channel that may reach the receivers on 127.0.0.1."""
    return {
        "channels.webhook.enabled": True,
        "channels.webhook.allow_private": ["127.0.0.0/8"],
        "delivery.jitter": 0.0,
        **more,
    }


async def subscribe(api: Api, url: str, *types: str, secret: str = SECRET) -> int:
    body = {"url": url, "event_types": list(types), "signing_secret": secret}
    status, created = await api.post(SUBSCRIPTIONS, json=body)
    assert status == 201, created
    return int(created["id"])


async def console_community(api: Api) -> tuple[dict[str, int], tuple[str, ...]]:
    """A small community with something on every console page: residents, a sent event
    with answers, a room with a booking. Returns the ids the pages need and the data it
    typed (names, titles, places), which a page shows as it was typed, in any language."""
    people = [
        await resident(api, f"居民{n:02d}", f"{1 + n % 3}-1-{n:02d}01",
                       ("sms", f"+86138001{n:05d}"), tags=["building-1"] if n % 2 else [])
        for n in range(8)
    ]  # fmt: skip
    title = "跳蚤市场：旧物换新家"
    event_id = await published_event(api, title=title, max_party_size=4)
    status, _ = await api.post(f"{EVENTS}/{event_id}/send")
    assert status in (200, 202)
    await settled(api, event_id, total=len(people))
    await answer(api, event_id, people[0], "yes", 2)
    await answer(api, event_id, people[2], "no")
    room_id = await room(api)
    status, made = await book(
        api, room_id, "2026-12-01T14:00", "2026-12-01T16:00", title="合唱排练",
        resident_id=people[1], override_rules=True,
    )  # fmt: skip
    assert status == 201, made
    _, deliveries = await api.get(f"{EVENTS}/{event_id}/deliveries")
    message_id = int(deliveries["messages"]["items"][0]["id"])
    community = api.client.app[settings_key].community.name
    zone = api.client.app[settings_key].community.timezone
    # The language menu names each language in its own script; the organiser is 王组织.
    data = (
        title, "中心广场", "活动室", "合唱排练", community, "building-1", "中文", "English",
        "王组织", zone,
        *(f"居民{n:02d}" for n in range(8)),
    )  # fmt: skip
    ids = {"event": event_id, "resident": people[0], "room": room_id, "message": message_id}
    return ids, data


def console_pages(ids: dict[str, int]) -> dict[str, str]:
    """The console's main pages (name -> path) for the ids of console_community."""
    e, r, room_id = ids["event"], ids["resident"], ids["room"]
    return {
        "dashboard": "/console",
        "events": "/console/events",
        "event-new": "/console/events/new",
        "event": f"/console/events/{e}",
        "event-edit": f"/console/events/{e}/edit",
        "event-preview": f"/console/events/{e}/preview?resident={r}",
        "event-send": f"/console/events/{e}/send",
        "attendance": f"/console/events/{e}/attendance",
        "checkins": f"/console/events/{e}/checkins",
        "residents": "/console/residents",
        "resident": f"/console/residents/{r}",
        "resident-new": "/console/residents/new",
        "residents-import": "/console/residents/import",
        "rooms": "/console/rooms",
        "room": f"/console/rooms/{room_id}",
        "room-week": f"/console/rooms/{room_id}/week?start=2026-11-30",
        "bookings-pending": "/console/bookings/pending",
        "messages": "/console/messages",
        "message": f"/console/messages/{ids['message']}",
        "settings": "/console/settings",
        "groups": "/console/groups",
    }


TELEGRAM_HOOK: Final = "/hooks/telegram"
TELEGRAM_SECRET: Final = "linli-webhook_Secret-2026"


def telegram_settings(bot: FakeTelegram, **more: Any) -> dict[str, Any]:
    """A Telegram channel whose Bot API is the stand-in `bot`, its webhook secret set."""
    return {
        "channels.telegram.enabled": True,
        "channels.telegram.bot_token": TELEGRAM_TOKEN,
        "channels.telegram.bot_username": "linli_bot",
        "channels.telegram.api_url": bot.url,
        "channels.telegram.webhook_secret": TELEGRAM_SECRET,
        **more,
    }


async def telegram_deliver(
    api: Api, update: Any, *, secret: str | None = TELEGRAM_SECRET
) -> tuple[int, Any]:
    """POST an update to the webhook as Telegram does."""
    headers = {} if secret is None else {SECRET_HEADER: secret}
    return await api.post(TELEGRAM_HOOK, json=update, headers=headers)

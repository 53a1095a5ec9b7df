"""Residents answering by SMS reply, through the Android gateway's and Twilio's signed
inbound webhooks, against the real app and worker and the provider stand-ins: answers
with sizes and event codes, STOP and START, help, refusals, and each message once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.sms_callbacks import android_inbound, parse_android_event, parse_twilio_inbound
from service.keys import store_key
from service.store import Row
from tests.community import (
    EVENTS,
    android_text,
    eventually,
    published_event,
    resident,
    settled,
    twilio_settings,
)
from tests.conftest import GATEWAY_SECRET, Api, MakeApi, PinnedClock
from tests.fakes.sms_gateway import FakeSmsGateway, android_event
from tests.fakes.twilio import (
    AUTH_TOKEN,
    FakeTwilio,
    twilio_inbound_params,
    twilio_signed,
    twilio_status_callback_params,
)

SECRET = GATEWAY_SECRET
# A real number sends about one SMS a second; these tests send a few each, unthrottled.
UNTHROTTLED = {"channels.sms.rate_per_s": 0.0}
PHONE = "+8613800138000"
ANDROID = "/hooks/sms/android"
TWILIO_INBOUND = "/hooks/sms/twilio/inbound"


async def text(
    api: Api, body: str, *, sms_id: str | None = None, phone: str = PHONE, secret: str = SECRET
) -> int:
    """The phone reporting an SMS `body` from `phone`; its event id is new unless given."""
    return await android_text(api, body, phone=phone, secret=secret, sms_id=sms_id)


async def invite(api: Api, rid: int | None = None, **event: Any) -> tuple[int, int]:
    """A resident on SMS (张伟 unless `rid`) invited to a new event, the invitation sent;
    (event id, resident id)."""
    if rid is None:
        rid = await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    event_id = await published_event(api, **{"max_party_size": 4, **event})
    status, sent = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, sent
    await settled(api, event_id, total=1)
    return event_id, rid


async def outbox(api: Api) -> list[Row]:
    """Every message once none is queued or being sent."""
    store = api.client.app[store_key]

    async def rows() -> list[Row]:
        return list(
            await store.reader.fetchall(
                "SELECT kind, status, address, body_text, provider_id FROM messages"
                " JOIN message_bodies ON message_id = id ORDER BY id"
            )
        )

    return await eventually(
        rows,
        lambda found: all(row["status"] not in ("queued", "sending") for row in found),
        "settled",
    )


async def replies(api: Api) -> list[str]:
    """The texts of the replies and confirmations sent, once the outbox has settled."""
    rows = await outbox(api)
    return [row["body_text"] for row in rows if row["kind"] in ("reply", "rsvp_confirmation")]


def sent_texts(gateway: FakeSmsGateway, phone: str = PHONE) -> list[str]:
    """What the gateway was asked to send to `phone`, in order."""
    return [
        m["textMessage"]["text"] for m in gateway.messages.values() if m["phoneNumbers"] == [phone]
    ]


async def item(api: Api, event_id: int) -> dict[str, Any]:
    """The event's one invitation as the attendance list shows it."""
    status, body = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200, body
    [found] = body["items"]
    return dict(found)


def state(found: dict[str, Any]) -> tuple[str, int, list[str]]:
    """(answer, party size, the path of each change)."""
    return found["answer"], found["party_size"], [h["via"] for h in found["history"]]


async def sms_contact(api: Api, rid: int) -> dict[str, Any]:
    """The resident's sms contact as the API shows it."""
    status, body = await api.get(f"/api/v1/residents/{rid}")
    assert status == 200, body
    [contact] = [c for c in body["contacts"] if c["channel"] == "sms"]
    return dict(contact)


async def test_sms_reply_answers_with_a_party_size_and_is_confirmed(
    android: Api, gateway: FakeSmsGateway
) -> None:
    event_id, _ = await invite(android)
    assert await text(android, "1 2", sms_id="evt-1") == 204
    assert await text(android, "1 2", sms_id="evt-1") == 204  # the phone retried
    assert state(await item(android, event_id)) == ("yes", 2, ["sms"])
    [confirmation] = await replies(android)
    assert "已为您登记参加「跳蚤市场」，共2人" in confirmation
    invitation, again = sent_texts(gateway)
    assert again == confirmation and "回复“A1 1”参加" in invitation


async def test_sms_reply_in_full_width_with_an_event_code(android: Api) -> None:
    event_id, _ = await invite(android)
    assert await text(android, "Ａ１　２") == 204
    assert state(await item(android, event_id)) == ("no", 1, ["sms"])
    [confirmation] = await replies(android)
    assert "您这次不参加「跳蚤市场」" in confirmation


async def test_sms_reply_code_picks_the_event_and_no_code_the_latest_invitation(
    android: Api,
) -> None:
    first, rid = await invite(android, title="读书会")
    second, _ = await invite(android, rid, title="义剪")
    assert await text(android, "A1 1") == 204  # the older invitation, by its code
    assert await text(android, "3") == 204  # no code: the newest invitation sent
    assert state(await item(android, first)) == ("yes", 1, ["sms"])
    assert state(await item(android, second)) == ("maybe", 1, ["sms"])
    assert await text(android, "b1 y 3") == 204
    assert state(await item(android, second)) == ("yes", 3, ["sms", "sms"])
    assert len(await replies(android)) == 3


async def test_sms_reply_english_resident_gets_english_refusals(android: Api) -> None:
    rid = await resident(android, "Zhang Wei", "1-1-101", ("sms", PHONE), language="en")
    event_id, _ = await invite(android, rid)
    assert await text(android, "Y9", sms_id="big") == 204
    assert await text(android, "Y9", sms_id="big") == 204
    assert await text(android, "C1 1") == 204  # no such event
    assert state(await item(android, event_id)) == ("pending", 1, [])
    assert await replies(android) == [
        "学府雍景湾: at most 4 people per answer for 跳蚤市场, you included.",
        "学府雍景湾: we found no invitation for event C1; please check the code in our SMS.",
    ]


async def test_sms_reply_after_the_deadline_is_refused(android: Api, clock: PinnedClock) -> None:
    event_id, _ = await invite(android, rsvp_deadline="2026-12-01T20:00")
    clock.advance(days=4)
    assert await text(android, "1") == 204
    assert state(await item(android, event_id)) == ("pending", 1, [])
    assert await replies(android) == ["【学府雍景湾】「跳蚤市场」回复已截止，这次回复未登记。"]


async def test_sms_reply_stop_opts_out_with_one_confirmation(
    android: Api, gateway: FakeSmsGateway
) -> None:
    event_id, rid = await invite(android)
    assert await text(android, "STOP", sms_id="stop-1") == 204
    assert await text(android, "STOP", sms_id="stop-1") == 204  # delivered again
    assert await text(android, "退订", sms_id="stop-2") == 204  # said again: opted out already
    assert (await sms_contact(android, rid))["opted_out"] is True
    assert await replies(android) == [
        "【学府雍景湾】已退订，本号码不会再收到活动短信。回复 开通 可恢复。"
    ]
    assert len(sent_texts(gateway)) == 2  # the invitation, then the confirmation
    # An answer still counts, but nothing more is said to the number.
    assert await text(android, "1") == 204
    assert await text(android, "hello") == 204
    assert state(await item(android, event_id)) == ("yes", 1, ["sms"])
    rows = await outbox(android)
    assert [row["status"] for row in rows if row["kind"] == "rsvp_confirmation"] == ["suppressed"]
    assert len(sent_texts(gateway)) == 2

    assert await text(android, "start") == 204
    assert (await sms_contact(android, rid))["opted_out"] is False
    assert (
        (await replies(android))[-1]
        == sent_texts(gateway)[-1]
        == "【学府雍景湾】已恢复活动短信通知。回复 TD 可退订。"
    )


async def test_sms_reply_gibberish_earns_one_help_text(
    android: Api, gateway: FakeSmsGateway, clock: PinnedClock
) -> None:
    await invite(android)
    help_text = (
        "【学府雍景湾】回复 1 参加，2 不参加，3 待定，多人加人数如 1 3；"
        "多场活动请加活动代码，如 A1 1。回复 TD 退订。"
    )
    assert await text(android, "你好，请问几点开始？", sms_id="hi") == 204
    assert await text(android, "你好，请问几点开始？", sms_id="hi") == 204
    assert await text(android, "谢谢") == 204  # within the hour: no second help
    assert await replies(android) == [help_text]
    assert await text(android, "帮助") == 204  # asked for: always answered
    clock.advance(hours=1, minutes=1)
    assert await text(android, "谢谢") == 204
    assert await replies(android) == [help_text] * 3
    assert sent_texts(gateway)[1:] == [help_text] * 3


async def test_sms_reply_from_an_unknown_number_is_ignored(
    android: Api, gateway: FakeSmsGateway
) -> None:
    event_id, _ = await invite(android)
    for body in ("1", "hello", "STOP", "HELP"):
        assert await text(android, body, phone="+8613900139000") == 204
    assert await text(android, "1", phone="not a number") == 204
    assert state(await item(android, event_id)) == ("pending", 1, [])
    assert await replies(android) == []
    assert len(gateway.messages) == 1


async def test_sms_reply_with_a_bad_signature_changes_nothing(android: Api) -> None:
    event_id, _ = await invite(android)
    assert await text(android, "1", secret="not-the-secret") == 401
    assert state(await item(android, event_id)) == ("pending", 1, [])
    assert await replies(android) == []


async def test_sms_reply_a_household_sharing_a_number_answers_for_the_one_invited(
    android: Api,
) -> None:
    await resident(android, "张伟", "1-1-101", ("sms", PHONE))
    rid = await resident(android, "张奶奶", "1-1-101", ("sms", PHONE))
    event_id = await published_event(android, max_party_size=4)
    status, _ = await android.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": rid, "answer": "maybe"}
    )
    assert status == 200
    assert await text(android, "1") == 204
    found = await item(android, event_id)
    assert (found["resident_id"], found["answer"]) == (rid, "yes")


# --- Twilio ---


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def tw(make_api: MakeApi, twilio: FakeTwilio) -> Api:
    """The organiser's API on an app sending SMS through the Twilio stand-in."""
    # Behind a proxy on this machine: its X-Forwarded-Proto is believed.
    trusted = {"server.trusted_proxies": ["127.0.0.1", "::1"]}
    return await make_api(**twilio_settings(twilio), **UNTHROTTLED, **trusted)


async def twilio_text(
    api: Api, params: dict[str, str], *, path: str = TWILIO_INBOUND, proxied: bool = True
) -> tuple[int, str, str]:
    """Twilio posting an incoming message, signed over the https URL a proxy ended TLS
    for; (status, content type, body)."""
    host = f"{api.client.host}:{api.client.port}"
    headers = twilio_signed(f"https://{host}{path}", params, AUTH_TOKEN)
    if proxied:
        headers["X-Forwarded-Proto"] = "https"
    resp = await api.client.post(path, data=params, headers=headers)
    return resp.status, resp.content_type, await resp.text()


def twilio_texts(twilio: FakeTwilio) -> list[str]:
    """What Twilio was asked to send to PHONE, in order."""
    return [m["body"] for m in twilio.messages if m["to"] == PHONE]


async def test_twilio_inbound_answers_once_per_message_sid_behind_a_proxy(
    tw: Api, twilio: FakeTwilio
) -> None:
    event_id, _ = await invite(tw)
    params = twilio_inbound_params("y2", sid="SM" + "a1" * 16)
    assert (await twilio_text(tw, params, proxied=False))[0] == 401  # http vs https
    assert state(await item(tw, event_id)) == ("pending", 1, [])
    status, content_type, body = await twilio_text(tw, params)
    assert (status, content_type) == (200, "text/xml")
    assert body.endswith("<Response/>")
    assert (await twilio_text(tw, params))[0] == 200  # Twilio retried
    assert state(await item(tw, event_id)) == ("yes", 2, ["sms"])
    [confirmation] = await replies(tw)
    assert twilio_texts(twilio)[1:] == [confirmation]
    tampered = {**params, "Body": "2"}
    host = f"{tw.client.host}:{tw.client.port}"
    headers = {
        **twilio_signed(f"https://{host}{TWILIO_INBOUND}", params, AUTH_TOKEN),
        "X-Forwarded-Proto": "https",
    }
    resp = await tw.client.post(TWILIO_INBOUND, data=tampered, headers=headers)
    assert resp.status == 401
    assert state(await item(tw, event_id)) == ("yes", 2, ["sms"])


async def test_twilio_inbound_stop_is_confirmed_by_twilio_a_chinese_one_by_us(
    tw: Api, twilio: FakeTwilio
) -> None:
    _, rid = await invite(tw)
    assert (await twilio_text(tw, twilio_inbound_params("Stop")))[0] == 200
    assert (await sms_contact(tw, rid))["opted_out"] is True
    assert await replies(tw) == []  # Twilio has answered STOP itself
    assert (await twilio_text(tw, twilio_inbound_params("START")))[0] == 200
    assert (await sms_contact(tw, rid))["opted_out"] is False
    assert (await twilio_text(tw, twilio_inbound_params("退订")))[0] == 200
    assert (await sms_contact(tw, rid))["opted_out"] is True
    assert await replies(tw) == [
        "【学府雍景湾】已退订，本号码不会再收到活动短信。回复 开通 可恢复。"
    ]
    assert len(twilio_texts(twilio)) == 2


async def test_twilio_either_url_takes_either_request(tw: Api) -> None:
    event_id, _ = await invite(tw)
    status, content_type, _ = await twilio_text(
        tw, twilio_inbound_params("A1 3"), path="/hooks/sms/twilio"
    )
    assert (status, content_type) == (200, "text/xml")
    assert state(await item(tw, event_id)) == ("maybe", 1, ["sms"])
    rows = await outbox(tw)
    [sid] = [row["provider_id"] for row in rows if row["kind"] == "invitation"]
    report = twilio_status_callback_params(sid, "delivered")
    assert (await twilio_text(tw, report))[0] == 204
    rows = await outbox(tw)
    assert [row["status"] for row in rows if row["kind"] == "invitation"] == ["delivered"]


# --- The providers' inbound formats, read ---


def test_parse_twilio_inbound_knows_what_twilio_answers_itself() -> None:
    sms = parse_twilio_inbound(twilio_inbound_params("1 2", sid="SM1"))
    assert (sms.provider, sms.message_id, sms.sender, sms.text) == ("twilio", "SM1", PHONE, "1 2")
    assert not sms.provider_replied
    for keyword in ("stop", " STOP ", "Unsubscribe", "START", "yes"):
        assert parse_twilio_inbound(twilio_inbound_params(keyword)).provider_replied
    advanced = {**twilio_inbound_params("退订"), "OptOutType": "STOP"}
    assert parse_twilio_inbound(advanced).provider_replied
    assert not parse_twilio_inbound(twilio_inbound_params("退订")).provider_replied
    with pytest.raises(ValueError, match="MessageSid"):
        parse_twilio_inbound({"Body": "1", "From": PHONE})


def test_android_inbound_is_keyed_by_the_event_id() -> None:
    event = android_event(
        "sms:received", message_id="same", phone_number="13800138000", text="1", event_id="e1"
    )
    sms = android_inbound(parse_android_event(json.dumps(event).encode()))
    assert sms is not None
    assert (sms.provider, sms.message_id, sms.sender, sms.text) == (
        "android",
        "e1",
        "13800138000",
        "1",
    )
    delivered = android_event("sms:delivered", message_id="m1", phone_number=PHONE)
    assert android_inbound(parse_android_event(json.dumps(delivered).encode())) is None

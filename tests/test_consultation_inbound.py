"""Needs and support from residents' own channels, through the local stand-ins: the SMS
keywords ("建议 …", "支持 A3", "撤回 A3") via the Android gateway's signed webhook, and
Telegram's /need via the bot's webhook; each message applied once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.keys import store_key
from tests.community import (
    EVENTS,
    android_text,
    eventually,
    published_event,
    resident,
    telegram_settings,
)
from tests.community import telegram_deliver as deliver
from tests.conftest import GATEWAY_SECRET, Api, MakeApi
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram import FakeTelegram

PHONE = "+8613800138000"


@pytest.fixture
async def bot() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def sent_to(gateway: FakeSmsGateway, phone: str = PHONE) -> list[str]:
    return [
        m["textMessage"]["text"] for m in gateway.messages.values() if m["phoneNumbers"] == [phone]
    ]


async def _text(api: Api, body: str, sms_id: str | None = None) -> None:
    status = await android_text(api, body, phone=PHONE, secret=GATEWAY_SECRET, sms_id=sms_id)
    assert status == 204


async def _needs(api: Api) -> list[dict[str, Any]]:
    status, page = await api.get("/api/v1/needs")
    assert status == 200
    return list(page["items"])


async def test_consultation_sms_need_and_support_keywords(
    android: Api, gateway: FakeSmsGateway
) -> None:
    rid = await resident(android, "张伟", "3-2-1501", ("sms", "13800138000"))
    await _text(android, "建议 活动室冬天太冷，希望装暖气", sms_id="n1")
    await _text(android, "建议 活动室冬天太冷，希望装暖气", sms_id="n1")  # delivered again
    [need] = await _needs(android)
    assert need["text"] == "活动室冬天太冷，希望装暖气"
    assert (need["via"], need["resident_id"], need["unit"]) == ("sms", rid, "3-2-1501")

    status, item = await android.post(
        "/api/v1/items", json={"title": "活动室冬季取暖", "need_ids": [need["id"]]}
    )
    assert status == 201, item
    code = item["code"]
    await _text(android, f"支持 {code}", sms_id="s1")
    await _text(android, f"支持 {code}", sms_id="s1")  # the same message again
    await _text(android, f"支持{code.lower()}", sms_id="s2")  # said again: still one
    _, got = await android.get(f"/api/v1/items/{item['id']}")
    assert got["support_count"] == 1
    await _text(android, f"撤回 {code}", sms_id="w1")
    _, got = await android.get(f"/api/v1/items/{item['id']}")
    assert got["support_count"] == 0
    await _text(android, "支持 A999", sms_id="s3")

    texts = await eventually(lambda: _wrap(sent_to(gateway)), lambda t: len(t) == 5, "five replies")
    assert "收到您的建议" in texts[0]
    assert f"已支持议题{code}「活动室冬季取暖」，目前 1 户支持" in texts[1]
    assert "目前 1 户支持" in texts[2]
    assert f"已撤回对议题{code}的支持，目前 0 户支持" in texts[3]
    assert "没有找到议题A999" in texts[4]


async def _wrap(value: list[str]) -> list[str]:
    return value


async def test_consultation_telegram_need(make_api: MakeApi, bot: FakeTelegram) -> None:
    tg = await make_api(**telegram_settings(bot))
    rid = await resident(tg, "张伟", "3-2-1501", ("telegram", "5551234"))
    update = bot.text_update(5551234, "/need 希望办四点半课堂")
    for _ in range(2):  # Telegram delivering it again changes nothing
        status, _ = await deliver(tg, update)
        assert status == 200
    [need] = await _needs(tg)
    assert (need["text"], need["via"], need["resident_id"]) == ("希望办四点半课堂", "telegram", rid)
    await bot.wait_for(1)
    [reply] = bot.sent(5551234)
    assert reply.params["text"].startswith("收到您的建议")
    status, _ = await deliver(tg, bot.text_update(5551234, "/need"))
    await bot.wait_for(2)
    assert bot.sent(5551234)[-1].params["text"].startswith("请在 /need 后")
    row = await tg.client.app[store_key].reader.fetchone("SELECT COUNT(*) FROM needs")
    assert row is not None and row[0] == 1


async def test_consultation_telegram_support_button_under_a_meeting_invitation(
    make_api: MakeApi, bot: FakeTelegram
) -> None:
    tg = await make_api(**telegram_settings(bot))
    rid = await resident(tg, "张伟", "3-2-1501", ("telegram", "5551234"))
    spouse = await resident(tg, "李娜", "3-2-1501", ("telegram", "5559999"))
    status, item = await tg.post("/api/v1/items", json={"title": "四点半课堂"})
    meeting = await published_event(tg, kind="meeting", title="板凳会")
    await tg.put(f"{EVENTS}/{meeting}/agenda", json={"item_ids": [item["id"]]})
    status, report = await tg.post(f"{EVENTS}/{meeting}/send")
    assert status == 200 and report["invited"] == 2
    await bot.wait_for(2)
    [sent] = bot.sent(5551234)
    assert f"{item['code']} 四点半课堂" in sent.params["text"]
    for _ in range(2):  # the same update again changes nothing
        status, _ = await deliver(tg, bot.tap(5551234, f"支持 {item['code']}"))
        assert status == 200
    await deliver(tg, bot.tap(5559999, f"支持 {item['code']}"))  # the same household
    _, got = await tg.get(f"/api/v1/items/{item['id']}")
    assert got["support_count"] == 1
    answers = [a["text"] for a in bot.callback_answers()]
    assert answers[0] == f"已支持 {item['code']}，目前 1 户支持。"
    # Another's button pressed in this chat is refused.
    foreign = bot.tap(5559999, f"支持 {item['code']}")
    foreign["callback_query"]["message"]["chat"]["id"] = 5551234
    await deliver(tg, foreign)
    # (said in the presser's Telegram language, as the answer buttons do)
    assert bot.callback_answers()[-1]["text"] == "This button is not yours."
    del rid, spouse

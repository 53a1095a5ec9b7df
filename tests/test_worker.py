"""The delivery worker against real receivers: retries on the documented schedule with a
pinned clock, Retry-After, fallback to the next channel, disabled endpoints, and rate
limits per channel and per Telegram chat."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from service.core.webhook_rules import new_secret
from tests.community import (
    EVENTS,
    assert_fell_back,
    eventually,
    hooks_on,
    published_event,
    resident,
    settled,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = new_secret()


def telegram_on(bot: FakeTelegram, more: dict[str, object]) -> dict[str, object]:
    """Settings with the Telegram channel talking to the stand-in `bot`."""
    return {
        "channels.telegram.enabled": True,
        "channels.telegram.bot_token": TOKEN,
        "channels.telegram.api_url": bot.url,
        **more,
    }


async def backlog(api: Api, chat: str, count: int) -> int:
    """A resident on Telegram `chat` with `count` messages queued for them: an invitation
    and urgent updates to it; returns the event's id."""
    await resident(api, "张伟", "1-1-101", ("telegram", chat))
    event_id = await published_event(api)
    await api.post(f"{EVENTS}/{event_id}/send")
    for n in range(count - 1):
        await api.post(
            f"{EVENTS}/{event_id}/notify",
            json={"kind": "update", "note": f"第{n}次", "urgent": True},
        )
    return event_id


async def hooked_resident(api: Api, url: str, *more: tuple[str, str]) -> int:
    body = {
        "name": "张伟",
        "unit": "1-1-101",
        "contacts": [
            {"channel": "webhook", "address": url, "signing_secret": SECRET},
            *({"channel": c, "address": a} for c, a in more),
        ],
    }
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201, created
    return int(created["id"])


async def only_message(api: Api, event_id: int) -> dict[str, Any]:
    _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    [message] = body["messages"]["items"]
    return dict(message)


async def message_where(
    api: Api, event_id: int, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The event's one message once `check` holds for it."""
    return await eventually(lambda: only_message(api, event_id), check, "got there")


def requeued(attempts: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["attempts"] == attempts and m["status"] == "queued"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_temporary_failures_retry_on_the_schedule(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        await hooked_resident(api, hook.url)
        event_id = await published_event(api)
        hook.script(500, times=2)
        sent_at = clock.now
        await api.post(f"{EVENTS}/{event_id}/send")

        message = await message_where(api, event_id, requeued(1))
        assert message["last_error"]
        assert when(message["send_after"]) == sent_at + timedelta(seconds=5)

        clock.advance(seconds=4)  # not due yet: nothing more is sent
        await asyncio.sleep(0.2)
        assert len(hook.requests) == 1
        clock.advance(seconds=1.5)
        await hook.wait_for(2, requests=True)
        message = await message_where(api, event_id, requeued(2))
        assert when(message["send_after"]) == clock.now + timedelta(seconds=300)

        clock.advance(seconds=300)
        body = await settled(api, event_id, total=1)
        message = body["messages"]["items"][0]
        assert message["status"] == "delivered"
        assert [a["outcome"] for a in message["attempt_log"]] == [
            "temporary",
            "temporary",
            "delivered",
        ]
        # Every attempt carried the message's one id; the receiver kept one delivery.
        assert {r.id for r in hook.requests} == {message["uid"]}
        assert len(hook.deliveries) == 1 and hook.deliveries[0].valid


async def test_retry_after_is_honoured(make_api: MakeApi, clock: PinnedClock) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        await hooked_resident(api, hook.url)
        event_id = await published_event(api)
        hook.script(429, retry_after="120")
        await api.post(f"{EVENTS}/{event_id}/send")
        message = await message_where(api, event_id, requeued(1))
        assert when(message["send_after"]) == clock.now + timedelta(seconds=120)


async def test_telegram_retry_after_is_honoured(make_api: MakeApi, clock: PinnedClock) -> None:
    async with FakeTelegram() as bot:
        api = await make_api(
            **telegram_on(
                bot,
                {
                    "delivery.jitter": 0.0,
                },
            )
        )
        await resident(api, "张伟", "1-1-101", ("telegram", "424242"))
        event_id = await published_event(api)
        bot.fail_next(429, retry_after=33)
        await api.post(f"{EVENTS}/{event_id}/send")
        message = await message_where(api, event_id, requeued(1))
        assert when(message["send_after"]) == clock.now + timedelta(seconds=33)
        clock.advance(seconds=34)
        await settled(api, event_id, total=1)
        [call] = bot.sent(424242)
        assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "参加"
        assert all(
            len(b["callback_data"].encode()) <= 64
            for row in call.params["reply_markup"]["inline_keyboard"]
            for b in row
        )


async def test_a_gone_endpoint_is_disabled_and_the_next_channel_takes_over(
    make_api: MakeApi,
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        rid = await hooked_resident(api, hook.url, ("sms", "13800138000"))
        event_id = await published_event(api)
        hook.script(410)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=2)
        assert_fell_back(body, "webhook", "failed", "sms")  # sms through the file channel

        # The endpoint is now disabled: the next event goes straight to SMS.
        second = await published_event(api, title="板凳会", kind="meeting")
        _, report = await api.post(f"{EVENTS}/{second}/send")
        assert report["by_channel"] == {"sms": 1}
        assert len(hook.requests) == 1
        _, got = await api.get(f"/api/v1/residents/{rid}")
        assert got["contacts"][0]["signing_secret"] is None  # never shown again
        # The organiser can see why the endpoint is skipped now.
        assert got["contacts"][0]["disabled_at"] is not None
        assert "410" in got["contacts"][0]["disabled_reason"]
        assert got["contacts"][1]["disabled_at"] is None

        # The receiver is back: the organiser enables the endpoint again, saying why, and
        # its history keeps why it was disabled as well.
        hooked = f"/api/v1/residents/{rid}/contacts/{got['contacts'][0]['id']}"
        sms = f"/api/v1/residents/{rid}/contacts/{got['contacts'][1]['id']}"
        status, error = await api.post(f"{hooked}/enable", json={"reason": "  "})
        assert status == 400 and "reason" in error["error"]["fields"]
        status, error = await api.post(f"{sms}/enable", json={"reason": "works"})
        assert status == 409 and error["error"]["code"] == "contact_not_disabled"
        status, enabled = await api.post(f"{hooked}/enable", json={"reason": "receiver fixed"})
        assert status == 200, enabled
        assert enabled["disabled_at"] is None and enabled["disabled_reason"] is None
        [disabled, again] = enabled["history"]
        assert disabled["change"] == "disabled" and "410" in disabled["reason"]
        assert again == {"at": again["at"], "change": "enabled", "reason": "receiver fixed"}
        third = await published_event(api, title="议事会", kind="meeting")
        _, report = await api.post(f"{EVENTS}/{third}/send")
        assert report["by_channel"] == {"webhook": 1}
        await settled(api, third, total=1)
        assert len(hook.requests) == 2


async def test_spent_retries_fall_back_once_per_channel(make_api: MakeApi) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on(**{"delivery.retry_schedule_s": [0.0]}))
        await hooked_resident(api, hook.url, ("email", "zhang@example.org"))
        event_id = await published_event(api)
        hook.script(503, times=10)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=2)
        by_channel = {m["channel"]: m for m in body["messages"]["items"]}
        assert by_channel["webhook"]["status"] == "failed"
        assert by_channel["webhook"]["attempts"] == 2
        assert by_channel["email"]["status"] == "delivered"
        assert len(hook.requests) == 2


async def test_webhook_contacts_get_a_secret_shown_once(api: Api) -> None:
    body = {
        "name": "李娜",
        "unit": "1-1-102",
        "contacts": [{"channel": "webhook", "address": "https://bot.example.org/linli"}],
    }
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201
    secret = created["contacts"][0]["signing_secret"]
    assert secret.startswith("whsec_")
    _, got = await api.get(f"/api/v1/residents/{created['id']}")
    assert got["contacts"][0]["signing_secret"] is None
    body["name"] = "王芳"
    body["contacts"][0]["signing_secret"] = "not-a-secret"
    status, error = await api.post("/api/v1/residents", json=body)
    assert status == 400 and "contacts.0.signing_secret" in error["error"]["fields"]


async def test_telegram_sends_at_most_one_message_a_second_per_chat(make_api: MakeApi) -> None:
    async with FakeTelegram() as bot:
        api = await make_api(
            **telegram_on(
                bot,
                {
                    "channels.telegram.per_chat_per_s": 4.0,
                },
            )
        )
        await resident(api, "张伟", "1-1-101", ("telegram", "777"))
        await resident(api, "李娜", "1-1-102", ("telegram", "888"))
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        for note in ("一", "二", "三"):
            await api.post(
                f"{EVENTS}/{event_id}/notify", json={"kind": "update", "note": note, "urgent": True}
            )
        await settled(api, event_id, total=8)
        for chat in (777, 888):
            times = [call.at for call in bot.sent(chat)]
            assert len(times) == 4
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert min(gaps) >= 0.2, gaps  # 4 a second: a quarter second apart, give or take


async def test_a_rate_limited_chat_does_not_hold_up_other_chats(make_api: MakeApi) -> None:
    # Telegram allows one message a second per chat: a chat with a backlog waits its turn,
    # and another chat's message goes out meanwhile instead of queueing behind it.
    async with FakeTelegram() as bot:
        api = await make_api(
            **telegram_on(
                bot,
                {
                    "channels.telegram.per_chat_per_s": 1.0,
                    "channels.telegram.concurrency": 2,
                },
            )
        )
        await backlog(api, "777", 21)
        await resident(api, "李娜", "1-1-102", ("telegram", "888"))
        other = await published_event(api, title="旧物交换")
        before = len(bot.sent(777))
        await api.post(f"{EVENTS}/{other}/send")

        async def to_other() -> list[Any]:
            return bot.sent(888)

        [call] = await eventually(to_other, bool, "sent to chat 888")
        busy_meanwhile = [c for c in bot.sent(777) if c.at <= call.at][before:]
        # Behind the backlog it would have waited for all but `concurrency` of the chat's
        # 20-odd messages, one a second; now at most one or two go out first.
        assert len(busy_meanwhile) <= 3, len(busy_meanwhile)
        assert len(bot.sent(777)) < 21


async def test_a_chats_backlog_past_a_lease_goes_back_to_the_queue_unsent(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    # Two a second for 3 s (the usable part of a 4 s lease) is all a chat's line holds: the
    # rest go back to the queue, due once the line has gone, rather than sit out their
    # lease in memory; each message is sent once, and a put-back is no attempt.
    async with FakeTelegram() as bot:
        api = await make_api(
            **telegram_on(bot, {"channels.telegram.per_chat_per_s": 2.0, "delivery.lease_s": 4.0})
        )
        event_id = await backlog(api, "777", 12)

        async def sent_as_time_goes_by() -> int:
            clock.advance(seconds=0.1)  # half as fast as the rate's own clock: leases hold
            return len(bot.sent(777))

        await eventually(sent_as_time_goes_by, lambda n: n >= 12, "all twelve sent", every=0.2)
        body = await settled(api, event_id, total=12)
        texts = [call.params["text"] for call in bot.sent(777)]
        assert len(texts) == len(set(texts)) == 12
        assert {m["attempts"] for m in body["messages"]["items"]} == {1}


async def test_sms_keeps_to_the_channel_rate(make_api: MakeApi) -> None:
    async with FakeSmsGateway() as gateway:
        api = await make_api(
            **{
                "channels.sms.enabled": True,
                "channels.sms.url": gateway.url,
                "channels.sms.username": gateway.username,
                "channels.sms.password": gateway.password,
                "channels.sms.rate_per_s": 10.0,
                "channels.sms.concurrency": 4,
            }
        )
        for n in range(10):
            await resident(api, f"居民{n}", f"1-1-{101 + n}", ("sms", f"1380013{8000 + n}"))
        event_id = await published_event(api)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await api.post(f"{EVENTS}/{event_id}/send")
        await settled(api, event_id, total=10)
        assert len(gateway.messages) == 10
        # Ten messages at ten a second, the first one free: at least 0.9 s.
        assert loop.time() - start >= 0.85


async def test_a_claimed_message_waiting_past_its_lease_is_sent_once(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    # A slow receiver, and leases that lapse while claimed messages wait their turn in
    # memory (an audit saw 96 of 300 emails sent twice so): a message too near the end
    # of its lease is left for the reclaim, and each is still delivered, once.
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(
            **hooks_on(**{"delivery.lease_s": 2.0, "channels.webhook.concurrency": 1})
        )
        for n in range(30):
            contact = {"channel": "webhook", "address": hook.url, "signing_secret": SECRET}
            body = {"name": f"居民{n}", "unit": f"1-1-{100 + n}", "contacts": [contact]}
            status, created = await api.post("/api/v1/residents", json=body)
            assert status == 201, created
        event_id = await published_event(api)
        hook.delay(0.1, times=100)
        await api.post(f"{EVENTS}/{event_id}/send")
        await hook.wait_for(1, requests=True)  # one in flight, the rest waiting in memory
        clock.advance(seconds=3)  # every lease lapses

        body = await settled(api, event_id, total=30)
        assert body["by_status"]["delivered"] == 30
        assert len(hook.deliveries) == 30
        # Only the one in flight when its lease lapsed may arrive twice (at-least-once).
        assert hook.duplicates <= 1, hook.duplicates


async def test_no_retry_before_the_event_starts_falls_back_to_the_next_channel(
    make_api: MakeApi,
) -> None:
    # The receiver asks for two hours; the event starts in one. This channel has no
    # try left that counts, so the resident's next one gets its chance (once, the
    # message expired and nothing else was tried).
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        await hooked_resident(api, hook.url, ("sms", "13800138000"))
        event_id = await published_event(
            api, starts_at="2026-11-28T11:00", ends_at="2026-11-28T12:00"
        )
        hook.script(503, retry_after="7200")
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=2)
        assert_fell_back(body, "webhook", "expired", "sms")  # sms through the file channel

"""The Telegram channel against a Bot API stand-in on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from channels.base import OutboundMessage, Outcome, PermanentFailure, TemporaryFailure
from channels.telegram import TelegramChannel, TelegramChannelSettings, deep_link, split_provider_id
from service.core.errors import SettingsError
from service.core.extras import Extras
from tests.fakes.telegram import BLOCKED, CHAT_NOT_FOUND, FakeTelegram

BUTTONS = [
    [
        {"text": "参加", "callback_data": "rsvp:7:yes"},
        {"text": "不参加", "callback_data": "rsvp:7:no"},
    ],
    [{"text": "详情", "url": "https://linli.example/e/7"}],
]


def _message(chat: str = "42", *, buttons: object = None) -> OutboundMessage:
    extra = Extras.from_json({"buttons": buttons} if buttons is not None else {})
    return OutboundMessage(
        id="msg_1",
        channel="telegram",
        address=chat,
        kind="event_published",
        language="zh",
        subject="",
        text="中秋游园会 9月17日 19:00 小区花园",
        extra=extra,
    )


@pytest.fixture
async def bot() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def channel(bot: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    ch = TelegramChannel(
        TelegramChannelSettings(enabled=True, bot_token=bot.token, api_url=bot.url, timeout_s=5)
    )
    await ch.start()
    yield ch
    await ch.close()


async def test_telegram_send_delivers_text_and_keyboard(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    receipt = await channel.send(_message(buttons=BUTTONS))
    assert receipt.outcome is Outcome.SENT
    [call] = bot.sent(42)
    assert call.params["chat_id"] == 42
    assert call.params["text"] == "中秋游园会 9月17日 19:00 小区花园"
    assert call.params["reply_markup"] == {"inline_keyboard": BUTTONS}
    assert receipt.provider_id == "42:1001"
    assert split_provider_id(receipt.provider_id) == (42, 1001)


async def test_telegram_send_without_buttons_has_no_keyboard(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    await channel.send(_message("-1001234567890"))
    [call] = bot.sent(-1001234567890)
    assert "reply_markup" not in call.params


async def test_telegram_rate_key_is_the_chat(channel: TelegramChannel) -> None:
    assert channel.rate_key(_message(" 42 ")) == "42"
    assert channel.rate_key(_message("@linli_news")) == "@linli_news"


async def test_telegram_429_is_temporary_with_retry_after(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    bot.fail_next(429, retry_after=3)
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(_message())
    assert failure.value.retry_after == 3
    # The next attempt goes through.
    assert (await channel.send(_message())).provider_id == "42:1001"


async def test_telegram_5xx_is_temporary(bot: FakeTelegram, channel: TelegramChannel) -> None:
    bot.fail_next(502)
    with pytest.raises(TemporaryFailure):
        await channel.send(_message())


async def test_telegram_blocked_bot_is_address_gone(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    bot.block(42)
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(_message())
    assert failure.value.address_gone
    assert BLOCKED in failure.value.reason


async def test_telegram_chat_not_found_is_permanent(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    bot.missing(7)
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(_message("7"))
    assert not failure.value.address_gone
    assert CHAT_NOT_FOUND in failure.value.reason


async def test_telegram_wrong_token_is_temporary_and_scrubbed(bot: FakeTelegram) -> None:
    token = "987654321:wrongWRONGwrongWRONGwrongWRONGwrong"
    channel = TelegramChannel(
        TelegramChannelSettings(enabled=True, bot_token=token, api_url=bot.url)
    )
    try:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(_message())
    finally:
        await channel.close()
    assert "401" in failure.value.reason
    assert token not in failure.value.reason
    assert bot.calls == []


async def test_telegram_token_never_in_connection_failures(bot: FakeTelegram) -> None:
    async with FakeTelegram() as gone:
        url = gone.url
    for api_url in (url, f"{url}/{bot.token}"):
        channel = TelegramChannel(
            TelegramChannelSettings(enabled=True, bot_token=bot.token, api_url=api_url)
        )
        try:
            with pytest.raises(TemporaryFailure) as failure:
                await channel.send(_message())
        finally:
            await channel.close()
        assert bot.token not in failure.value.reason
        assert bot.token.split(":")[1] not in failure.value.reason
        # Raised `from None`: no chained aiohttp error carries the URL into a traceback.
        assert failure.value.__cause__ is None and failure.value.__suppress_context__


async def test_telegram_callback_answer_and_edit(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    receipt = await channel.send(_message(buttons=BUTTONS))
    assert receipt.provider_id is not None
    chat, message_id = split_provider_id(receipt.provider_id)
    await channel.answer_callback_query("cb-1", "已登记：参加")
    await channel.edit_message_text(chat, message_id, "中秋游园会（您已报名）", buttons=BUTTONS[1:])
    # Telegram refuses an edit that changes nothing; for the caller that is success.
    bot.fail_next(400, "Bad Request: message is not modified: specified new message content")
    await channel.edit_message_text(chat, message_id, "中秋游园会（您已报名）")
    assert bot.answered_callbacks == ["cb-1"]
    edit = bot.calls_by_chat[42][-1]
    assert edit.method == "editMessageText"
    assert edit.params["message_id"] == message_id
    assert edit.params["reply_markup"] == {"inline_keyboard": BUTTONS[1:]}
    bot.block(42)
    with pytest.raises(PermanentFailure) as failure:
        await channel.edit_message_text(chat, message_id, "x")
    assert failure.value.address_gone


def test_telegram_deep_link_checks_its_payload() -> None:
    assert deep_link("linli_bot", "inv_AbC-123") == "https://t.me/linli_bot?start=inv_AbC-123"
    assert deep_link("@linli_bot", "x" * 64).endswith("=" + "x" * 64)
    for payload in ("", "x" * 65, "a b", "a+b", "邻里", "a=b"):
        with pytest.raises(ValueError):
            deep_link("linli_bot", payload)
    with pytest.raises(ValueError):
        deep_link("bad/name", "ok")


def test_telegram_settings_need_a_token() -> None:
    with pytest.raises(SettingsError, match=r"channels\.telegram\.bot_token"):
        TelegramChannel(TelegramChannelSettings(enabled=True))
    with pytest.raises(SettingsError, match=r"channels\.telegram\.bot_token"):
        TelegramChannel(TelegramChannelSettings(enabled=True, bot_token="not/a token"))
    TelegramChannel(TelegramChannelSettings(enabled=False))


def test_telegram_webhook_secret_must_suit_set_webhook() -> None:
    for secret in ("has space", "x" * 257, "中文"):
        with pytest.raises(SettingsError, match=r"channels\.telegram\.webhook_secret"):
            TelegramChannel(TelegramChannelSettings(webhook_secret=secret))
    TelegramChannel(TelegramChannelSettings(webhook_secret="linli-Webhook_2026"))


async def test_telegram_send_text_is_a_plain_message(
    bot: FakeTelegram, channel: TelegramChannel
) -> None:
    await channel.send_text("-1001234567890", "已关联")
    await channel.send_text(42, "Linked")
    assert bot.sent(-1001234567890)[0].params["text"] == "已关联"
    [call] = bot.sent(42)
    assert "reply_markup" not in call.params


async def test_telegram_stand_in_takes_form_bodies_as_the_bot_api_does(bot: FakeTelegram) -> None:
    keyboard = {"inline_keyboard": BUTTONS}
    async with aiohttp.ClientSession() as session:
        form = {"chat_id": "42", "text": "中秋游园会", "reply_markup": json.dumps(keyboard)}
        async with session.post(f"{bot.url}/bot{bot.token}/sendMessage", data=form) as resp:
            sent = await resp.json()
        edit = aiohttp.FormData({"chat_id": "42", "message_id": "1001", "text": "中秋游园会 ✓"})
        edit.add_field("reply_markup", json.dumps(keyboard), content_type="application/json")
        async with session.post(f"{bot.url}/bot{bot.token}/editMessageText", data=edit) as resp:
            assert resp.status == 200
        same = {"chat_id": "42", "message_id": "1001", "text": "中秋游园会 ✓"}
        async with session.post(f"{bot.url}/bot{bot.token}/editMessageText", data=same) as resp:
            # Without reply_markup the keyboard goes, which is a change.
            assert resp.status == 200
        async with session.post(f"{bot.url}/bot{bot.token}/editMessageText", data=same) as resp:
            refused = await resp.json()
    assert sent["ok"] and sent["result"]["message_id"] == 1001
    assert bot.sent(42)[0].params == {**form, "chat_id": 42, "reply_markup": keyboard}
    assert [e.params.get("reply_markup") for e in bot.edits(42)] == [keyboard, None]
    assert refused["ok"] is False and "not modified" in refused["description"]
    assert bot.messages[(42, 1001)] == {"text": "中秋游园会 ✓"}

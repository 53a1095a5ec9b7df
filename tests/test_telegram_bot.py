"""The Telegram bot's webhook: linking a chat with /start <token>, and the answer buttons
under invitations, against the Bot API stand-in and the real app and worker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.domain.telegram_bot import STATUS_MARK
from service.domain.telegram_links import deep_link
from service.keys import delivery_key, store_key
from service.web.telegram import SECRET_HEADER
from tests.community import (
    EVENTS,
    TELEGRAM_HOOK,
    TELEGRAM_SECRET,
    code_of,
    invited,
    resident,
    telegram_deliver,
    telegram_settings,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.passbook import credit, household_of

HOOK = TELEGRAM_HOOK
SECRET = TELEGRAM_SECRET
deliver = telegram_deliver
CHAT = 424242
# Where `invited` sends the invitation: Telegram, in English.
ON_TELEGRAM = {"contact": ("telegram", str(CHAT)), "language": "en"}


@pytest.fixture
async def bot() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def tg(make_api: MakeApi, bot: FakeTelegram) -> Api:
    """The organiser's API on an app whose Telegram channel is the stand-in."""
    return await make_api(**telegram_settings(bot))


async def link_token(api: Api, resident_id: int, clock: PinnedClock) -> str:
    """The /start payload of the resident's deep link, as the RSVP page shows it."""
    app = api.client.app
    key = app[delivery_key].ready().links.key
    link = await deep_link(key, app[store_key].reader, "linli_bot", resident_id, clock.now)
    return link.split("?start=", 1)[1]


async def contacts(api: Api, resident_id: int) -> list[dict[str, Any]]:
    status, body = await api.get(f"/api/v1/residents/{resident_id}")
    assert status == 200, body
    return list(body["contacts"])


async def invitation(api: Api, event_id: int) -> dict[str, Any]:
    status, body = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert status == 200, body
    [item] = body["items"]
    return dict(item)


async def kinds_queued(api: Api) -> list[str]:
    """The kinds of the messages in the outbox, oldest first."""
    rows = await api.client.app[store_key].reader.fetchall("SELECT kind FROM messages ORDER BY id")
    return [str(row["kind"]) for row in rows]


async def test_telegram_start_with_a_token_links_the_chat_and_replies(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    rid = await resident(tg, "张伟", "1-1-101", ("sms", "13800138000"))
    token = await link_token(tg, rid, clock)
    update = bot.text_update(5551234, f"/start {token}")
    for _ in range(2):  # Telegram delivering it again changes nothing
        status, _ = await deliver(tg, update)
        assert status == 200
    found = await contacts(tg, rid)
    assert [(c["channel"], c["address"]) for c in found] == [
        ("sms", "+8613800138000"),
        ("telegram", "5551234"),
    ]
    store = tg.client.app[store_key]
    row = await store.reader.fetchone("SELECT COUNT(*) FROM messages WHERE kind = 'reply'")
    assert row is not None and row[0] == 1
    await bot.wait_for(1)
    [reply] = bot.sent(5551234)
    assert reply.params["text"].startswith("已关联：张伟")


async def test_telegram_start_is_any_case_and_split_on_any_whitespace(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    # A phone keyboard capitalises, and a pasted link can bring a tab: still /start.
    for chat, text in ((6661, "/START {}"), (6662, "/start\t{}"), (6663, "/Start@Linli_Bot\n{}")):
        rid = await resident(tg, f"居民{chat}", f"1-1-{chat}")
        status, _ = await deliver(
            tg, bot.text_update(chat, text.format(await link_token(tg, rid, clock)))
        )
        assert status == 200
        assert [c["address"] for c in await contacts(tg, rid)] == [str(chat)], text


async def test_telegram_a_spent_link_token_is_refused(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    rid = await resident(tg, "张伟", "1-1-101")
    token = await link_token(tg, rid, clock)
    await deliver(tg, bot.text_update(5551234, f"/start {token}"))
    status, _ = await deliver(tg, bot.text_update(7777, f"/start {token}"))
    assert status == 200
    assert [c["address"] for c in await contacts(tg, rid)] == ["5551234"]
    [refusal] = bot.sent(7777)
    assert "已用过" in refusal.params["text"]
    # A forged token and a bare /start get the same kind of short answer.
    await deliver(tg, bot.text_update(7777, "/start 1_2_0_forged", language_code="en"))
    await deliver(tg, bot.text_update(7777, "hello", language_code="en"))
    forged, hello = bot.sent(7777)[1:]
    assert "not valid" in forged.params["text"]
    assert "RSVP page" in hello.params["text"]


async def test_telegram_linking_again_reenables_the_chat(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    rid = await resident(tg, "张伟", "1-1-101", ("telegram", "5551234"), ("sms", "13800138000"))
    [chat, _] = await contacts(tg, rid)
    status, _ = await tg.patch(
        f"/api/v1/residents/{rid}/contacts/{chat['id']}", json={"opted_out": True}
    )
    assert status == 200
    await deliver(tg, bot.text_update(5551234, f"/start {await link_token(tg, rid, clock)}"))
    found = await contacts(tg, rid)
    assert [(c["address"], c["opted_out"]) for c in found] == [
        ("5551234", False),
        ("+8613800138000", False),
    ]


async def test_telegram_links_only_private_chats(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    rid = await resident(tg, "张伟", "1-1-101")
    token = await link_token(tg, rid, clock)
    group = bot.text_update(-100777, f"/start@linli_bot {token}", chat_type="supergroup")
    status, _ = await deliver(tg, group)
    assert status == 200
    assert await contacts(tg, rid) == []
    [refusal] = bot.sent(-100777)
    assert "私聊" in refusal.params["text"]
    # The group's own talk gets no answer; the token still works in a private chat.
    await deliver(tg, bot.text_update(-100777, "明天几点？", chat_type="supergroup"))
    assert len(bot.sent(-100777)) == 1
    await deliver(tg, bot.text_update(5551234, f"/start {token}"))
    assert [c["address"] for c in await contacts(tg, rid)] == ["5551234"]


async def test_telegram_going_answers_and_shows_it_on_the_message(
    tg: Api, bot: FakeTelegram
) -> None:
    event_id, [rid], _ = await invited(tg, **ON_TELEGRAM)
    status, _ = await deliver(tg, bot.tap(CHAT, "Going"))
    assert status == 200
    item = await invitation(tg, event_id)
    assert (item["answer"], item["party_size"]) == ("yes", 1)
    assert item["history"][-1]["via"] == "telegram"
    # The edit is the confirmation: it carries the door code, and no message follows.
    code = await code_of(tg, event_id, rid)
    [answered] = bot.callback_answers()
    assert answered["text"] == f"Noted: going, 1 person · check-in code {code}"
    [edit] = bot.edits(CHAT)
    invitation_text = bot.sent(CHAT)[0].params["text"]
    assert edit.params["text"] == (
        f"{invitation_text}\n\n{STATUS_MARK}Your answer: going, 1 person · check-in code {code}"
    )
    assert await kinds_queued(tg) == ["invitation"]
    # The buttons stay, so the answer can still change.
    assert edit.params["reply_markup"] == bot.sent(CHAT)[0].params["reply_markup"]

    await deliver(tg, bot.tap(CHAT, "Not going"))
    assert (await invitation(tg, event_id))["answer"] == "no"
    second = bot.edits(CHAT)[-1].params["text"]
    assert second == f"{invitation_text}\n\n{STATUS_MARK}Your answer: not going"


async def test_telegram_plus_one_adds_a_person_up_to_the_limit(tg: Api, bot: FakeTelegram) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM, max_party_size=2)
    await deliver(tg, bot.tap(CHAT, "+1"))
    item = await invitation(tg, event_id)
    assert (item["answer"], item["party_size"]) == ("yes", 2)
    assert bot.callback_answers()[-1]["text"].startswith("Noted: going, 2 people · check-in")
    await deliver(tg, bot.tap(CHAT, "+1"))
    assert (await invitation(tg, event_id))["party_size"] == 2
    assert bot.callback_answers()[-1]["text"] == "At most 2 people per answer, you included."
    assert len(bot.edits(CHAT)) == 1


async def test_telegram_plus_ones_pressed_at_once_each_count(tg: Api, bot: FakeTelegram) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM, max_party_size=5)
    presses = [bot.tap(CHAT, "+1") for _ in range(3)]
    answers = await asyncio.gather(*(deliver(tg, press) for press in presses))
    assert [status for status, _ in answers] == [200] * 3
    item = await invitation(tg, event_id)
    assert (item["answer"], item["party_size"]) == ("yes", 4)
    assert len(item["history"]) == 3


async def test_telegram_a_repeated_update_is_applied_once(tg: Api, bot: FakeTelegram) -> None:
    event_id, [rid], _ = await invited(tg, **ON_TELEGRAM)
    update = bot.tap(CHAT, "+1")
    for _ in range(2):
        status, _ = await deliver(tg, update)
        assert status == 200
    item = await invitation(tg, event_id)
    assert (item["answer"], item["party_size"]) == ("yes", 2)
    assert len(item["history"]) == 1
    # Both deliveries stop the spinner and show the same answer.
    said = f"Noted: going, 2 people · check-in code {await code_of(tg, event_id, rid)}"
    assert [a["text"] for a in bot.callback_answers()] == [said] * 2


async def test_telegram_tampered_button_data_is_refused(tg: Api, bot: FakeTelegram) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM)
    genuine = bot.tap(CHAT, "Not going")["callback_query"]["data"]
    head, mac = genuine.rsplit(".", 1)
    for forged in (f"{head[:-1]}y.{mac}", f"{head}.AAAAAAAAAAAAAAAA", "x"):
        status, _ = await deliver(tg, bot.callback_update(CHAT, forged))
        assert status == 200
    assert (await invitation(tg, event_id))["answer"] == "pending"
    assert [a["text"] for a in bot.callback_answers()] == ["This button is not valid."] * 3
    assert bot.edits(CHAT) == []


async def test_telegram_a_button_pressed_in_another_chat_is_refused(
    tg: Api, bot: FakeTelegram
) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM)
    # Li Na is linked too, but the button is Zhang Wei's.
    await resident(tg, "Li Na", "1-1-102", ("telegram", "9999"), language="en")
    data = bot.tap(CHAT, "Going")["callback_query"]["data"]
    status, _ = await deliver(tg, bot.callback_update(9999, data, message_id=1))
    assert status == 200
    assert (await invitation(tg, event_id))["answer"] == "pending"
    assert bot.callback_answers()[-1]["text"] == "This button is not yours."
    assert bot.edits(CHAT) == [] and bot.edits(9999) == []


async def test_telegram_closed_answers_answer_the_button_and_drop_the_keyboard(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM, rsvp_deadline="2026-11-28T12:00")
    clock.advance(hours=3)  # 13:00 in Shanghai
    status, _ = await deliver(tg, bot.tap(CHAT, "Going"))
    assert status == 200
    assert (await invitation(tg, event_id))["answer"] == "pending"
    assert bot.callback_answers()[-1]["text"] == "Answers are closed."
    [edit] = bot.edits(CHAT)
    assert edit.params["text"].endswith(f"{STATUS_MARK}Answers are closed")
    assert "reply_markup" not in edit.params


async def test_telegram_wrong_or_missing_secret_is_401_and_changes_nothing(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    event_id, [rid], _ = await invited(tg, **ON_TELEGRAM)
    token = await link_token(tg, rid, clock)
    for secret in ("wrong-secret", None, SECRET + "x", ""):
        status, body = await deliver(tg, bot.tap(CHAT, "Going"), secret=secret)
        assert status == 401, body
        assert body["error"]["code"] == "bad_secret_token"
        status, _ = await deliver(tg, bot.text_update(5551234, f"/start {token}"), secret=secret)
        assert status == 401
    assert (await invitation(tg, event_id))["answer"] == "pending"
    assert [c["address"] for c in await contacts(tg, rid)] == [str(CHAT)]
    assert bot.callback_answers() == [] and bot.edits(CHAT) == []
    # The token was not spent by the refused update.
    await deliver(tg, bot.text_update(5551234, f"/start {token}"))
    assert [c["address"] for c in await contacts(tg, rid)] == [str(CHAT), "5551234"]


async def test_telegram_webhook_is_404_without_the_channel(api: Api, bot: FakeTelegram) -> None:
    status, body = await deliver(api, bot.text_update(1, "hello"))
    assert status == 404 and body["error"]["code"] == "not_configured"


async def test_telegram_webhook_refuses_everything_without_a_secret(
    make_api: MakeApi, bot: FakeTelegram
) -> None:
    unset = await make_api(**telegram_settings(bot, **{"channels.telegram.webhook_secret": ""}))
    for secret in ("", None, SECRET):
        status, body = await deliver(unset, bot.text_update(1, "hello"), secret=secret)
        assert status == 401 and body["error"]["code"] == "webhook_secret_unset"
    assert bot.calls == []


async def test_telegram_malformed_updates_are_400_and_other_kinds_200(
    tg: Api, bot: FakeTelegram
) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    status, body = await tg.post(HOOK, data=b"{not json", headers=headers)
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = await deliver(tg, {"message": {"text": "hi"}})
    assert status == 400 and body["error"]["code"] == "invalid_update"
    status, _ = await deliver(tg, {"update_id": 5, "my_chat_member": {"chat": {"id": 1}}})
    assert status == 200
    assert bot.calls == []


async def test_telegram_updates_no_text_or_store_can_hold_change_nothing(
    tg: Api, bot: FakeTelegram, clock: PinnedClock
) -> None:
    rid = await resident(tg, "张伟", "1-1-101")
    token = await link_token(tg, rid, clock)
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    start = bot.text_update(5551234, "/start TOKEN")
    press = bot.callback_update(5551234, "2.2.y.MAC", message_id=1)
    for raw in (
        # A lone surrogate escape: valid JSON, but not text (once a 500 in the MAC check).
        json.dumps(start).replace("TOKEN", "x_y_z_\\ud800").encode(),
        json.dumps(press).replace("MAC", "\\udfff").encode(),
        b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"update_id": ' + b"9" * 5000 + b"}",
    ):
        status, body = await tg.post(HOOK, data=raw, headers=headers)
        assert status == 400 and body["error"]["code"] == "invalid_json", body
    # A chat id past Telegram's 52 bits did not come from Telegram: nothing is linked.
    for chat in (2**64, -(2**70)):
        status, _ = await deliver(tg, bot.text_update(chat, f"/start {token}"))
        assert status == 200
    assert await contacts(tg, rid) == []
    assert bot.calls == []
    # The token was not spent on them.
    await deliver(tg, bot.text_update(5551234, f"/start {token}"))
    assert [c["address"] for c in await contacts(tg, rid)] == ["5551234"]


async def test_telegram_a_failing_bot_api_does_not_fail_the_update(
    tg: Api, bot: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    event_id, _, _ = await invited(tg, **ON_TELEGRAM)
    bot.fail_next(502, times=2)
    with caplog.at_level(logging.WARNING, logger="linli.telegram"):
        status, _ = await deliver(tg, bot.tap(CHAT, "Maybe"))
    assert status == 200
    assert (await invitation(tg, event_id))["answer"] == "maybe"
    assert "answerCallbackQuery failed" in caplog.text
    assert TOKEN not in caplog.text


async def test_telegram_points_answers_with_the_household_passbook_balance(
    tg: Api, bot: FakeTelegram
) -> None:
    person = await resident(tg, "张伟", "3-2-1501", ("telegram", str(CHAT)))
    await credit(tg, await household_of(tg, person), 12, "k-1")
    status, _ = await deliver(tg, bot.text_update(CHAT, "/points"))
    assert status == 200
    await bot.wait_for(1)
    [said] = bot.sent(CHAT)
    assert said.params["text"] == "您家的积分存折：12 分。"

    stranger = 777001
    status, _ = await deliver(tg, bot.text_update(stranger, "/Points", language_code="en"))
    assert status == 200
    await bot.wait_for(2)
    [unlinked] = bot.sent(stranger)
    assert unlinked.params["text"].startswith("This chat is not linked yet")

"""Telegram /points answers a linked resident with their household's passbook balance."""

from __future__ import annotations

from tests.community import resident
from tests.conftest import Api
from tests.fakes.telegram import FakeTelegram
from tests.test_passbook_api import credit, household_of
from tests.test_telegram_bot import CHAT, bot, deliver, tg

__all__ = ["bot", "tg"]  # the fixtures, used here by name


async def test_passbook_telegram_points_answers_with_the_balance(
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

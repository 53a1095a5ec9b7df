"""POST /hooks/telegram: the Bot API's webhook. Bodies are not signed; the secret_token
given to setWebhook comes back in X-Telegram-Bot-Api-Secret-Token on every update, so
without channels.telegram.webhook_secret every update is refused.

Telegram retries an update until it gets a 2xx, so a well-formed update is answered 200
whatever became of it, and the Bot API calls made here are bounded in time and logged,
never raised, when they fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Final

from aiohttp import web

from ..core import jsontext
from ..core.errors import AuthenticationError, NotFoundError, ValidationError
from ..core.secret import same_text
from ..dispatch import ChannelFailure, TelegramBot
from ..domain import telegram_bot
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import read_body
from .routing import Api, RawBody

log = logging.getLogger("linli.telegram")

routes = Api()
TAG = "hooks"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
# The Bot API calls one update makes (answerCallbackQuery with editMessageText, or a help
# text) run together and get this long: Telegram waits on the webhook meanwhile.
CALL_BUDGET_S: Final = 3.0


def _bot(request: web.Request) -> TelegramBot:
    """The Telegram channel, or 404 when it is not enabled."""
    bot = request.app[delivery_key].telegram_bot()
    enabled = request.app[settings_key].channels.telegram.enabled
    if not enabled or bot is None:
        raise NotFoundError("the Telegram channel is not enabled", code="not_configured")
    return bot


def _check_secret(request: web.Request) -> None:
    secret = request.app[settings_key].channels.telegram.webhook_secret.strip()
    if not secret:
        raise AuthenticationError(
            "channels.telegram.webhook_secret is not set; every update is refused until it is",
            code="webhook_secret_unset",
        )
    given = request.headers.get(SECRET_HEADER, "")
    if not same_text(given, secret):
        raise AuthenticationError(f"{SECRET_HEADER} does not match", code="bad_secret_token")


async def _update(request: web.Request) -> Any:
    raw = await read_body(request)
    try:
        return jsontext.loads(raw)
    except jsontext.JsonTextError as exc:
        raise ValidationError(f"the body {exc}", code="invalid_json") from None


async def _say(*calls: tuple[str, Awaitable[None]]) -> None:
    """Run Bot API calls together within CALL_BUDGET_S; a failure is logged, not raised:
    the update is applied, and Telegram sending it again would not make the call work."""

    async def one(method: str, call: Awaitable[None]) -> None:
        try:
            await call
        except ChannelFailure as failure:  # its reason is free of the bot token
            log.warning("telegram webhook: %s failed: %s", method, failure.reason)

    try:
        async with asyncio.timeout(CALL_BUDGET_S):
            await asyncio.gather(*(one(method, call) for method, call in calls))
    except TimeoutError:
        methods = ", ".join(method for method, _ in calls)
        log.warning("telegram webhook: %s took over %g s; given up", methods, CALL_BUDGET_S)


@routes.route(
    "POST",
    "/hooks/telegram",
    summary="Telegram bot updates (X-Telegram-Bot-Api-Secret-Token checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/json", "A Telegram Update (core.telegram.org/bots/api#update)"),
    status=200,
    errors=(400, 401, 404),
    prefixed=False,
)
async def telegram(request: web.Request) -> web.Response:
    """/start <token> links the chat; an answer button answers for its resident and is
    acknowledged (answerCallbackQuery) and shown on the message (editMessageText)."""
    bot = _bot(request)
    _check_secret(request)
    settings = request.app[settings_key]
    update = telegram_bot.parse_update(await _update(request), settings.community.default_language)
    delivery = request.app[delivery_key]
    store, now = request.app[store_key], request.app[clock_key]()
    if isinstance(update, telegram_bot.ChatMessage):
        said = await telegram_bot.receive_message(
            store, update, key=delivery.ready().links.key, followups=delivery.followups(), now=now
        )
        if said is not None:
            await _say(("sendMessage", bot.send_text(update.chat_id, said)))
    elif isinstance(update, telegram_bot.ButtonPress):
        try:
            answer = await telegram_bot.press_button(
                store,
                update,
                key=delivery.ready().links.key,
                followups=delivery.followups(),
                now=now,
            )
        except Exception:
            # Telegram will send the update again; meanwhile the button must stop spinning.
            notice = telegram_bot.texts(update.language)["try_later"]
            await _say(("answerCallbackQuery", bot.answer_callback_query(update.query_id, notice)))
            raise
        calls = [("answerCallbackQuery", bot.answer_callback_query(update.query_id, answer.notice))]
        if answer.text is not None and update.message_id is not None:
            buttons = update.keyboard if answer.keep_buttons else None
            edit = bot.edit_message_text(
                update.chat_id, update.message_id, answer.text, buttons=buttons
            )
            calls.append(("editMessageText", edit))
        await _say(*calls)
    return web.json_response({"ok": True})

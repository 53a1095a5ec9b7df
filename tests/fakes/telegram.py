"""A stand-in for the Telegram Bot API on 127.0.0.1 (core.telegram.org/bots/api formats).

    async with FakeTelegram() as bot:
        settings = TelegramChannelSettings(enabled=True, bot_token=bot.token, api_url=bot.url)
        bot.fail_next(429, retry_after=3)        # the next call answers 429
        bot.block(42)                            # chat 42 blocked the bot: 403 from now on
        bot.missing(7)                           # chat 7 does not exist: 400 chat not found
        ...
        bot.sent(42)                             # sendMessage calls for chat 42
        bot.calls_by_chat[42][0].at              # loop.time() when it arrived

Implements POST /bot<token>/sendMessage, /answerCallbackQuery and /editMessageText with
JSON bodies; a wrong token answers 401 like the real API, an unknown method 404.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from aiohttp import web

from .server import FakeHttpServer

TOKEN: Final = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BLOCKED: Final = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND: Final = "Bad Request: chat not found"
_DESCRIPTIONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class BotCall:
    """One Bot API call: method, its JSON parameters, the chat, and loop.time() on arrival."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    at: float


@dataclass(frozen=True)
class _Failure:
    code: int
    description: str
    retry_after: int | None
    http_status: int


class FakeTelegram(FakeHttpServer):
    """A real aiohttp server that answers like the Bot API; an async context manager."""

    shutdown_timeout_s: ClassVar[float] = 0.5

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.calls: list[BotCall] = []
        self.calls_by_chat: dict[int | str, list[BotCall]] = collections.defaultdict(list)
        self.blocked: set[int | str] = set()
        self.unknown_chats: set[int | str] = set()
        self.answered_callbacks: list[str] = []
        self._failures: collections.deque[_Failure] = collections.deque()
        self._message_ids = itertools.count(1001)

    def fail_next(
        self,
        code: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        http_status: int | None = None,
    ) -> None:
        """Answer the next `times` calls with {"ok": false, "error_code": code, …}."""
        text = description or _DESCRIPTIONS.get(code, "Error")
        if code == 429 and retry_after is not None and description is None:
            text = f"Too Many Requests: retry after {retry_after}"
        for _ in range(times):
            self._failures.append(_Failure(code, text, retry_after, http_status or code))

    def block(self, chat: int | str) -> None:
        """The user of `chat` blocked the bot: every later call for it answers 403."""
        self.blocked.add(chat)

    def missing(self, chat: int | str) -> None:
        """`chat` does not exist: every later call for it answers 400 chat not found."""
        self.unknown_chats.add(chat)

    def sent(self, chat: int | str) -> list[BotCall]:
        """The successful sendMessage calls for `chat`."""
        return [c for c in self.calls_by_chat.get(chat, []) if c.method == "sendMessage"]

    async def wait_for(self, count: int, *, within_s: float = 5.0) -> None:
        """Wait until `count` calls arrived, or fail after `within_s`."""
        await self._until(
            lambda: len(self.calls) >= count,
            within_s,
            lambda: f"expected {count} calls, got {len(self.calls)}",
        )

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/{bot}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["bot"] != f"bot{self.token}":
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        if method not in ("sendMessage", "answerCallbackQuery", "editMessageText"):
            return _error(404, "Not Found")
        try:
            params = await request.json()
        except ValueError:
            return _error(400, "Bad Request: invalid JSON")
        if not isinstance(params, dict):
            return _error(400, "Bad Request: invalid JSON")
        chat = params.get("chat_id")
        if self._failures:
            failure = self._failures.popleft()
            return _error(
                failure.code, failure.description, failure.retry_after, failure.http_status
            )
        if chat is not None and chat in self.blocked:
            return _error(403, BLOCKED)
        if chat is not None and chat in self.unknown_chats:
            return _error(400, CHAT_NOT_FOUND)
        if method != "answerCallbackQuery" and not params.get("text"):
            return _error(400, "Bad Request: message text is empty")
        call = BotCall(method, params, chat, asyncio.get_running_loop().time())
        self.calls.append(call)
        if chat is not None:
            self.calls_by_chat[chat].append(call)
        self._changed.set()
        if method == "answerCallbackQuery":
            self.answered_callbacks.append(str(params.get("callback_query_id")))
            return web.json_response({"ok": True, "result": True})
        message_id = (
            params.get("message_id") if method == "editMessageText" else next(self._message_ids)
        )
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private" if isinstance(chat, int) else "channel"},
            "text": params.get("text"),
        }
        if "reply_markup" in params:
            result["reply_markup"] = params["reply_markup"]
        return web.json_response({"ok": True, "result": result})


def _error(
    code: int,
    description: str,
    retry_after: int | None = None,
    http_status: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=http_status or code)

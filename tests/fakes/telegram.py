"""A stand-in for the Telegram Bot API on 127.0.0.1 (core.telegram.org/bots/api formats).

    async with FakeTelegram() as bot:
        settings = TelegramChannelSettings(enabled=True, bot_token=bot.token, api_url=bot.url)
        bot.fail_next(429, retry_after=3)        # the next call answers 429
        bot.block(42)                            # chat 42 blocked the bot: 403 from now on
        bot.missing(7)                           # chat 7 does not exist: 400 chat not found
        ...
        bot.sent(42)                             # sendMessage calls for chat 42
        bot.calls_by_chat[42][0].at              # loop.time() when it arrived
        bot.edits(42), bot.callback_answers()    # editMessageText / answerCallbackQuery
        bot.tap(42, "参加")                      # the Update a tap on that button sends
        bot.text_update(42, "/start abc")        # the Update a text to the bot sends

Implements POST /bot<token>/sendMessage, /answerCallbackQuery and /editMessageText with
JSON, form (x-www-form-urlencoded) or multipart bodies, where as in the Bot API the
structured fields (reply_markup …) are JSON strings. It keeps each message's text and
keyboard: an edit of an unknown message or one changing nothing is a 400 as Telegram's is.
A wrong token answers 401 like the real API, an unknown method 404.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from aiohttp import web

from .server import FakeHttpServer

TOKEN: Final = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BLOCKED: Final = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND: Final = "Bad Request: chat not found"
NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND: Final = "Bad Request: message to edit not found"
# Parameters the Bot API takes as JSON-serialised strings in form bodies.
_JSON_FIELDS: Final = ("reply_markup", "link_preview_options", "entities")
_INT_FIELDS: Final = ("message_id", "cache_time")
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
        # (chat, message id) -> {"text", "reply_markup"?}: each message as it stands now.
        self.messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._failures: collections.deque[_Failure] = collections.deque()
        self._message_ids = itertools.count(1001)
        self._update_ids = itertools.count(700_000_001)
        self._query_ids = itertools.count(1)

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

    def edits(self, chat: int | str) -> list[BotCall]:
        """The successful editMessageText calls for `chat`."""
        return [c for c in self.calls_by_chat.get(chat, []) if c.method == "editMessageText"]

    def callback_answers(self) -> list[dict[str, Any]]:
        """The parameters of each answerCallbackQuery call, in order."""
        return [c.params for c in self.calls if c.method == "answerCallbackQuery"]

    def last_message_id(self, chat: int | str) -> int:
        """The id of the newest message the bot sent to `chat`."""
        return max(mid for (c, mid) in self.messages if c == chat)

    def text_update(
        self,
        chat: int,
        text: str,
        *,
        chat_type: str = "private",
        language_code: str = "zh-hans",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """The Update Telegram sends when the user of `chat` writes `text` to the bot."""
        sender = {"id": chat, "is_bot": False, "first_name": "Wei", "language_code": language_code}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": sender,
            "chat": {"id": chat, "type": chat_type, "first_name": "Wei"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(" ", 1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        update_id = next(self._update_ids) if update_id is None else update_id
        return {"update_id": update_id, "message": message}

    def tap(
        self, chat: int, label: str, *, message_id: int | None = None, from_id: int | None = None
    ) -> dict[str, Any]:
        """The callback_query Update for a tap on the button labelled `label` under the
        newest message to `chat` that has one (or under `message_id`)."""
        ids = (
            [message_id]
            if message_id is not None
            else sorted((mid for (c, mid) in self.messages if c == chat), reverse=True)
        )
        for mid in ids:
            markup = self.messages[(chat, mid)].get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button.get("text") == label and "callback_data" in button:
                        return self.callback_update(
                            chat, button["callback_data"], message_id=mid, from_id=from_id
                        )
        raise AssertionError(f"no button {label!r} in chat {chat}")

    def callback_update(
        self,
        chat: int,
        data: str,
        *,
        message_id: int | None = None,
        from_id: int | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        """The callback_query Update for a button carrying `data` under message
        `message_id` of `chat` (the newest there by default) pressed by `from_id`."""
        sender = {
            "id": chat if from_id is None else from_id,
            "is_bot": False,
            "first_name": "Wei",
            "language_code": language_code,
        }
        query: dict[str, Any] = {
            "id": f"{4_382_000_000_000 + next(self._query_ids)}",
            "from": sender,
            "chat_instance": f"-{abs(chat)}7",
            "data": data,
        }
        mid = message_id if message_id is not None else self.last_message_id(chat)
        chat_info = {"id": chat, "type": "private" if chat > 0 else "supergroup"}
        shown = self.messages.get((chat, mid))
        if shown is None:
            # A message the bot cannot see (not its own, or too old): an
            # InaccessibleMessage, date 0 and no text.
            query["message"] = {"chat": chat_info, "message_id": mid, "date": 0}
        else:
            query["message"] = {
                "message_id": mid,
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Bot"},
                "chat": chat_info,
                "date": int(time.time()),
                **shown,
            }
        return {"update_id": next(self._update_ids), "callback_query": query}

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
        params = await _params(request)
        if params is None:
            return _error(400, "Bad Request: invalid request parameters")
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
        shown = {"text": params.get("text")}
        if params.get("reply_markup"):
            shown["reply_markup"] = params["reply_markup"]
        if method == "editMessageText" and chat is not None:
            # Without reply_markup an edit takes the keyboard away, as in the Bot API.
            before = self.messages.get((chat, params.get("message_id")))
            if before is None:
                return _error(400, EDIT_NOT_FOUND)
            if before == shown:
                return _error(400, NOT_MODIFIED)
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
        if chat is not None and isinstance(message_id, int):
            self.messages[(chat, message_id)] = shown
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private" if isinstance(chat, int) else "channel"},
            "text": params.get("text"),
        }
        if "reply_markup" in params:
            result["reply_markup"] = params["reply_markup"]
        return web.json_response({"ok": True, "result": result})


async def _params(request: web.Request) -> dict[str, Any] | None:
    """The call's parameters from a JSON, form or multipart body, as the JSON body would
    carry them (numbers as numbers, reply_markup as an object); None when unreadable."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    form = await request.post()
    params: dict[str, Any] = {}
    try:
        for name, value in form.items():
            if isinstance(value, bytes | bytearray):
                value = value.decode()  # a multipart part typed other than text/*
            if not isinstance(value, str):
                return None  # a file upload: no method faked here takes one
            params[name] = value
        for name in _JSON_FIELDS:
            if name in params:
                params[name] = json.loads(params[name])
        for name in _INT_FIELDS:
            if name in params:
                params[name] = int(params[name])
    except ValueError:
        return None
    chat = params.get("chat_id")
    if isinstance(chat, str) and chat.lstrip("-").isdigit():
        params["chat_id"] = int(chat)
    if params.get("show_alert") in ("true", "True", "1"):
        params["show_alert"] = True
    return params


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

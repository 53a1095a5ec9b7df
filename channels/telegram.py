"""The Telegram channel: sendMessage through the Bot API, plus the calls the bot's webhook
makes (answerCallbackQuery, editMessageText, a plain reply) and deep links.

Outcomes (the Bot API answers {"ok": false, "error_code": …, "description": …}):

    ok                     Receipt(SENT, provider_id = "<chat id>:<message id>")
    2xx, body unreadable   Receipt(SENT) without an id: taken, and sending again would repeat it
    429                    TemporaryFailure, retry_after = parameters.retry_after (else the
                           Retry-After header), at most a day
    5xx, no answer, connection error, timeout
                           TemporaryFailure
    401, 404, 3xx          TemporaryFailure "bot token refused" / "check api_url": a settings
                           problem hits every message alike, so none is failed for it while
                           an admin fixes it (the worker's retry limit still ends it)
    403                    PermanentFailure(address_gone) - blocked, kicked, deactivated
    other 4xx (400 …)      PermanentFailure with the API's description

The bot token is part of every URL: reasons and logs are scrubbed of it, and failures are
raised `from None` so no traceback carries aiohttp's text with the URL in it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import quote

from service.core.config import at_least, between, setting, url_or_empty
from service.core.errors import SettingsError

from .base import (
    Context,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
    register,
)
from .http import HttpChannel, SessionFactory, one_line, retry_after

log = logging.getLogger("linli.channels.telegram")

# An inline keyboard: rows of {"text", "callback_data"} or {"text", "url"}.
Keyboard = Sequence[Sequence[Mapping[str, str]]]

USER_AGENT: Final = "Linli-Telegram/1"
# As @BotFather issues them: the bot's numeric id, a colon, then the secret part.
_TOKEN: Final = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_PAYLOAD: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Telegram usernames: 5–32 characters, a letter first.
_USERNAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
_CHAT_NUMBER: Final = re.compile(r"-?[0-9]+")
# What setWebhook accepts as secret_token.
_WEBHOOK_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
# editMessageText answers 400 with this when the text and keyboard are unchanged, which
# for "show the current answer" is success, not failure.
_NOT_MODIFIED: Final = "message is not modified"


@dataclass(frozen=True)
class TelegramChannelSettings:
    """[channels.telegram]: a Telegram bot."""

    enabled: bool = setting(False)
    bot_token: str = setting("", secret=True)
    bot_username: str = setting("")
    api_url: str = setting("https://api.telegram.org", url_or_empty)
    webhook_secret: str = setting("", secret=True)
    timeout_s: float = setting(15.0, at_least(1))
    concurrency: int = setting(8, between(1, 1000))
    rate_per_s: float = setting(30.0, at_least(0))
    per_chat_per_s: float = setting(1.0, at_least(0))


def deep_link(bot_username: str, payload: str) -> str:
    """https://t.me/<bot>?start=<payload>; ValueError unless the payload is 1–64 of
    A-Z a-z 0-9 _ - (what Telegram passes on) and the username is well formed."""
    username = bot_username.removeprefix("@")
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"not a Telegram bot username: {bot_username!r}")
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError("deep link payload must be 1-64 characters of A-Z a-z 0-9 _ -")
    return f"https://t.me/{username}?start={payload}"


def parse_chat_id(address: str) -> int | str:
    """The Bot API chat_id for an address: an integer, or the text ("@channel")."""
    address = address.strip()
    return int(address) if _CHAT_NUMBER.fullmatch(address) else address


def split_provider_id(provider_id: str) -> tuple[int | str, int]:
    """A Receipt.provider_id ("<chat id>:<message id>") back as (chat_id, message_id)."""
    chat, _, message = provider_id.rpartition(":")
    if not chat or not message.isdigit():
        raise ValueError(f"not a Telegram provider id: {provider_id!r}")
    return parse_chat_id(chat), int(message)


def _keyboard(buttons: Any) -> list[list[dict[str, str]]]:
    # Copied into plain lists and dicts so any Sequence/Mapping serialises as JSON.
    if isinstance(buttons, str | bytes) or not isinstance(buttons, Sequence):
        raise PermanentFailure("buttons must be rows of buttons")
    rows: list[list[dict[str, str]]] = []
    for row in buttons:
        if isinstance(row, str | bytes) or not isinstance(row, Sequence):
            raise PermanentFailure("buttons must be rows of buttons")
        if not all(isinstance(button, Mapping) and "text" in button for button in row):
            raise PermanentFailure("each button needs a text")
        rows.append([dict(button) for button in row])
    return rows


@register
class TelegramChannel(HttpChannel):
    """A Telegram bot sending to chats by id; the address is the chat id."""

    name: ClassVar[str] = "telegram"
    user_agent: ClassVar[str] = USER_AGENT
    settings_class = TelegramChannelSettings
    # Telegram allows about one message a second per chat: rate_key is the chat.
    per_key_setting = "per_chat_per_s"

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> TelegramChannel:
        """The bot; its token and webhook secret are checked here."""
        return cls(settings)

    def __init__(
        self,
        settings: TelegramChannelSettings,
        *,
        session_factory: SessionFactory | None = None,
    ) -> None:
        token = settings.bot_token.strip()
        if settings.enabled and not token:
            raise SettingsError("channels.telegram.bot_token: required when enabled")
        if token and not _TOKEN.fullmatch(token):
            raise SettingsError(
                "channels.telegram.bot_token: not a bot token (expected <digits>:<letters>)"
            )
        if settings.enabled and not settings.api_url.strip():
            raise SettingsError("channels.telegram.api_url: required when enabled")
        webhook_secret = settings.webhook_secret.strip()
        if webhook_secret and not _WEBHOOK_SECRET.fullmatch(webhook_secret):
            # setWebhook would refuse it, and every update would then be turned away.
            raise SettingsError(
                "channels.telegram.webhook_secret: 1-256 characters of A-Z a-z 0-9 _ -"
            )
        secrets = {token, settings.webhook_secret.strip()} - {""}
        super().__init__(
            settings.timeout_s,
            # The token also appears percent-encoded (":" as %3A) in some URL renderings.
            secrets=secrets | {quote(s, safe="") for s in secrets},
            session_factory=session_factory,
        )
        self.settings = settings
        self._token = token
        self._base = f"{settings.api_url.strip().rstrip('/')}/bot{token}"

    def rate_key(self, message: OutboundMessage) -> str:
        """The chat id: Telegram allows about one message per second per chat."""
        return str(parse_chat_id(message.address))

    async def send(self, message: OutboundMessage) -> Receipt:
        """sendMessage to the chat in message.address, with extra.buttons as an inline
        keyboard; raise TemporaryFailure / PermanentFailure."""
        target = parse_chat_id(message.address)
        params: dict[str, Any] = {
            "chat_id": target,
            "text": message.text,
            # Previews of our own RSVP links only add noise under every notification.
            "link_preview_options": {"is_disabled": True},
        }
        if message.extra.buttons:
            keyboard = [[button.to_json() for button in row] for row in message.extra.buttons]
            params["reply_markup"] = {"inline_keyboard": keyboard}
        result = await self.call("sendMessage", params)
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            return Receipt(outcome=Outcome.SENT, detail="no message_id in the answer")
        chat = result.get("chat")
        # The API's numeric id, also when the address was "@channel": edits need it.
        sent_to = chat.get("id", target) if isinstance(chat, dict) else target
        return Receipt(outcome=Outcome.SENT, provider_id=f"{sent_to}:{result['message_id']}")

    async def send_text(self, chat_id: int | str, text: str) -> None:
        """sendMessage with plain text: the bot's immediate reply in a conversation."""
        params: dict[str, Any] = {
            "chat_id": parse_chat_id(chat_id) if isinstance(chat_id, str) else chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        await self.call("sendMessage", params)

    async def answer_callback_query(
        self,
        callback_query_id: str,
        text: str | None = None,
        *,
        show_alert: bool = False,
        cache_time_s: int | None = None,
    ) -> None:
        """answerCallbackQuery: stop the button's spinner, optionally with a short notice."""
        params: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text is not None:
            params["text"] = text
        if show_alert:
            params["show_alert"] = True
        if cache_time_s is not None:
            params["cache_time"] = cache_time_s
        await self.call("answerCallbackQuery", params)

    async def edit_message_text(
        self,
        chat_id: int | str,
        message_id: int,
        text: str,
        *,
        buttons: Keyboard | None = None,
    ) -> None:
        """editMessageText on a message the bot sent; unchanged text counts as success.
        `buttons=None` removes the keyboard, `[]` too; pass rows to keep or change it."""
        params: dict[str, Any] = {
            "chat_id": parse_chat_id(chat_id) if isinstance(chat_id, str) else chat_id,
            "message_id": message_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if buttons:
            params["reply_markup"] = {"inline_keyboard": _keyboard(buttons)}
        try:
            await self.call("editMessageText", params)
        except PermanentFailure as failure:
            if _NOT_MODIFIED not in failure.reason:
                raise

    async def call(self, method: str, params: Mapping[str, Any]) -> Any:
        """One Bot API call; the "result" on success, else TemporaryFailure /
        PermanentFailure with a reason free of the token."""
        if not self._token:
            raise PermanentFailure("channels.telegram.bot_token is not set")
        answer = await self._post("Telegram", f"{self._base}/{method}", json=params)
        body = answer.body
        taken = body is None or (isinstance(body, dict) and body.get("ok") is True)
        if 200 <= answer.status < 300 and taken:
            # A 2xx whose body we could not read (not JSON, too long) was still taken:
            # calling again would send twice. The result is then unknown (None).
            return body.get("result") if isinstance(body, dict) else None
        raise self._failure(method, answer.status, body, answer.retry_after)

    def _failure(
        self, method: str, status: int, body: Any, retry_header: str | None = None
    ) -> TemporaryFailure | PermanentFailure:
        answer: Mapping[str, Any] = body if isinstance(body, dict) else {}
        code = answer.get("error_code")
        if not isinstance(code, int):
            code = status
        description = answer.get("description")
        detail = one_line(description) if isinstance(description, str) else ""
        reason = self._scrub(f"Telegram {method} {code}" + (f": {detail}" if detail else ""))
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        wait = parameters.get("retry_after")
        if isinstance(wait, int | float) and not isinstance(wait, bool):
            wait_s: float | None = float(wait)  # TemporaryFailure keeps it within a day
        else:  # no JSON advice: the HTTP header's, if any
            wait_s = retry_after(retry_header, time.time())
        if code == 429 or code >= 500 or code == 408:
            return TemporaryFailure(reason, retry_after=wait_s)
        if code in (401, 404) or 300 <= code < 400:
            log.warning(
                "telegram: %s answered %d; check channels.telegram.bot_token and api_url",
                method,
                code,
            )
            return TemporaryFailure(f"bot token or api_url refused (Telegram {code})")
        if code == 403:
            # Blocked by the user, kicked from the group, or the account is deactivated.
            return PermanentFailure(reason, address_gone=True)
        migrated = parameters.get("migrate_to_chat_id")
        if isinstance(migrated, int):
            # A group that became a supergroup has a new id; an admin must update it.
            reason += f" (the chat is now {migrated})"
        return PermanentFailure(reason)

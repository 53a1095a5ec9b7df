"""What the three group-bot channels (WeCom, DingTalk, Feishu) share: a bot is one group's
robot webhook, so the address is the group destination's handle and the credentials (the
robot's key or access token, then its signing secret) travel with each message in
OutboundMessage.secrets, like a webhook's signing secrets; and one reading of their answers.

All three answer HTTP 200 with a JSON code ("errcode", or Feishu's "code"/"StatusCode"):

    code 0                      Receipt(SENT)
    2xx, body unreadable        Receipt(SENT): taken, and sending again would repeat it
    a rate-limit code, 429      TemporaryFailure, retry_after = the provider's window (or
                                the Retry-After header)
    a busy code, 5xx, timeout   TemporaryFailure
    a bad key / bad signature   PermanentFailure(address_gone): the group destination is
                                disabled with the reason, until an admin fixes its robot
    any other code, other 4xx   PermanentFailure for this message (too long, bad body)

Keys and secrets are part of the URL or body: reasons name the code and the provider's
message with every secret scrubbed, and never the URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from service.core.config import at_least, between, setting, url_or_empty

from .base import Context, OutboundMessage, Outcome, PermanentFailure, Receipt, TemporaryFailure
from .http import Answer, HttpChannel, one_line, retry_after

# The providers' own default: at most 20 messages a minute per robot.
DEFAULT_PER_BOT_PER_MIN: Final = 20.0


@dataclass(frozen=True)
class Codes:
    """How one provider's answer codes read: throttled (with the provider's wait in
    seconds), busy (try again), or refused (the robot's key or signature is wrong)."""

    throttled: frozenset[int]
    throttled_wait_s: float
    busy: frozenset[int]
    refused: frozenset[int]


@dataclass(frozen=True)
class GroupBotSettings:
    """What a robot channel's table holds (each module's subclass sets api_url's default):
    where and how fast to post; each group destination carries its robot's credentials."""

    enabled: bool = setting(False)
    api_url: str = setting("", url_or_empty)
    timeout_s: float = setting(10.0, at_least(1))
    concurrency: int = setting(4, between(1, 1000))
    rate_per_s: float = setting(0.0, at_least(0))
    per_bot_per_min: float = setting(DEFAULT_PER_BOT_PER_MIN, at_least(0))

    @property
    def per_bot_per_s(self) -> float:
        """per_bot_per_min as the rate limiter takes it."""
        return per_second(self.per_bot_per_min)


def hmac_base64(key: bytes, message: bytes) -> str:
    """The base64 of HMAC-SHA256 of `message` under `key` (both bots' signing rule)."""
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def per_second(per_minute: float) -> float:
    """A per-minute rate as the token buckets take it (0 stays 0: no limit)."""
    return per_minute / 60.0


class GroupBotChannel(HttpChannel):
    """A group robot: `send` builds the provider's URL and body, posts it, and reads the
    answer by the provider's `codes`."""

    codes: ClassVar[Codes]
    # Each group's robot has its own limit: the rate key is the destination.
    per_key_setting = "per_bot_per_s"
    for_groups = True

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> Self:
        """The channel for its table."""
        return cls(settings)

    def __init__(
        self, settings: GroupBotSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(settings.timeout_s)
        self.base_url = settings.api_url.rstrip("/")
        # Signatures carry the time; a test turns this clock to show a stale one refused.
        self.clock = clock

    def rate_key(self, message: OutboundMessage) -> str | None:
        """One bucket per group robot."""
        return message.address

    @staticmethod
    def credentials(message: OutboundMessage) -> tuple[str, str]:
        """(key or access token, signing secret or "") from the message's secrets."""
        if not message.secrets or not message.secrets[0].strip():
            raise PermanentFailure("the group's robot has no key", address_gone=True)
        secret = message.secrets[1].strip() if len(message.secrets) > 1 else ""
        return message.secrets[0].strip(), secret

    async def deliver(
        self, who: str, url: str, body: Mapping[str, Any], message: OutboundMessage
    ) -> Receipt:
        """POST `body` as JSON to `url` and read the answer; failures are scrubbed of the
        message's secrets."""
        try:
            answer = await self._post(who, url, json=dict(body))
            return self.judge(who, answer)
        except (TemporaryFailure, PermanentFailure) as failure:
            failure.reason = scrub(failure.reason, message.secrets)
            failure.args = (failure.reason,)
            raise

    def judge(self, who: str, answer: Answer) -> Receipt:
        """The receipt for an answer, or the failure it means."""
        code, text = _code(answer.body)
        if code is not None and code != 0:
            reason = f"{who} answered {code}" + (f": {one_line(text)}" if text else "")
            if code in self.codes.throttled:
                wait = retry_after(answer.retry_after, 0.0)
                raise TemporaryFailure(
                    reason, retry_after=wait if wait is not None else self.codes.throttled_wait_s
                )
            if code in self.codes.busy:
                raise TemporaryFailure(reason)
            if code in self.codes.refused:
                raise PermanentFailure(reason, address_gone=True)
            raise PermanentFailure(reason)
        if answer.status == 429:
            wait = retry_after(answer.retry_after, 0.0)
            raise TemporaryFailure(
                f"{who} answered 429",
                retry_after=wait if wait is not None else self.codes.throttled_wait_s,
            )
        if answer.status >= 500:
            raise TemporaryFailure(f"{who} answered {answer.status}")
        if 300 <= answer.status < 400:
            raise TemporaryFailure(f"{who} redirected: check api_url")
        if answer.status >= 400:
            raise PermanentFailure(f"{who} answered {answer.status}")
        return Receipt(Outcome.SENT)


def _code(body: Any) -> tuple[int | None, str]:
    """The provider's answer code and message, if the body has one."""
    if not isinstance(body, Mapping):
        return None, ""
    for key, text_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            text = body.get(text_key)
            return value, text if isinstance(text, str) else ""
    return None, ""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def utf8_len(text: str) -> int:
    """The length providers count: UTF-8 bytes."""
    return len(text.encode("utf-8"))

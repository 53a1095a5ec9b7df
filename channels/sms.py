"""The SMS channel: one provider (Twilio, an android-sms-gateway phone, or a generic JSON
endpoint) behind `Channel`; channels/sms_callbacks.py verifies and parses their callbacks.

Outcomes, the same for every provider:

    2xx                    Receipt(SENT, provider_id = Twilio sid / gateway id / generic id)
    408, 429, 5xx, no answer, connection error, timeout
                           TemporaryFailure (retry_after from Retry-After when given)
    401, 403               TemporaryFailure "provider refused our credentials": a settings
                           problem hits every message alike, so none is failed for it while
                           an admin fixes the settings (the worker's retry limit still ends it)
    3xx, 404               TemporaryFailure, for the same reason: channels.sms.url is wrong
    other 4xx              PermanentFailure with the provider's message; Twilio 21211,
                           21614 (not a valid mobile number) and 21610 (unsubscribed) set
                           address_gone

OutboundMessage.extra parts read here: `status_callback` (Twilio StatusCallback URL) and
`ttl_s` (android gateway: seconds after which the phone gives up sending).
"""

from __future__ import annotations

import abc
import base64
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from service.core.config import at_least, between, one_of, secret_names, setting, url_or_empty
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

log = logging.getLogger("linli.channels.sms")

USER_AGENT: Final = "Linli-SMS/1"
# Twilio error codes meaning this number takes no SMS from us at all.
_TWILIO_GONE: Final = frozenset({21211, 21610, 21614})
# The gateway's cloud server accepts ids of at most 36 characters, and the phone app
# splits "id|phone" on "|", so only ids of these characters are sent unchanged.
_ANDROID_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,36}")
# What the gateway answers (409, or 500 from older local servers) for an id it already
# has: an earlier attempt reached it and only its answer was lost.
_ANDROID_DUPLICATE: Final = "same id already exists"
# Shorter secrets are left alone in reasons: replacing them would garble the text.
_MIN_SCRUB: Final = 4


def android_message_id(message_id: str) -> str:
    """The gateway "id" for a message: the message id itself when it fits the gateway
    (≤ 36 of A-Z a-z 0-9 _ -), else 32 characters derived from it by SHA-256."""
    if _ANDROID_ID.fullmatch(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def _basic_auth(login: str, password: str) -> dict[str, str]:
    # Built by hand: aiohttp 3.14 deprecates BasicAuth, and 3.10 lacks its replacement.
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _detail(body: Any) -> str:
    # Twilio and the gateway answer {"message": …}; generic endpoints often {"error": …}.
    if not isinstance(body, dict):
        return ""
    for key in ("message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return one_line(value)
    return ""


@dataclass(frozen=True)
class SmsChannelSettings:
    """[channels.sms]: one SMS provider."""

    enabled: bool = setting(False)
    provider: str = setting("android_gateway", one_of("twilio", "android_gateway", "generic"))
    url: str = setting("", url_or_empty)
    account_sid: str = setting("")
    auth_token: str = setting("", secret=True)
    from_number: str = setting("")
    username: str = setting("")
    password: str = setting("", secret=True)
    webhook_secret: str = setting("", secret=True)
    twilio_shared_key: str = setting("", secret=True)
    api_key: str = setting("", secret=True)
    timeout_s: float = setting(15.0, at_least(1))
    concurrency: int = setting(2, between(1, 100))
    rate_per_s: float = setting(1.0, at_least(0))


@register
class SmsChannel(HttpChannel):
    """What every SMS provider shares: the settings checks and outcome mapping."""

    name: ClassVar[str] = "sms"
    user_agent: ClassVar[str] = USER_AGENT
    provider: ClassVar[str]
    # Keys this provider needs besides `url`.
    required: ClassVar[tuple[str, ...]] = ()
    settings_class = SmsChannelSettings
    secret_fields: ClassVar[tuple[str, ...]] = secret_names(SmsChannelSettings)

    def __init__(
        self,
        settings: SmsChannelSettings,
        *,
        session_factory: SessionFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for key in ("url", *self.required):
            if not str(getattr(settings, key)).strip():
                raise SettingsError(f"channels.sms.{key}: required for provider {self.provider}")
        if not settings.url.startswith(("http://", "https://")):
            raise SettingsError("channels.sms.url: must start with http:// or https://")
        parts = urlsplit(settings.url)
        if parts.username is not None or parts.password is not None:
            # Credentials in a URL end up in logs; they have their own settings.
            raise SettingsError("channels.sms.url: must not contain credentials")
        values = (getattr(settings, key) for key in self.secret_fields)
        super().__init__(
            settings.timeout_s,
            secrets=(v for v in values if isinstance(v, str) and len(v) >= _MIN_SCRUB),
            session_factory=session_factory,
        )
        self.settings = settings
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> SmsChannel:
        """The channel of the table's provider."""
        return sms_channel(settings)

    @abc.abstractmethod
    def _request(self, message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        """The URL and aiohttp request arguments for one message."""

    @abc.abstractmethod
    def _accepted(self, message: OutboundMessage, body: Any) -> Receipt:
        """The receipt for a 2xx answer."""

    def _duplicate(self, status: int, body: Any) -> bool:
        """True if the answer says the provider already has this message (no resend)."""
        return False

    def _refused(self, status: int, body: Any, reason: str) -> PermanentFailure:
        """The failure for a 4xx that is about this message."""
        return PermanentFailure(reason)

    async def send(self, message: OutboundMessage) -> Receipt:
        """Hand one message to the provider; raise TemporaryFailure / PermanentFailure."""
        url, request = self._request(message)
        answer = await self._post(self.provider, url, **request)
        return self._outcome(message, answer.status, answer.retry_after, answer.body)

    def _outcome(
        self, message: OutboundMessage, status: int, retry: str | None, body: Any
    ) -> Receipt:
        if 200 <= status < 300 or self._duplicate(status, body):
            return self._accepted(message, body)
        detail = _detail(body)
        reason = self._scrub(f"{self.provider} HTTP {status}" + (f": {detail}" if detail else ""))
        if status in (401, 403):
            log.warning("sms: %s refused our credentials (HTTP %d)", self.provider, status)
            raise TemporaryFailure(f"provider refused our credentials (HTTP {status})")
        if 300 <= status < 400 or status == 404:
            log.warning("sms: %s answered HTTP %d; check channels.sms.url", self.provider, status)
            raise TemporaryFailure(f"{reason} (check channels.sms.url)")
        if status in (408, 429) or status >= 500:
            raise TemporaryFailure(reason, retry_after=retry_after(retry, self._clock()))
        raise self._refused(status, body, reason)


class TwilioSms(SmsChannel):
    """Twilio's Messages API: a form POST, Basic auth with the account SID and token."""

    provider: ClassVar[str] = "twilio"
    required: ClassVar[tuple[str, ...]] = ("account_sid", "auth_token", "from_number")

    def _request(self, message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        s = self.settings
        url = f"{s.url.rstrip('/')}/2010-04-01/Accounts/{s.account_sid}/Messages.json"
        form = {"To": message.address, "Body": message.text}
        # Twilio takes a Messaging Service (MG…) in place of a sender number.
        sender = "MessagingServiceSid" if s.from_number.startswith("MG") else "From"
        form[sender] = s.from_number
        callback = message.extra.status_callback
        if callback:
            form["StatusCallback"] = callback
        return url, {"data": form, "headers": _basic_auth(s.account_sid, s.auth_token)}

    def _accepted(self, message: OutboundMessage, body: Any) -> Receipt:
        sid = body.get("sid") if isinstance(body, dict) else None
        if isinstance(sid, str) and sid:
            return Receipt(outcome=Outcome.SENT, provider_id=sid)
        # Accepted all the same: sending again would send twice.
        return Receipt(outcome=Outcome.SENT, detail="twilio answered without a sid")

    def _refused(self, status: int, body: Any, reason: str) -> PermanentFailure:
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            # Twilio's code is a number; anything else (a list, an object) names nothing.
            return PermanentFailure(reason)
        reason = self._scrub(f"twilio error {code}: {_detail(body) or f'HTTP {status}'}")
        return PermanentFailure(reason, address_gone=code in _TWILIO_GONE)


class AndroidGatewaySms(SmsChannel):
    """An Android phone running android-sms-gateway (local server): JSON POST /message."""

    provider: ClassVar[str] = "android_gateway"
    required: ClassVar[tuple[str, ...]] = ("username", "password")

    def _request(self, message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        s = self.settings
        body: dict[str, Any] = {
            # Same id on every attempt: the gateway refuses a second message with it.
            "id": android_message_id(message.id),
            "textMessage": {"text": message.text},
            "phoneNumbers": [message.address],
            "withDeliveryReport": True,
        }
        ttl = message.extra.ttl_s
        if ttl is not None and ttl > 0:
            body["ttl"] = ttl
        return f"{s.url.rstrip('/')}/message", {
            "json": body,
            "headers": _basic_auth(s.username, s.password),
        }

    def _duplicate(self, status: int, body: Any) -> bool:
        return status in (409, 500) and _ANDROID_DUPLICATE in _detail(body).lower()

    def _accepted(self, message: OutboundMessage, body: Any) -> Receipt:
        # Delivery webhooks name the id we sent, so that is the provider id either way.
        return Receipt(outcome=Outcome.SENT, provider_id=android_message_id(message.id))


class GenericSms(SmsChannel):
    """A JSON endpoint of our own design: POST {"id","to","text"} with a bearer key; a 2xx
    answer {"id": …} accepts, and a repeated id answers 2xx (or 409) again."""

    provider: ClassVar[str] = "generic"
    required: ClassVar[tuple[str, ...]] = ("api_key",)

    def _request(self, message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        body = {"id": message.id, "to": message.address, "text": message.text}
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        return self.settings.url, {"json": body, "headers": headers}

    def _duplicate(self, status: int, body: Any) -> bool:
        return status == 409

    def _accepted(self, message: OutboundMessage, body: Any) -> Receipt:
        given = body.get("id") if isinstance(body, dict) else None
        if isinstance(given, str | int) and not isinstance(given, bool) and str(given):
            return Receipt(outcome=Outcome.SENT, provider_id=str(given))
        return Receipt(outcome=Outcome.SENT, provider_id=message.id)


_PROVIDERS: Final[Mapping[str, type[SmsChannel]]] = {
    cls.provider: cls for cls in (TwilioSms, AndroidGatewaySms, GenericSms)
}


def sms_channel(
    settings: SmsChannelSettings,
    *,
    session_factory: SessionFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> SmsChannel:
    """The channel for `settings.provider`; SettingsError names a missing or bad key. The
    channel owns the session `session_factory` builds (default: its own) and closes it."""
    cls = _PROVIDERS.get(settings.provider)
    if cls is None:
        choices = ", ".join(_PROVIDERS)
        raise SettingsError(f"channels.sms.provider: must be one of {choices}")
    return cls(settings, session_factory=session_factory, clock=clock)

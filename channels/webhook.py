"""Outbound webhooks signed per Standard Webhooks v1: a JSON POST with webhook-id,
webhook-timestamp and webhook-signature headers, sent only to public addresses."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import aiohttp
from yarl import URL

from service.core.config import at_least, between, setting
from service.core.errors import SettingsError
from service.core.ssrf import DestinationRefusedError, parse_networks, resolve_checked
from service.core.webhook_rules import signature_header, valid_secrets

from .base import (
    Context,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Receipt,
    TemporaryFailure,
    register,
)
from .http import HttpChannel, client_session, describe, retry_after
from .ssrf import GuardedResolver

USER_AGENT: Final = "Linli-Webhooks/1"
# Only a small answer is worth reading: reading it lets the connection be reused.
_READ_LIMIT: Final = 64 * 1024
# Checked addresses remembered per channel (cleared, not evicted one by one, when full).
_URL_CACHE: Final = 4096
# Hosts aiohttp may treat as IP literals and connect to without asking the resolver.
_LITERALISH: Final = re.compile(r"[0-9A-Fa-fXx.:\[\]%]+")


@dataclass(frozen=True)
class WebhookChannelSettings:
    """[channels.webhook]: signed JSON POSTs (Standard Webhooks)."""

    enabled: bool = setting(False)
    timeout_s: float = setting(15.0, at_least(1))
    allow_private: tuple[str, ...] = setting(())
    concurrency: int = setting(16, between(1, 1000))
    rate_per_s: float = setting(0.0, at_least(0))


def _canonical_ip(host: str) -> bool:
    """True when `host` is an IP address written the standard way (so no lookup)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@register
class WebhookChannel(HttpChannel):
    """Signed JSON POSTs to a subscriber's URL (Standard Webhooks)."""

    name: ClassVar[str] = "webhook"
    user_agent: ClassVar[str] = USER_AGENT
    # Signing secrets travel with each message (OutboundMessage.secrets), not in settings.
    settings_class = WebhookChannelSettings

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> WebhookChannel:
        """The channel; allow_private is checked here."""
        return cls(settings)

    def __init__(
        self, settings: WebhookChannelSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        try:
            self._allow = parse_networks(settings.allow_private)
        except ValueError as exc:
            raise SettingsError(f"channels.webhook.allow_private: {exc}") from None
        super().__init__(settings.timeout_s)
        self._settings = settings
        self._clock = clock
        # IP literals (host, port) the guard let through: their verdict cannot change.
        self._passed: set[tuple[str, int | None]] = set()
        # Addresses already parsed and checked: a send posts to few endpoints many times.
        self._urls: dict[str, URL] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        """The channel's own session: its resolver is the SSRF guard."""
        # Not the app's shared session: this one must resolve through the guard.
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._allow),
            # Every new connection re-resolves and re-checks; the pool keeps it cheap.
            use_dns_cache=False,
        )
        return client_session(
            self.user_agent, self._timeout, connector=connector, auto_decompress=False
        )

    async def send(self, message: OutboundMessage) -> Receipt:
        """POST the signed payload; map the answer to a Receipt or a failure."""
        url = self._urls.get(message.address) or self._check_url(message.address)
        if not message.secrets:
            raise PermanentFailure("no signing secret")
        if not valid_secrets(message.secrets):
            raise PermanentFailure("invalid signing secret")
        if not message.text:
            raise PermanentFailure("no payload")
        # The body is the JSON the renderer checked and stored when the message was queued:
        # sent as it stands, so every attempt carries the same bytes and signature input.
        body = message.text.encode()

        host = url.raw_host or ""
        if _LITERALISH.fullmatch(host) and (host, url.port) not in self._passed:
            # aiohttp connects to IP literals without asking the resolver: check here.
            await self._guard(host, url.port or 0)
            if _canonical_ip(host):
                # Only a canonical literal: a name of hex letters ("cafe.add") resolves
                # anew each time, since its answer may change.
                self._passed.add((host, url.port))

        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(message.secrets, message.id, timestamp, body),
        }
        session = await self._opened()
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                if resp.content_length is not None and resp.content_length <= _READ_LIMIT:
                    # The status has spoken: an answer body that stalls or breaks off
                    # (a 200 then a reset) does not undo it, nor send the message again.
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        await resp.read()
                return self._outcome(message, resp.status, resp.headers.get("Retry-After"))
        except DestinationRefusedError as exc:
            raise PermanentFailure(str(exc)) from None
        except aiohttp.InvalidURL:
            raise PermanentFailure("invalid URL") from None
        except TimeoutError:
            raise TemporaryFailure(f"timed out after {self._settings.timeout_s:g} s") from None
        except aiohttp.ClientConnectorDNSError as exc:
            raise TemporaryFailure(f"cannot resolve {exc.host}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TemporaryFailure(describe(exc)) from None

    def _check_url(self, address: str) -> URL:
        """The address parsed, or PermanentFailure; a good one is remembered."""
        try:
            url = URL(address)
        except (ValueError, TypeError):
            raise PermanentFailure("invalid URL") from None
        if url.scheme not in ("http", "https"):
            raise PermanentFailure(f"scheme {url.scheme or '(none)'!r} is not allowed")
        if not url.raw_host:
            raise PermanentFailure("invalid URL: no host")
        if url.user is not None or url.password is not None:
            # Credentials belong in the signature, not in a URL that shows up in logs.
            raise PermanentFailure("invalid URL: credentials in the URL")
        if len(self._urls) >= _URL_CACHE:
            self._urls.clear()
        self._urls[address] = url
        return url

    async def _guard(self, host: str, port: int) -> None:
        try:
            await resolve_checked(host, port, self._allow)
        except DestinationRefusedError as exc:
            raise PermanentFailure(str(exc)) from None
        except OSError:
            raise TemporaryFailure(f"cannot resolve {host}") from None

    def _outcome(self, message: OutboundMessage, status: int, retry: str | None) -> Receipt:
        if 200 <= status < 300:
            return Receipt(outcome=Outcome.DELIVERED, provider_id=message.id)
        if 300 <= status < 400:
            # Following would send the signed body somewhere the guard never checked.
            raise PermanentFailure(f"redirect not followed (HTTP {status})")
        if status == 410:
            raise PermanentFailure("endpoint is gone (HTTP 410)", address_gone=True)
        # 408 is the receiver saying it was slow, not that the message is wrong.
        if status in (408, 429) or status >= 500:
            raise TemporaryFailure(f"HTTP {status}", retry_after=retry_after(retry, self._clock()))
        raise PermanentFailure(f"HTTP {status}")

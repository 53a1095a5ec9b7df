"""What the HTTP channels (SMS, Telegram, webhooks) share: a session of their own with
safe defaults, its start/close lifecycle, Retry-After, and failure reasons that carry
neither URLs nor secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final

import aiohttp

from service.core import jsontext

from .base import Channel, TemporaryFailure

SessionFactory = Callable[[], aiohttp.ClientSession]

# Provider answers are small; a larger one is not read (the status decides alone).
_READ_LIMIT: Final = 64 * 1024
_DETAIL_LIMIT: Final = 200


def client_session(
    user_agent: str, timeout: aiohttp.ClientTimeout, **options: Any
) -> aiohttp.ClientSession:
    """A session that keeps no cookies and ignores environment proxies; `options` go on to
    aiohttp.ClientSession (a guarded connector, auto_decompress)."""
    return aiohttp.ClientSession(
        timeout=timeout,
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        # Environment proxies stay off: the configured URL is all an admin decides, and a
        # proxy would connect on our behalf to addresses an SSRF guard never saw.
        trust_env=False,
        **options,
    )


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    # ASCII only: str.isdigit() also accepts digits float() refuses, such as "²".
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def describe(exc: BaseException) -> str:
    """A transport error in words, for a failure reason."""
    # Built from the error type and OS reason only: aiohttp's texts carry the full URL, and
    # a URL may hold a secret (a bot token, a token in a webhook's path or query).
    if isinstance(exc, aiohttp.ClientConnectorError):
        why = exc.os_error.strerror or type(exc.os_error).__name__
        return f"cannot connect to {exc.host}:{exc.port} ({why})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__} ({exc.strerror})"
    return type(exc).__name__


def one_line(text: str) -> str:
    """A provider's message on one line and short enough for a failure reason."""
    return " ".join(text.split())[:_DETAIL_LIMIT]


async def read_json(resp: aiohttp.ClientResponse) -> Any:
    """The JSON body, or None for a missing, oversized or unreadable one (a proxy's HTML
    error page): the status alone then decides."""
    if resp.content_length is not None and resp.content_length > _READ_LIMIT:
        return None
    raw = bytearray()
    try:
        async for chunk in resp.content.iter_chunked(16 * 1024):
            raw += chunk
            if len(raw) > _READ_LIMIT:
                return None
        return jsontext.loads(bytes(raw)) if raw else None
    except (ValueError, aiohttp.ClientError, TimeoutError):
        return None


@dataclass(frozen=True)
class Answer:
    """What a provider answered: the status, its Retry-After header and its JSON body."""

    status: int
    retry_after: str | None
    body: Any


class HttpChannel(Channel):
    """A channel that owns one HTTP session, opened by `start` (or the first send) and
    closed by `close`, and scrubs its secrets from every failure reason."""

    user_agent: ClassVar[str]

    def __init__(
        self,
        timeout_s: float,
        *,
        secrets: Iterable[str] = (),
        session_factory: SessionFactory | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._secrets = tuple(secrets)
        self._factory = session_factory or self._new_session
        self._session: aiohttp.ClientSession | None = None

    def _new_session(self) -> aiohttp.ClientSession:
        """The session used when none is injected."""
        return client_session(self.user_agent, self._timeout)

    async def start(self) -> None:
        """Open the channel's HTTP session."""
        if self._session is None:
            self._session = self._factory()

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _opened(self) -> aiohttp.ClientSession:
        """The session, opened first if the channel was not started."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        return self._session

    async def _post(self, who: str, url: str, **request: Any) -> Answer:
        """POST without following redirects; a timeout or transport error becomes a
        TemporaryFailure naming `who`, raised `from None` so no traceback carries the URL."""
        session = await self._opened()
        try:
            async with session.post(
                url, allow_redirects=False, timeout=self._timeout, **request
            ) as resp:
                return Answer(resp.status, resp.headers.get("Retry-After"), await read_json(resp))
        except TimeoutError:
            raise TemporaryFailure(f"{who} did not answer within {self._timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise TemporaryFailure(self._scrub(f"{who}: {describe(exc)}")) from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

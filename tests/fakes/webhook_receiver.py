"""A Standard Webhooks receiver on 127.0.0.1: verifies signatures, dedupes on webhook-id,
and can be told how to answer the next requests.

    async with WebhookReceiver(SECRET) as hook:
        hook.script(500, times=2)                # the next two requests answer 500
        hook.script(429, retry_after="7")        # then one 429 with Retry-After: 7
        hook.script(302, location="/elsewhere")  # then a redirect
        hook.delay(3.0)                          # then one answer after 3 s
        ...  # send to hook.url
        await hook.wait_for(1)
        hook.deliveries[0].valid, hook.duplicates

Every request lands in `requests`; a 2xx answer to a new webhook-id also lands in
`deliveries` (once per id); a 2xx answer to a known id counts in `duplicates`. The happy
path is one HMAC and one json.loads, so benchmarks can use it as a sink.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from service.core.webhook_rules import verify

from .server import FakeHttpServer


@dataclass(frozen=True)
class HookRequest:
    """One request as received, with the status it was answered (None if abandoned)."""

    id: str | None
    timestamp: int | None
    path: str
    headers: dict[str, str]
    raw: bytes
    valid: bool
    status: int | None


@dataclass(frozen=True)
class Delivery:
    """A message accepted (2xx) the first time its webhook-id arrived."""

    id: str
    timestamp: int
    body: Any
    valid: bool
    signature: str
    received_at: float


@dataclass(frozen=True)
class _Answer:
    status: int
    retry_after: str | None = None
    location: str | None = None
    delay_s: float = 0.0


class WebhookReceiver(FakeHttpServer):
    """A real aiohttp server that plays a webhook endpoint; an async context manager."""

    # A client that timed out also ends a delayed answer, and a short shutdown timeout
    # keeps a delayed handler from holding up the test.
    handler_cancellation: ClassVar[bool] = True
    shutdown_timeout_s: ClassVar[float] = 0.5

    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        tolerance_s: float = 300,
        clock: Callable[[], float] = time.time,
        path: str = "/hook",
    ) -> None:
        super().__init__()
        self.secrets = [secret] if isinstance(secret, str) else list(secret)
        self.tolerance_s = tolerance_s
        self.clock = clock
        self.path = path
        self.requests: list[HookRequest] = []
        self.deliveries: list[Delivery] = []
        self.duplicates = 0
        self._seen: set[str] = set()
        self._script: collections.deque[_Answer] = collections.deque()

    @property
    def url(self) -> str:
        """The endpoint URL to send to."""
        return f"{super().url}{self.path}"

    def script(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        location: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next `times` requests (after those already scripted) with `status`."""
        if 300 <= status < 400 and location is None:
            location = "/redirected"
        for _ in range(times):
            self._script.append(_Answer(status, retry_after, location, delay_s))

    def delay(self, seconds: float, *, times: int = 1, status: int = 204) -> None:
        """Answer the next `times` requests only after `seconds`."""
        self.script(status, times=times, delay_s=seconds)

    async def wait_for(self, count: int, *, within_s: float = 5.0, requests: bool = False) -> None:
        """Wait until `count` deliveries (or requests) arrived, or fail after `within_s`."""
        recorded: list[Any] = self.requests if requests else self.deliveries
        what = "requests" if requests else "deliveries"
        await self._until(
            lambda: len(recorded) >= count,
            within_s,
            lambda: f"expected {count} {what}, got {len(recorded)}",
        )

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = dict(request.headers)
        valid = verify(self.secrets, request.headers, raw, self.clock(), self.tolerance_s)
        msg_id = request.headers.get("webhook-id")
        stamp = request.headers.get("webhook-timestamp", "")
        timestamp = int(stamp) if stamp.isdigit() else None
        answer = self._script.popleft() if self._script else _Answer(204)

        def record(status: int | None) -> None:
            self.requests.append(
                HookRequest(msg_id, timestamp, request.path, headers, raw, valid, status)
            )
            self._changed.set()

        if answer.delay_s:
            try:
                await asyncio.sleep(answer.delay_s)
            except asyncio.CancelledError:
                record(None)
                raise
        record(answer.status)
        if 200 <= answer.status < 300 and msg_id is not None:
            if msg_id in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(msg_id)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = None
                self.deliveries.append(
                    Delivery(
                        id=msg_id,
                        timestamp=timestamp or 0,
                        body=body,
                        valid=valid,
                        signature=request.headers.get("webhook-signature", ""),
                        received_at=self.clock(),
                    )
                )
                self._changed.set()
        extra: dict[str, str] = {}
        if answer.retry_after is not None:
            extra["Retry-After"] = answer.retry_after
        if answer.location is not None:
            extra["Location"] = answer.location
        return web.Response(status=answer.status, headers=extra)

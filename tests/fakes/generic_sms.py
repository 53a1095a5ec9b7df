"""A local stand-in of the generic SMS protocol: POST /sms with a Bearer API key and
{"id", "to", "text"}, answered {"id": "gen-<n>"} (see channels/sms.py GenericSms)."""

from __future__ import annotations

import collections
from typing import Any, Final

from aiohttp import web

from .server import FakeHttpServer

API_KEY: Final = "generic-test-api-key-0123456789"


class GenericEndpoint(FakeHttpServer):
    """A receiver of the generic protocol at POST /sms: records requests and answers
    {"id": "gen-<n>"}, or what `fail_next` said."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str | None, Any]] = []
        self._answers: collections.deque[tuple[int, dict[str, Any], dict[str, str]]] = (
            collections.deque()
        )

    @property
    def url(self) -> str:
        """The endpoint URL to send to."""
        return f"{super().url}/sms"

    def fail_next(
        self, status: int, *, body: dict[str, Any] | None = None, retry_after: int | None = None
    ) -> None:
        """Answer the next request with `status` and `body` (default {"error": "no"})."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._answers.append((status, body or {"error": "no"}, headers))

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/sms", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.headers.get("Authorization"), body))
        if self._answers:
            status, answer, headers = self._answers.popleft()
            return web.json_response(answer, status=status, headers=headers)
        return web.json_response({"id": f"gen-{len(self.requests)}"})

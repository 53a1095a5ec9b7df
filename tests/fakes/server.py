"""What the local stand-in servers share: a free port of 127.0.0.1, `async with` to start
and stop, a wait with a deadline on what they record, and for the HTTP ones an aiohttp
app behind an AppRunner.

    class FakeThing(FakeHttpServer):
        def _routes(self, router: web.UrlDispatcher) -> None:
            router.add_post("/thing", self._post)

    async with FakeThing() as thing:
        ...  # send to thing.url
"""

from __future__ import annotations

import abc
import asyncio
import base64
import collections
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from aiohttp import web

# How a stand-in may misbehave on the next request, whatever provider it plays: "stall"
# answers only when the server stops (so the client times out), "break" sends a 200 with
# half of the body it announced, then closes the connection.
Misbehaviour = Literal["stall", "break"]


class FakeServer(abc.ABC):
    """A server on a free port of 127.0.0.1 (in `port` once started); an async context
    manager that starts it and stops it."""

    host: ClassVar[str] = "127.0.0.1"

    def __init__(self) -> None:
        self.port = 0
        # Set whenever what a waiter checks may have changed (a request recorded, a
        # connection closed); waiters re-check then.
        self._changed = asyncio.Event()

    @abc.abstractmethod
    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1 (then in `self.port`)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop listening; nothing of the server outlives this."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _until(
        self, check: Callable[[], bool], within_s: float, failure: Callable[[], str]
    ) -> None:
        """Return once `check()` holds; AssertionError(failure()) after `within_s`."""
        try:
            async with asyncio.timeout(within_s):
                while not check():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(failure()) from None


class FakeHttpServer(FakeServer):
    """An aiohttp app on 127.0.0.1 at `url`; subclasses add their routes in `_routes`."""

    # How long `stop` lets handlers still running finish (aiohttp's default).
    shutdown_timeout_s: ClassVar[float] = 60.0
    # Cancel a handler whose client went away, as a real server's would end.
    handler_cancellation: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self._runner: web.AppRunner | None = None
        self._misbehaviours: collections.deque[Misbehaviour] = collections.deque()
        self._stopping = asyncio.Event()

    def misbehave_next(self, how: Misbehaviour) -> None:
        """Answer the next request badly, before the provider's own handler sees it."""
        self._misbehaviours.append(how)

    @web.middleware
    async def _misbehave(
        self, request: web.Request, handler: Callable[..., Any]
    ) -> web.StreamResponse:
        if not self._misbehaviours:
            response: web.StreamResponse = await handler(request)
            return response
        how = self._misbehaviours.popleft()
        await request.read()
        if how == "stall":
            await self._stopping.wait()
            return web.Response(status=503)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Content-Length": "100"}
        )
        await response.prepare(request)
        await response.write(b'{"ok": tr')
        assert request.transport is not None
        request.transport.close()
        return response

    @property
    def url(self) -> str:
        """The server's base URL; it stays readable after `stop`, to stand for a closed port."""
        return f"http://{self.host}:{self.port}"

    @abc.abstractmethod
    def _routes(self, router: web.UrlDispatcher) -> None:
        """Add the provider's endpoints."""

    async def start(self) -> None:
        """Serve the app on a free port of 127.0.0.1."""
        app = web.Application(middlewares=[self._misbehave])
        self._routes(app.router)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=self.handler_cancellation,
            shutdown_timeout=self.shutdown_timeout_s,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving (the port is kept, so `url` then names a closed port)."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The (login, password) of a Basic Authorization header; None if absent or malformed."""
    # Parsed by hand as RFC 7617 says (aiohttp deprecates BasicAuth).
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, colon, password = base64.b64decode(token, validate=True).decode().partition(":")
    except ValueError:
        return None
    return (login, password) if colon else None

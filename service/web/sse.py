"""Server-sent events: the response headers every live feed shares."""

from __future__ import annotations

import contextlib

from aiohttp import web


async def open_stream(request: web.Request) -> web.StreamResponse:
    """A prepared text/event-stream response, never cached nor buffered by a proxy, that
    tells the browser to reconnect after a second."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # gone already: the feed's loop ends
        await response.write(b"retry: 1000\n\n")
    return response

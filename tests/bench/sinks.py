"""Receivers for the benchmark, each run as its own process so that neither Linli nor the
bare client shares its event loop: a webhook sink (aiohttp) and an SMTP sink (aiosmtpd).
Each counts distinct message ids and answers GET /count and POST /reset on a status port.

    python -m tests.bench.sinks webhook PORT
    python -m tests.bench.sinks smtp PORT STATUS_PORT
"""

from __future__ import annotations

import asyncio
import sys
from email.parser import BytesHeaderParser
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session


class Tally:
    """Messages seen, and the distinct ids among them."""

    def __init__(self) -> None:
        self.total = 0
        self.ids: set[str] = set()

    def see(self, ident: str) -> None:
        self.total += 1
        self.ids.add(ident)

    def routes(self, app: web.Application) -> None:
        async def count(_: web.Request) -> web.Response:
            return web.json_response({"unique": len(self.ids), "total": self.total})

        async def reset(_: web.Request) -> web.Response:
            self.total = 0
            self.ids.clear()
            return web.json_response({"ok": True})

        app.router.add_get("/count", count)
        app.router.add_post("/reset", reset)


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()


async def webhook(port: int) -> None:
    """Accept every POST /hook, counting webhook-id."""
    tally = Tally()
    app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        tally.see(request.headers.get("webhook-id", ""))
        return web.Response(status=204)

    app.router.add_post("/hook", hook)
    tally.routes(app)
    await _serve(app, port)
    await asyncio.Event().wait()


class _Handler:
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or b""
        headers = self.parser.parsebytes(bytes(content))
        self.tally.see(str(headers.get("Message-ID", "")))
        return "250 OK"


async def smtp(port: int, status_port: int) -> None:
    """Accept every message, counting Message-ID."""
    tally = Tally()
    loop = asyncio.get_running_loop()
    handler = _Handler(tally)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.local"), "127.0.0.1", port, backlog=1024
    )
    app = web.Application()
    tally.routes(app)
    await _serve(app, status_port)
    async with server:
        await asyncio.Event().wait()


def main() -> None:
    kind, *ports = sys.argv[1:]
    if kind == "webhook":
        asyncio.run(webhook(int(ports[0])))
    else:
        asyncio.run(smtp(int(ports[0]), int(ports[1])))


if __name__ == "__main__":
    main()

"""Receivers for the benchmark, each run as its own process so that neither Linli nor the
bare client shares its event loop: a webhook sink (aiohttp) and an SMTP sink (aiosmtpd).
Each counts distinct message ids and answers GET /count and POST /reset on a status port.
After POST /reset?keep=1 it also keeps the first copy of each message (a webhook's body and
signature headers, an email's envelope and bytes) and hands them out on GET /kept, so the
bare client can send exactly what Linli sent.

    python -m tests.bench.sinks webhook PORT
    python -m tests.bench.sinks smtp PORT STATUS_PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from email.parser import BytesHeaderParser
from typing import Any, Final

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

# The request headers a replay repeats: the body's type and the Standard Webhooks trio.
_REPLAYED: Final = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature")


class Tally:
    """Messages seen, the distinct ids among them, and (when asked) each one's first copy."""

    def __init__(self) -> None:
        self.total = 0
        self.ids: set[str] = set()
        self.keep = False
        self.kept: list[dict[str, Any]] = []

    def see(self, ident: str, copy: Callable[[], dict[str, Any]]) -> None:
        self.total += 1
        if self.keep and ident not in self.ids:
            self.kept.append(copy())
        self.ids.add(ident)

    def routes(self, app: web.Application) -> None:
        async def count(_: web.Request) -> web.Response:
            return web.json_response({"unique": len(self.ids), "total": self.total})

        async def reset(request: web.Request) -> web.Response:
            self.total = 0
            self.ids.clear()
            self.kept = []
            self.keep = request.query.get("keep") == "1"
            return web.json_response({"ok": True})

        async def kept(_: web.Request) -> web.Response:
            return web.json_response(self.kept)

        app.router.add_get("/count", count)
        app.router.add_post("/reset", reset)
        app.router.add_get("/kept", kept)


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()


async def webhook(port: int) -> None:
    """Accept every POST /hook, counting webhook-id."""
    tally = Tally()
    app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()

        def copy() -> dict[str, Any]:
            headers = {k: v for k, v in request.headers.items() if k.lower() in _REPLAYED}
            return {"headers": headers, "body": body.decode()}

        tally.see(request.headers.get("webhook-id", ""), copy)
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
        content = bytes(envelope.original_content or b"")
        headers = self.parser.parsebytes(content)

        def copy() -> dict[str, Any]:
            return {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                # Latin-1 maps every byte to one character and back.
                "content": content.decode("latin-1"),
            }

        self.tally.see(str(headers.get("Message-ID", "")), copy)
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

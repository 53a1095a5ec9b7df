"""The landing page at `/`: what Linli is, the way into the console and its pages, and the
API reference. The same page for everyone, with no personal data: the console's session
cookie is kept to /console (its path) on purpose, so `/` cannot tell who is signed in and
does not try; each console link asks for a sign-in first when needed and then returns there."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .console.base import CONSOLE, NAV, render_page
from .routing import Api

routes = Api(prefix="")
# The console's menu less its settings, which stay one click further in.
PAGES: Final = tuple((key, href) for key, href in NAV if href != "/console/settings")
# Browsers ask every site for /favicon.ico; a 404 there is noise in every page's log.
FAVICON: Final = CONSOLE / "static" / "favicon.ico"


@routes.route(
    "GET",
    "/",
    summary="Landing page: what Linli is, links to the console's pages and the API reference",
    tag="public",
    roles=None,
    response_media="text/html",
)
async def home(request: web.Request) -> web.Response:
    """What anyone opening the address `linli serve` prints sees first."""
    return render_page(request, "home.html", me=None, pages=PAGES)


@routes.route(
    "GET",
    "/favicon.ico",
    summary="The site's icon (a house), which browsers ask for on every page",
    tag="public",
    roles=None,
    response_media="image/x-icon",
)
async def favicon(request: web.Request) -> web.Response:
    """The icon file, cached for a day."""
    return web.Response(
        body=FAVICON.read_bytes(),
        content_type="image/x-icon",
        headers={"Cache-Control": "max-age=86400", "X-Content-Type-Options": "nosniff"},
    )

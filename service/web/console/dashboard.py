"""The console's first page: upcoming events, today's bookings, delivery health."""

from __future__ import annotations

from aiohttp import web

from ...core.failures import explain
from ...domain import dashboard
from .base import TAG, Console, console_routes, view

routes = console_routes()


@routes.route(
    "GET",
    "",
    summary="The console's dashboard: upcoming events, today's bookings, delivery health",
    tag=TAG,
    roles=None,
    response_media="text/html",
)
@view
async def dashboard_page(request: web.Request, c: Console) -> web.StreamResponse:
    """Reads only. A failing channel's last error reads as a plain sentence."""
    found = await dashboard.overview(c.store, c.now, c.tz)
    errors: dict[str, str] = {}
    for failing in found.failing:
        said = explain(failing.last_error, c.lang)
        errors[failing.channel] = failing.last_error if said is None else said.text
    return c.render("dashboard.html", o=found, errors=errors)


@routes.route(
    "GET",
    "/",
    summary="The dashboard, under its other address",
    tag=TAG,
    roles=None,
    response_media="text/html",
)
async def dashboard_slash(request: web.Request) -> web.StreamResponse:
    """/console/ is /console."""
    raise web.HTTPMovedPermanently("/console")

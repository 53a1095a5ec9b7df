"""/tablet: the kiosk page on a room's door, its live feed and its check-in.

A door token signs the tablet in once: /tablet?token=… puts the token in an HttpOnly,
SameSite=Strict cookie (path /tablet) and redirects to /tablet, so the token leaves the
address bar and the page's scripts never see it. Every /tablet route takes that cookie
or an `Authorization: Bearer` door token, and serves the token's own room only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import date
from functools import cache
from pathlib import Path
from typing import Final

from aiohttp import web
from pydantic import Field

from ..core.errors import AuthenticationError, PermissionDeniedError, ServiceError
from ..core.models import Principal, Role
from ..core.phrases import area, language_for
from ..domain import auth, checkin, tablet
from ..domain.checkin import CheckinOutcome
from ..domain.tablet import Timeline
from ..keys import clock_key, settings_key, store_key
from .checkin import CheckinIn
from .jsonio import Query, jsonable, reply
from .pages import page
from .routing import Api, bearer_token
from .sse import open_stream

COOKIE: Final = "linli_door"
COOKIE_MAX_AGE: Final = 365 * 24 * 3600
ASSETS: Final = Path(__file__).resolve().parents[2] / "templates" / "tablet"
ASSET_TYPES: Final = {
    "tablet.js": "text/javascript",
    "tablet.css": "text/css",
    "sw.js": "text/javascript",
}
# Scripts and styles come from the files above only: nothing inline runs.
CSP: Final = (
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
POLL_S: Final = 0.5  # how often the live feed looks at the room's version
HEARTBEAT_S: Final = 10.0  # a comment line that keeps proxies from closing an idle feed
REFRESH_S: Final = 30.0  # re-read even without a change: the current slot moves with time
# The page's heartbeat (GET /tablet/timeline) every PING_S; a request (heartbeat or
# check-in) unanswered after DEADLINE_S counts the server unreachable, so a half-open
# connection shows the offline banner within about PING_S + DEADLINE_S.
PING_S: Final = 5.0
DEADLINE_S: Final = 5.0
TAG = "door tablet"


class TabletApi(Api):
    """The tablet's routes, plus what its live feeds need: a stop signal set when the app
    shuts down, so open streams end before aiohttp waits for handlers to finish."""

    def add_to(self, app: web.Application) -> None:
        """Register the routes and the shutdown hook that ends every live feed."""
        super().add_to(app)
        app[streams_stop_key] = asyncio.Event()
        app.on_shutdown.append(_stop_streams)


streams_stop_key: Final = web.AppKey("tablet_streams_stop", asyncio.Event)
routes = TabletApi(prefix="", documented=False)


async def _stop_streams(app: web.Application) -> None:
    app[streams_stop_key].set()


def _language(request: web.Request) -> str:
    """?lang= when the catalogs speak it, else the community's language."""
    default = request.app[settings_key].community.default_language
    return language_for(request.query.get("lang"), default)


def _lang_query(request: web.Request, lang: str) -> str:
    """ "?lang=…" for a language other than the community's (which needs no query)."""
    default = request.app[settings_key].community.default_language
    return "" if lang == default else f"?lang={lang}"


async def door(request: web.Request) -> Principal:
    """The door token behind the tablet's cookie (or a Bearer header); 401 without one,
    403 for a token that is not a door's."""
    token = request.cookies.get(COOKIE) or bearer_token(request)
    who = await auth.authenticate(request.app[store_key], token, request.app[clock_key]())
    if who.role is not Role.DOOR or who.room_id is None:
        raise PermissionDeniedError("only a door token may use the tablet", code="forbidden")
    return who


async def _timeline(request: web.Request, room_id: int, day: date | None = None) -> Timeline:
    settings = request.app[settings_key]
    return await tablet.timeline(
        request.app[store_key].reader,
        room_id,
        day=day,
        now=request.app[clock_key](),
        tz=settings.tz,
    )


def _html(status: int, lang: str, **context: object) -> web.Response:
    response = page("tablet.html", status, lang=lang, t=area("tablet", lang), **context)
    response.headers["Content-Security-Policy"] = CSP
    return response


@routes.route(
    "GET",
    "/tablet",
    summary="The door tablet's kiosk page (signs in with ?token= once, then by cookie)",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(401, 403),
)
async def tablet_page(request: web.Request) -> web.StreamResponse:
    """?token=<door token> sets the HttpOnly cookie and redirects to /tablet (303)."""
    lang = _language(request)
    community = request.app[settings_key].community.name
    suffix = _lang_query(request, lang)
    given = request.query.get("token")
    try:
        if given:
            who = await auth.authenticate(request.app[store_key], given, request.app[clock_key]())
            if who.role is not Role.DOOR:
                raise PermissionDeniedError("not a door token", code="forbidden")
            response = web.Response(status=303, headers={"Location": f"/tablet{suffix}"})
            response.set_cookie(
                COOKIE,
                given,
                max_age=COOKIE_MAX_AGE,
                path="/tablet",
                httponly=True,
                samesite="Strict",
                secure=request.secure,
            )
            response.headers["Referrer-Policy"] = "no-referrer"
            return response
        who = await door(request)
    except (AuthenticationError, PermissionDeniedError) as exc:
        problem = "forbidden" if exc.status == 403 else "signed_out"
        return _html(exc.status, lang, community=community, problem=problem, data=None)
    found = await _timeline(request, who.room_id or 0)
    settings = request.app[settings_key]
    data = {
        "lang": lang,
        "tz": settings.community.timezone,
        "text": dict(area("tablet", lang)),
        "heartbeat_ms": int(PING_S * 1000),
        "deadline_ms": int(DEADLINE_S * 1000),
        "timeline": jsonable(found, settings.tz),
    }
    other = "/tablet" + _lang_query(request, "zh-CN" if lang == "en" else "en")
    return _html(
        200, lang, community=community, problem="", data=data, room=found.room_name, other=other
    )


@routes.route(
    "GET",
    r"/tablet/{name:(?:tablet\.(?:js|css)|sw\.js)}",
    summary="The tablet page's script, style sheet and service worker",
    tag=TAG,
    roles=None,
    response_media="text/plain",
    errors=(404,),
)
async def tablet_asset(request: web.Request) -> web.Response:
    """Served as files so the page's Content-Security-Policy allows no inline code."""
    name = request.match_info["name"]
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if name == "sw.js":
        # The worker lives under /tablet/ but keeps the page itself, /tablet.
        headers["Service-Worker-Allowed"] = "/tablet"
    return web.Response(
        text=_asset(name), content_type=ASSET_TYPES[name], charset="utf-8", headers=headers
    )


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


class DayQuery(Query):
    """Which day of the door's room to show."""

    day: date | None = Field(None, description="YYYY-MM-DD, today to 7 days on; default today")


@routes.route(
    "GET",
    "/tablet/timeline",
    summary="The door's room: a day's bookings and events (names masked)",
    tag=TAG,
    roles=None,
    query=DayQuery,
    response=Timeline,
    errors=(401, 403),
)
async def tablet_timeline(request: web.Request, query: DayQuery) -> web.Response:
    """The tablet's cookie or a door token; a day outside today..+7 is 403 day_out_of_scope."""
    who = await door(request)
    return reply(request, await _timeline(request, who.room_id or 0, query.day))


@routes.route(
    "GET",
    "/tablet/stream",
    summary="Server-sent events: the door's timeline whenever its bookings or check-ins change",
    tag=TAG,
    roles=None,
    response_media="text/event-stream",
    errors=(401, 403),
)
async def tablet_stream(request: web.Request) -> web.StreamResponse:
    """`event: timeline` with the day's timeline as JSON, at once and on every change of
    the room (polled every 0.5 s, so changes from any process show), and a
    heartbeat comment; ends when the client goes or the app shuts down."""
    who = await door(request)
    room_id = who.room_id or 0
    reader = request.app[store_key].reader
    tz = request.app[settings_key].tz
    stop = request.app[streams_stop_key]
    response = await open_stream(request)
    seen: tuple[str, str] | None = None
    refreshed = beat = time.monotonic()
    try:
        while not stop.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            signature = await tablet.room_signature(reader, room_id)
            now = time.monotonic()
            if seen is None or signature != seen[0] or now - refreshed >= REFRESH_S:
                refreshed = now
                found = await _timeline(request, room_id)
                entries = json.dumps(jsonable(found.entries, tz), ensure_ascii=False)
                if seen is None or (signature, entries) != seen:
                    seen = (signature, entries)
                    body = json.dumps(jsonable(found, tz), ensure_ascii=False)
                    await response.write(f"event: timeline\ndata: {body}\n\n".encode())
                    beat = now
            if now - beat >= HEARTBEAT_S:
                await response.write(b": heartbeat\n\n")
                beat = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
    except (ConnectionResetError, ServiceError):
        pass  # the tablet went away, or its room was deleted: the feed just ends
    return response


@routes.route(
    "POST",
    "/tablet/checkins",
    summary="Check in at the door's own room (the tablet's cookie or a door token)",
    tag=TAG,
    roles=None,
    body=CheckinIn,
    response=CheckinOutcome,
    status=201,
    errors=(401, 403, 404, 409),
)
async def tablet_checkin(request: web.Request, body: CheckinIn) -> web.Response:
    """Refusals: 404 unknown_code; 409 wrong_room, not_today, cancelled, already_checked_in
    (with checked_in_at). A nonce already applied returns the first outcome (200)."""
    who = await door(request)
    outcome = await checkin.check_in(
        request.app[store_key],
        code=body.code,
        room_id=who.room_id,
        event_id=body.event_id,
        party_size=body.party_size,
        walk_ins=body.walk_ins,
        nonce=body.nonce,
        via="tablet",
        device=who.name,
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        points=request.app[settings_key].passbook,
    )
    return reply(request, outcome, 200 if outcome.repeated else 201)

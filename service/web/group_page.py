"""The group page behind a group chat's post (/g/<token>): the event, a unit form that
sends a one-time code to that household's own channel, and a code form that opens the
resident's own RSVP page (where the answer is given, as from any personal link)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..core.errors import ServiceError, TooManyRequestsError
from ..core.i18n import date_text, time_text
from ..core.models import Event, EventStatus
from ..core.phrases import area
from ..domain import group_page
from ..domain.events import get_event
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.links import read_group_token, rsvp_token
from ..messages.plan import room_name_of
from ..store import chat_groups as chat_group_sql
from .jsonio import read_form
from .pages import not_found_page, page
from .routing import Api, RawBody

# A resident's page in a browser, not part of the API document.
routes = Api(documented=False)
TAG = "group page"


async def _event_of(request: web.Request) -> tuple[Event, str] | None:
    """The event and group language a live group token names; None for a bad token, a
    deleted group or event, or an event no longer taking answers."""
    key = request.app[delivery_key].ready().links.key
    ids = read_group_token(key, request.match_info["token"])
    if ids is None:
        return None
    store = request.app[store_key]
    group = await chat_group_sql.get(store.reader, ids[1])
    if group is None:
        return None
    try:
        event = await get_event(store, ids[0])
    except ServiceError:
        return None
    if event.status is not EventStatus.PUBLISHED:
        return None
    return event, group.language.value


async def _render(
    request: web.Request,
    event: Event,
    lang: str,
    status: int = 200,
    *,
    step: str = "unit",
    unit: str = "",
    sent: str = "",
    problem: str = "",
) -> web.Response:
    settings = request.app[settings_key]
    tz = settings.tz
    starts, ends = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    same_day = starts.date() == ends.date()
    room = await room_name_of(request.app[store_key].reader, event)
    context: dict[str, Any] = {
        "lang": lang,
        "t": area("group_page", lang),
        "words": area("rsvp_page", lang),
        "community": settings.community.name,
        "event": event,
        "when": f"{date_text(starts, lang)}–"
        f"{time_text(ends) if same_day else date_text(ends, lang)}",
        "place": ", ".join(dict.fromkeys(p for p in (room, event.location) if p)),
        "action": f"/g/{request.match_info['token']}",
        "step": step,
        "unit": unit,
        "sent": sent,
        "problem": problem,
        "closed": False,
    }
    return page("group.html", status, **context)


def _problem(text: Mapping[str, str], error: ServiceError) -> str:
    """A refusal in the resident's words."""
    if isinstance(error, TooManyRequestsError):
        return text["too_many"]
    if error.code == "event_closed":
        return text["closed"]
    if error.code in ("wrong_code", "invalid_code"):
        return text["wrong_code"]
    return text["bad_unit"]


@routes.route(
    "GET",
    "/g/{token}",
    summary="A group post's page: the event and a unit form (changes nothing)",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def group_page_view(request: web.Request) -> web.Response:
    """Link previews in the group fetch this too, so it only reads."""
    found = await _event_of(request)
    if found is None:
        return not_found_page(request)
    return await _render(request, *found)


@routes.route(
    "POST",
    "/g/{token}",
    summary="Send a one-time code to the residents of the unit given (unit)",
    tag=TAG,
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "unit: the household's unit label"),
    response_media="text/html",
    errors=(400, 404, 409, 429),
    prefixed=False,
)
async def group_page_unit(request: web.Request) -> web.Response:
    """The same answer whether or not the unit is known (the page does not tell who lives
    where); the code goes to the residents' own channels."""
    found = await _event_of(request)
    if found is None:
        return not_found_page(request)
    event, lang = found
    text = area("group_page", lang)
    unit = str((await read_form(request)).get("unit", ""))[:100]
    try:
        done = await group_page.send_code(
            request.app[store_key],
            request.app[delivery_key].ready(),
            event.id,
            unit,
            now=request.app[clock_key](),
        )
    except ServiceError as exc:
        return await _render(
            request, event, lang, exc.status, unit=unit, problem=_problem(text, exc)
        )
    sent = text["code_sent"].format(unit=done.unit)
    return await _render(request, event, lang, step="code", unit=done.unit, sent=sent)


@routes.route(
    "POST",
    "/g/{token}/code",
    summary="Check a one-time code (unit, code) and open the resident's own RSVP page",
    tag=TAG,
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "unit, and the 6-digit code sent"),
    response_media="text/html",
    errors=(400, 404, 409),
    prefixed=False,
)
async def group_page_code(request: web.Request) -> web.Response:
    """303 to the resident's RSVP page (/r/…), which takes the answer; a wrong code shows
    the code form again with the problem."""
    found = await _event_of(request)
    if found is None:
        return not_found_page(request)
    event, lang = found
    text = area("group_page", lang)
    form = await read_form(request)
    unit = str(form.get("unit", ""))[:100]
    key = request.app[delivery_key].ready().links.key
    try:
        resident_id = await group_page.check_code(
            request.app[store_key],
            key,
            event.id,
            unit,
            str(form.get("code", ""))[:20],
            now=request.app[clock_key](),
        )
    except ServiceError as exc:
        return await _render(
            request, event, lang, exc.status, step="code", unit=unit, problem=_problem(text, exc)
        )
    return web.Response(
        status=303, headers={"Location": f"/r/{rsvp_token(key, event.id, resident_id)}"}
    )

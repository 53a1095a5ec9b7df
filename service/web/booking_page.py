"""The resident's booking page behind their signed link (/b/{token}): the room's rules,
the week with names masked, their own bookings and a form to request a slot. The
organisers' API is bookings.py."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from ..core.checkin_codes import qr_svg
from ..core.clock import in_years
from ..core.errors import NotFoundError, ServiceError, ValidationError
from ..core.i18n import date_text
from ..core.phrases import area, language_for
from ..domain import booking_rules, bookings
from ..domain.bookings import WEEKS_MAX, BookingRequest
from ..domain.room_week import in_time_order, resident_week_start, week_view
from ..domain.rooms import WEEKDAYS
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.compose import when_text
from ..messages.links import passbook_token, read_booking_token
from ..store import bookings as booking_sql
from ..store import rooms as room_sql
from .bookings import local_today
from .jsonio import read_form, read_int
from .pages import not_found_page, page
from .routing import Api, RawBody

# A resident's page in a browser, not part of the API document.
routes = Api(documented=False)
_MAX_NONCE: Final = 100


async def _resident(request: web.Request) -> tuple[int, str, str] | None:
    """(resident id, name, page language) the link names, or None."""
    key = request.app[delivery_key].ready().links.key
    resident_id = read_booking_token(key, request.match_info["token"])
    if resident_id is None:
        return None
    found = await booking_sql.household_of(request.app[store_key].reader, resident_id)
    if found is None:
        return None
    _, name, language = found
    default = request.app[settings_key].community.default_language
    return resident_id, name, language_for(language, default)


async def _refused(
    request: web.Request, who: tuple[int, str, str], exc: ServiceError
) -> web.Response:
    """This week's page saying the form could not be taken (with the error's status)."""
    return await _render(
        request,
        who,
        room_id=None,
        start=local_today(request),
        status=exc.status,
        problem=area("booking_page", who[2])["form"],
    )


def _int(raw: object, default: int | None = None) -> int | None:
    found = read_int(raw)
    return default if found is None else found


def _week_start(raw: object, today: date) -> date:
    """The first day of the week holding the date the link asks for (see
    room_week.resident_week_start); today's for a date that is not one, or is out of range."""
    asked = None
    if isinstance(raw, str):
        try:
            asked = date.fromisoformat(raw)
        except ValueError:
            asked = None
    return resident_week_start(asked if asked is not None and in_years(asked) else None, today)


# A skipped week of a series, as the redirect after a request carries it: date:code.
_SKIPPED_MAX = 20


def _skipped(raw: str) -> list[tuple[date, str]]:
    """The (date, refusal code) pairs of ?skipped=, well-formed ones only."""
    found: list[tuple[date, str]] = []
    for item in raw.split(",")[:_SKIPPED_MAX]:
        day, _, code = item.strip().partition(":")
        try:
            found.append((date.fromisoformat(day), code))
        except ValueError:
            continue
    return found


async def _render(
    request: web.Request,
    who: tuple[int, str, str],
    *,
    room_id: int | None,
    start: date,
    status: int = 200,
    saved: str = "",
    problem: str = "",
    form: Mapping[str, str] | None = None,
    skipped: str = "",
) -> web.Response:
    """The resident's page: rules, the week, their bookings and the request form."""
    resident_id, name, lang = who
    text = area("booking_page", lang)
    found = await booking_sql.household_of(request.app[store_key].reader, resident_id)
    home = found[0] if found else 0
    settings = request.app[settings_key]
    tz = settings.tz
    store = request.app[store_key]
    now = request.app[clock_key]()
    rooms = await room_sql.list_rooms(store.reader)
    room = next((r for r in rooms if r.id == room_id), rooms[0] if rooms else None)
    week = None
    days = []
    if room is not None:
        week = await week_view(
            store, room.id, start, tz=tz, masked=True, resident_id=resident_id, now=now
        )
        days = [(day, in_time_order(day)) for day in week.days]
        # Each week the series skipped, with the rule that refused it.
        for day, code in _skipped(skipped):
            reason = booking_rules.refusal_text(room, code, day, lang) or text["form"]
            saved = " ".join(
                filter(None, (saved, text["skipped_why"].format(date=day, reason=reason)))
            )
    mine, _ = await booking_sql.list_bookings(
        store.reader, resident_id=resident_id, after=now, limit=50
    )
    own = [
        {
            "booking": b,
            "room": next((r.name for r in rooms if r.id == b.room_id), ""),
            "when": when_text(b, tz, lang),
            "status": text[f"status_{b.status}"],
            "live": b.status in booking_sql.LIVE,
            "qr": Markup(qr_svg(b.checkin_code))
            if b.checkin_code and b.status == "confirmed"
            else "",
        }
        for b in mine
    ]
    token = request.match_info["token"]
    base = f"/b/{token}"
    today = now.astimezone(tz).date()
    nav = {}
    if room is not None:
        # No week before this one: the past is not offered.
        for label, step in (("prev", -7), ("next", 7)):
            if label == "next" or start > today:
                nav[label] = f"{base}?" + urlencode(
                    {"room": room.id, "start": (start + timedelta(days=step)).isoformat()}
                )
    default_day = max(start, today)
    values = {"date": default_day.isoformat(), "start": "", "end": "", "weeks": "1", "title": ""}
    values.update(form or {})
    return page(
        "booking.html",
        status,
        lang=lang,
        t=text,
        community=settings.community.name,
        resident_name=name,
        passbook_page=f"/p/{passbook_token(request.app[delivery_key].ready().links.key, home)}",
        rooms=rooms,
        room=room,
        week=week,
        days=days,
        this_week=start == today,
        first_day=today.isoformat(),
        weekdays=WEEKDAYS,
        own=own,
        action=base,
        cancel_action=f"{base}/cancel",
        nav=nav,
        nonce=secrets.token_urlsafe(16),
        values=values,
        weeks=range(1, WEEKS_MAX + 1),
        saved=saved,
        problem=problem,
        today=date_text(now.astimezone(tz), lang),
    )


@routes.route(
    "GET",
    "/b/{token}",
    summary="A resident's booking page: rules, week view, their bookings, a request form",
    tag="booking page",
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def booking_page(request: web.Request) -> web.Response:
    """Only reads (link previews fetch it too); ?room= and ?start= pick the week."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    text = area("booking_page", who[2])
    saved = ""
    if request.query.get("saved") in ("confirmed", "pending"):
        saved = text[f"saved_{request.query['saved']}"]
    elif request.query.get("saved") == "cancelled":
        saved = text["cancelled"]
    return await _render(
        request,
        who,
        room_id=_int(request.query.get("room")),
        start=_week_start(request.query.get("start"), local_today(request)),
        saved=saved,
        skipped=request.query.get("skipped", ""),
    )


def _form_request(form: Mapping[str, Any], resident_id: int, tz: Any) -> tuple[BookingRequest, str]:
    """A booking request from the page's form (local date and times), and its nonce."""
    room_id = _int(form.get("room_id"))
    if room_id is None:
        raise ValidationError.field("room_id", "choose a room")
    try:
        day = date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        raise ValidationError.field("date", "must be a date YYYY-MM-DD") from None
    moments: list[datetime] = []
    for name in ("start", "end"):
        try:
            moments.append(datetime.combine(day, time.fromisoformat(str(form.get(name, ""))), tz))
        except ValueError:
            raise ValidationError.field(name, "must be a time HH:MM") from None
    weeks = _int(form.get("weeks"), 1) or 1
    party = _int(form.get("party_size"), 1) or 1
    nonce = form.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE:
        raise ValidationError.field("nonce", "is not one this page made", code="invalid_nonce")
    title = form.get("title", "")
    return (
        BookingRequest(
            room_id=room_id,
            starts_at=moments[0],
            ends_at=moments[1],
            resident_id=resident_id,
            title=title if isinstance(title, str) else "",
            party_size=party,
            weeks=weeks,
            booked_by="resident",
            request_key=f"page:{resident_id}:{nonce}",
        ),
        nonce,
    )


def _problem(text: Mapping[str, str], error: ServiceError) -> str:
    """A refusal in the resident's words: rule refusals already are; the rest is generic."""
    if error.code in booking_rules.RULE_FIELD:
        return error.message
    return text["form"]


@routes.route(
    "POST",
    "/b/{token}",
    summary="Request a slot from the booking page's form; 303 back to the page",
    tag="booking page",
    roles=None,
    body=RawBody(
        "application/x-www-form-urlencoded",
        "room_id, date (YYYY-MM-DD), start and end (HH:MM, local), weeks, party_size, title"
        " and the page's nonce, which makes a repeated submission book nothing twice",
    ),
    response_media="text/html",
    errors=(400, 404, 409),
    prefixed=False,
)
async def booking_submit(request: web.Request) -> web.Response:
    """Post/Redirect/Get: 303 to the page saying what was booked (and which weeks were
    not); a refused request gets the page with the broken rule named (400 or 409)."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    tz = request.app[settings_key].tz
    room_id = _int(form.get("room_id"))
    start = _week_start(form.get("date"), local_today(request))
    try:
        booking_request, _ = _form_request(form, who[0], tz)
        delivery = request.app[delivery_key]
        result = await bookings.request_booking(
            request.app[store_key],
            booking_request,
            now=request.app[clock_key](),
            tz=tz,
            composer=delivery.ready(),
        )
    except ServiceError as exc:
        if isinstance(exc, NotFoundError):
            return not_found_page(request)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "nonce"}
        return await _render(
            request,
            who,
            room_id=room_id,
            start=start,
            status=exc.status,
            problem=_problem(area("booking_page", who[2]), exc),
            form=values,
        )
    query: dict[str, object] = {
        "room": booking_request.room_id,
        "start": start.isoformat(),
        "saved": result.bookings[0].status,
    }
    if result.conflicts:
        query["skipped"] = ",".join(f"{c.date}:{c.code}" for c in result.conflicts)
    return web.Response(
        status=303, headers={"Location": f"/b/{request.match_info['token']}?{urlencode(query)}"}
    )


@routes.route(
    "POST",
    "/b/{token}/cancel",
    summary="Cancel one of the resident's own bookings from the page; 303 back",
    tag="booking page",
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "booking_id and the page's nonce"),
    response_media="text/html",
    errors=(404, 409),
    prefixed=False,
)
async def booking_cancel(request: web.Request) -> web.Response:
    """Only the link's resident's bookings; cancelling twice changes nothing."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    booking_id = _int(form.get("booking_id"))
    if booking_id is None:
        return not_found_page(request)
    if form.get("confirm") != "yes":
        # Only the form's second button cancels: the page asks once first.
        return await _render(
            request,
            who,
            room_id=None,
            start=local_today(request),
            status=400,
            problem=area("booking_page", who[2])["confirm_first"],
        )
    tz = request.app[settings_key].tz
    delivery = request.app[delivery_key]
    try:
        cancelled = await bookings.cancel(
            request.app[store_key],
            booking_id,
            now=request.app[clock_key](),
            tz=tz,
            composer=delivery.ready(),
            resident_id=who[0],
        )
    except NotFoundError:
        return not_found_page(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    query = urlencode({"room": cancelled.room_id, "saved": "cancelled"})
    return web.Response(
        status=303, headers={"Location": f"/b/{request.match_info['token']}?{query}"}
    )

"""Room bookings: the organisers' API (/api/v1/rooms/{id}/bookings, the week view, the
approval queue). The resident's page behind their signed link (/b/{token}) is
booking_page.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Final

from aiohttp import web
from pydantic import AwareDatetime, Field

from ..core.errors import NotFoundError
from ..core.models import Page
from ..domain import bookings, rooms
from ..domain.bookings import WEEKS_MAX, BookingRequest, BookingResult
from ..domain.room_week import Week, week_view
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..store.bookings import Booking
from .jsonio import LINE, MAX_ID, Body, Query, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, principal

routes = Api()
# A step on one booking: (store, booking id, now=, tz=, composer=) -> the booking after it.
Step = Callable[..., Awaitable[Booking]]
TAG = "bookings"
STATUSES: Final = ("pending", "confirmed", "declined", "cancelled")
_MAX_NONCE: Final = 100


class BookingIn(Body):
    """A booking an organiser makes (for a resident, or for the community)."""

    starts_at: AwareDatetime = Field(description="With its offset, e.g. 2026-12-05T14:00:00+08:00")
    ends_at: AwareDatetime
    resident_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Whose booking (counts for their household)"
    )
    title: str = Field("", max_length=bookings.TITLE_MAX, json_schema_extra=LINE)
    party_size: int = Field(1, ge=1, le=bookings.PARTY_MAX)
    note: str = Field("", max_length=bookings.NOTE_MAX, json_schema_extra=LINE)
    weeks: int = Field(1, ge=1, le=WEEKS_MAX, description="Repeat weekly this many times")
    override_rules: bool = Field(
        False,
        description="Skip the room's rules (length, notice, days ahead, household limit,"
        " hours, closed dates); overlaps are refused all the same",
    )
    language: str = Field(
        "zh-CN", pattern="^(zh-CN|en)$", description="Refusals' language with no resident"
    )
    request_key: str | None = Field(
        None, min_length=1, max_length=_MAX_NONCE, description="Makes a retry book nothing twice"
    )


class DecisionIn(Body):
    """An optional word to the resident with a decision (a reason for declining)."""

    reason: str = Field(
        "", max_length=bookings.NOTE_MAX, json_schema_extra=LINE, description="Shown in the message"
    )


class BookingQuery(PageQuery):
    """Filter bookings by status."""

    status: str | None = Field(None, pattern="^(pending|confirmed|declined|cancelled)$")


class WeekQuery(Query):
    """The week's first day (local); today when left out."""

    start: date | None = Field(None, description="YYYY-MM-DD")


def _room_id(request: web.Request) -> int:
    return path_id(request, "room_not_found", "room")


async def _in_room(request: web.Request) -> Booking:
    """The path's booking, which must be the path's room's."""
    room_id = _room_id(request)
    booking_id = path_id(request, "booking_not_found", "booking", "bid")
    found = await bookings.get_booking(request.app[store_key], booking_id)
    if found.room_id != room_id:
        raise NotFoundError(f"no booking {booking_id} in room {room_id}", code="booking_not_found")
    return found


def staff_request(body: BookingIn, room_id: int, *, by: str, source: str) -> BookingRequest:
    """A staff member's booking body as the domain's request; `source` ("api", "console")
    keeps one path's request keys apart from another's."""
    return BookingRequest(
        room_id=room_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        resident_id=body.resident_id,
        title=body.title,
        party_size=body.party_size,
        note=body.note,
        weeks=body.weeks,
        booked_by=f"organiser:{by}",
        override_rules=body.override_rules,
        language=body.language,
        request_key=None if body.request_key is None else f"{source}:{body.request_key}",
    )


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings",
    summary="Book a room (weekly for `weeks` weeks); conflicting weeks are reported",
    tag=TAG,
    roles=STAFF,
    body=BookingIn,
    response=BookingResult,
    status=201,
    errors=(404, 409),
)
async def create_booking(request: web.Request, body: BookingIn) -> web.Response:
    """Every week that fits is booked (confirmed: staff need no approval); each week that
    does not is listed in `conflicts` with its date and rule code. When none fits: 409 with
    the first refusal's code (rule_max_length, rule_min_notice, rule_days_ahead,
    rule_household_week, room_closed, outside_hours, slot_taken)."""
    delivery = request.app[delivery_key]
    result = await bookings.request_booking(
        request.app[store_key],
        staff_request(body, _room_id(request), by=principal(request).name, source="api"),
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        composer=delivery.ready(),
    )
    return reply(request, result, 200 if result.repeated else 201)


async def _page(request: web.Request, query: BookingQuery, room_id: int | None) -> web.Response:
    items, total = await bookings.list_bookings(
        request.app[store_key],
        room_id=room_id,
        status=query.status,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, Page(tuple(items), total, query.limit, query.offset))


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/bookings",
    summary="List a room's bookings",
    tag=TAG,
    roles=STAFF,
    query=BookingQuery,
    response=ListOf(Booking),
)
async def list_room_bookings(request: web.Request, query: BookingQuery) -> web.Response:
    """By start time."""
    room_id = _room_id(request)
    await rooms.get_room(request.app[store_key], room_id)
    return await _page(request, query, room_id)


@routes.route(
    "GET",
    "/bookings",
    summary="List bookings of every room; ?status=pending is the approval queue",
    tag=TAG,
    roles=STAFF,
    query=BookingQuery,
    response=ListOf(Booking),
)
async def list_all_bookings(request: web.Request, query: BookingQuery) -> web.Response:
    """By start time."""
    return await _page(request, query, None)


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}",
    summary="Get a booking",
    tag=TAG,
    roles=STAFF,
    response=Booking,
)
async def get_booking(request: web.Request) -> web.Response:
    """One booking of the room."""
    return reply(request, await _in_room(request))


async def _act(request: web.Request, step: Step) -> web.Response:
    """Run one step on the path's booking with what every step needs, and reply with it."""
    await _in_room(request)
    delivery = request.app[delivery_key]
    done = await step(
        request.app[store_key],
        path_id(request, "booking_not_found", "booking", "bid"),
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        composer=delivery.ready(),
    )
    return reply(request, done)


def _decide(request: web.Request, body: DecisionIn, confirm: bool) -> Step:
    by = f"organiser:{principal(request).name}"
    return partial(bookings.decide, confirm=confirm, reason=body.reason, by=by)


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/confirm",
    summary="Confirm a pending booking (it gets its check-in code)",
    tag=TAG,
    roles=STAFF,
    body=DecisionIn,
    response=Booking,
    errors=(404, 409),
)
async def confirm_booking(request: web.Request, body: DecisionIn) -> web.Response:
    """Confirming again changes nothing; a declined or cancelled one is 409."""
    return await _act(request, _decide(request, body, True))


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/decline",
    summary="Decline a pending booking (its slot frees)",
    tag=TAG,
    roles=STAFF,
    body=DecisionIn,
    response=Booking,
    errors=(404, 409),
)
async def decline_booking(request: web.Request, body: DecisionIn) -> web.Response:
    """Declining again changes nothing; a confirmed or cancelled one is 409."""
    return await _act(request, _decide(request, body, False))


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/cancel",
    summary="Cancel a booking (its slot frees, its reminder is not sent)",
    tag=TAG,
    roles=STAFF,
    response=Booking,
    errors=(404, 409),
)
async def cancel_booking(request: web.Request) -> web.Response:
    """Cancelling again changes nothing; an event's hold is 409 event_booking."""
    return await _act(request, bookings.cancel)


@routes.route(
    "DELETE",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}",
    summary="Cancel a booking (the same as POST .../cancel; the row stays, cancelled)",
    tag=TAG,
    roles=STAFF,
    response=Booking,
    errors=(404, 409),
)
async def delete_booking(request: web.Request) -> web.Response:
    """Cancelling again changes nothing."""
    return await _act(request, bookings.cancel)


def local_today(request: web.Request) -> date:
    """Today in the community's time zone."""
    return request.app[clock_key]().astimezone(request.app[settings_key].tz).date()


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/week",
    summary="A room's week: each day's opening hours, taken and free slots",
    tag=TAG,
    roles=STAFF,
    query=WeekQuery,
    response=Week,
)
async def room_week(request: web.Request, query: WeekQuery) -> web.Response:
    """Times are local HH:MM within each day; taken slots name who holds them (residents'
    own page shows the same view with names masked)."""
    week = await week_view(
        request.app[store_key],
        _room_id(request),
        query.start or local_today(request),
        tz=request.app[settings_key].tz,
        masked=False,
    )
    return reply(request, week)

"""/api/v1/events, and the request-time helpers other route modules share."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Final

from aiohttp import web
from pydantic import AfterValidator, BeforeValidator, Field

from ..core.clock import YEARS_TEXT, in_years, localize
from ..core.errors import ValidationError
from ..core.models import Channel, Event, EventKind, EventStatus
from ..domain import events, sending, subscriptions
from ..domain.events import (
    CAPACITY_MAX,
    PARTY_MAX,
    REMINDER_HOURS_MAX,
    REMINDERS_MAX,
    TAG_MAX,
    TAGS_MAX,
)
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import LINE, MAX_ID, TEXT, Body, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "events"
_TIME_HELP: Final = "ISO 8601; with an offset, or without one meaning the community's local time"


def _plausible_year(value: date) -> date:
    # Within these years every time converts to UTC and back without overflowing.
    if not in_years(value):
        raise ValueError(YEARS_TEXT)
    return value


def _plausible_time(value: datetime) -> datetime:
    _plausible_year(value)
    return value


# A `+` in an unencoded query string arrives as a space: '09:00 08:00' meant '09:00+08:00'.
_LOST_PLUS = re.compile(r"(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)")


def _day_or_time(value: Any) -> Any:
    """A query value as a date (YYYY-MM-DD) or a datetime (anything longer)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    # Only a plausible length goes to the regex: no time takes more than 40 characters.
    lost = _LOST_PLUS.fullmatch(text) if len(text) <= 40 else None
    if lost:
        text = f"{lost[1]}+{lost[2]}"
    try:
        if len(text) <= 10 and "T" not in text:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "expected an ISO 8601 date (2026-12-05) or date and time (2026-12-05T09:00)"
        ) from None


# A request time: aware, or naive meaning community local time (see clock.localize).
Moment = Annotated[datetime, AfterValidator(_plausible_time)]
# A date or a time bounding a range.
DayOrMoment = Annotated[
    datetime | date, BeforeValidator(_day_or_time), AfterValidator(_plausible_year)
]
Tag = Annotated[str, Field(max_length=TAG_MAX, json_schema_extra=LINE)]
# Hours before an event's start (reminders, the nudge).
Hours = Annotated[int, Field(ge=1, le=REMINDER_HOURS_MAX)]
_REMINDER_HELP: Final = (
    "Hours before the start at which those who said yes are reminded (each once); [] for none"
)
_NUDGE_HELP: Final = "Hours before the start at which those who have not answered are nudged"
_CHANNELS_HELP: Final = (
    "Channels its messages may use; each resident's own order decides among them, and a"
    " resident with none of these counts as unreachable. Empty: every channel"
)


class EventIn(Body):
    """A new event (created as a draft)."""

    kind: EventKind
    title: str = Field(min_length=1, max_length=200, json_schema_extra=LINE)
    starts_at: Moment = Field(description=_TIME_HELP)
    ends_at: Moment = Field(description=f"{_TIME_HELP}; after starts_at")
    description: str = Field("", max_length=5000, json_schema_extra=TEXT)
    location: str = Field("", max_length=200, json_schema_extra=LINE)
    room_id: int | None = Field(None, ge=1, le=MAX_ID, description="The room it takes place in")
    capacity: int | None = Field(
        None,
        ge=0,
        le=CAPACITY_MAX,
        description="People admitted; null: no limit, or the room's capacity when in a room",
    )
    max_party_size: int = Field(1, ge=1, le=PARTY_MAX, description="People one answer may bring")
    rsvp_deadline: Moment | None = Field(None, description=f"{_TIME_HELP}; at most starts_at")
    audience_tags: list[Tag] = Field(
        default_factory=list,
        max_length=TAGS_MAX,
        description="Residents having any of these tags; empty: everyone",
    )
    reminder_hours: list[Hours] = Field(
        default_factory=lambda: [24, 2], max_length=REMINDERS_MAX, description=_REMINDER_HELP
    )
    nudge_hours: Hours | None = Field(48, description=f"{_NUDGE_HELP}; null: no nudge")
    channels: list[Channel] = Field(default_factory=list, description=_CHANNELS_HELP)


class EventPatch(Patch):
    """Fields of an event to change; null clears room_id, capacity, rsvp_deadline and
    nudge_hours."""

    nullable = frozenset({"room_id", "capacity", "rsvp_deadline", "nudge_hours"})

    kind: EventKind | None = None
    title: str | None = Field(None, min_length=1, max_length=200, json_schema_extra=LINE)
    starts_at: Moment | None = Field(None, description=_TIME_HELP)
    ends_at: Moment | None = Field(None, description=_TIME_HELP)
    description: str | None = Field(None, max_length=5000, json_schema_extra=TEXT)
    location: str | None = Field(None, max_length=200, json_schema_extra=LINE)
    room_id: int | None = Field(None, ge=1, le=MAX_ID)
    capacity: int | None = Field(None, ge=0, le=CAPACITY_MAX)
    max_party_size: int | None = Field(None, ge=1, le=PARTY_MAX)
    rsvp_deadline: Moment | None = Field(None, description=_TIME_HELP)
    audience_tags: list[Tag] | None = Field(None, max_length=TAGS_MAX)
    reminder_hours: list[Hours] | None = Field(
        None, max_length=REMINDERS_MAX, description=_REMINDER_HELP
    )
    nudge_hours: Hours | None = Field(None, description=f"{_NUDGE_HELP}; null: no nudge")
    channels: list[Channel] | None = Field(None, description=_CHANNELS_HELP)


class EventQuery(PageQuery):
    """Filter events by status and by when they start."""

    status: list[EventStatus] = Field(
        default_factory=list, description="Repeat for several; none: every status"
    )
    starts_from: DayOrMoment | None = Field(
        None,
        alias="from",
        description="Events starting at or after this date or time (naive: community time)",
    )
    starts_to: DayOrMoment | None = Field(
        None,
        alias="to",
        description="Events starting before this time, or on or before this date",
    )


def _bound(value: date | datetime | None, tz: tzinfo, *, end: bool) -> datetime | None:
    """A range bound as a UTC time; a date as an end bound takes in the whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return localize(value, tz)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def event_times(data: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Request fields with their times made aware and their lists made tuples."""
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        if data.get(name) is not None:
            data[name] = localize(data[name], tz)
    for name in ("audience_tags", "reminder_hours", "channels"):
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    return data


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@routes.route(
    "POST",
    "/events",
    summary="Create an event (as a draft)",
    tag=TAG,
    roles=STAFF,
    body=EventIn,
    response=Event,
    status=201,
    errors=(404,),
)
async def create_event(request: web.Request, body: EventIn) -> web.Response:
    """An unknown room_id is a 404 room_not_found; capacity defaults to the room's."""
    tz = request.app[settings_key].tz
    data = events.EventInput(**event_times(body.model_dump(), tz))
    created = await events.create_event(request.app[store_key], data, now=request.app[clock_key]())
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/events",
    summary="List events",
    tag=TAG,
    roles=STAFF,
    query=EventQuery,
    response=ListOf(Event),
)
async def list_events(request: web.Request, query: EventQuery) -> web.Response:
    """Soonest first; `from` and `to` bound the start time."""
    tz = request.app[settings_key].tz
    starts_from = _bound(query.starts_from, tz, end=False)
    starts_before = _bound(query.starts_to, tz, end=True)
    if starts_from is not None and starts_before is not None and starts_before <= starts_from:
        raise ValidationError.field("to", "must be after from")
    page = await events.list_events(
        request.app[store_key],
        status=query.status,
        starts_from=starts_from,
        starts_before=starts_before,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/events/{id:\d+}",
    summary="Get an event",
    tag=TAG,
    roles=STAFF,
    response=Event,
)
async def get_event(request: web.Request) -> web.Response:
    """One event with its audience tags."""
    return reply(request, await events.get_event(request.app[store_key], _event_id(request)))


@routes.route(
    "PATCH",
    r"/events/{id:\d+}",
    summary="Update a draft or published event",
    tag=TAG,
    roles=STAFF,
    body=EventPatch,
    response=Event,
    errors=(409,),
)
async def update_event(request: web.Request, body: EventPatch) -> web.Response:
    """Only the fields sent change; a cancelled or finished event is 409 event_not_editable."""
    tz = request.app[settings_key].tz
    changes = events.EventChanges(**event_times(body.model_dump(exclude_unset=True), tz))
    delivery = request.app[delivery_key]
    updated = await events.update_event(
        request.app[store_key],
        _event_id(request),
        changes,
        now=request.app[clock_key](),
        after_promotion=delivery.followups().after_promotion,
        after_change=subscriptions.event_changed,
    )
    return reply(request, updated)


@routes.route(
    "POST",
    r"/events/{id:\d+}/publish",
    summary="Publish a draft event",
    tag=TAG,
    roles=STAFF,
    response=Event,
    errors=(409,),
)
async def publish_event(request: web.Request) -> web.Response:
    """Publishing again returns the event unchanged; a cancelled or finished event is 409
    illegal_transition, one that has started 409 event_started."""
    published = await events.publish_event(
        request.app[store_key],
        _event_id(request),
        now=request.app[clock_key](),
        after_change=subscriptions.event_changed,
    )
    return reply(request, published)


class CancelIn(Body):
    """Cancelling an event; the body may be left out (no one is notified then)."""

    notify: bool = Field(
        False,
        description="Send the cancellation message to everyone invited, through the outbox "
        "(as POST /events/{id}/notify with kind cancellation). Default false, as before this "
        "field existed: the event is only marked cancelled. Cancelling again notifies no one.",
    )
    groups: bool = Field(
        False, description="With notify: post the cancellation to the audience's group chats too"
    )


@routes.route(
    "POST",
    r"/events/{id:\d+}/cancel",
    summary="Cancel an event, and tell the invited if notify is true",
    tag=TAG,
    roles=STAFF,
    body=CancelIn,
    response=Event,
    errors=(409,),
)
async def cancel_event(request: web.Request, body: CancelIn) -> web.Response:
    """Cancelling again returns the event unchanged; a finished event is 409
    illegal_transition."""
    delivery = request.app[delivery_key]
    cancelled, _ = await sending.cancel_event(
        request.app[store_key],
        delivery.ready(),
        _event_id(request),
        notify=body.notify,
        now=request.app[clock_key](),
        after_change=subscriptions.event_changed,
        batch=delivery.settings.delivery.enqueue_batch,
        groups=body.groups,
    )
    return reply(request, cancelled)

"""/api/v1/rooms: shared rooms such as the activity room (活动室)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from aiohttp import web
from pydantic import Field

from ..core.models import Room
from ..domain import rooms
from ..domain.rooms import (
    CAPACITY_MAX,
    CLOSED_DATES_MAX,
    LOCATION_MAX,
    NAME_MAX,
    RULE_BOUNDS,
    WEEKDAYS,
)
from ..keys import clock_key, store_key
from ..store.rooms import RULE_COLUMNS
from .jsonio import LINE, Body, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "rooms"


# What rooms.check_opening_hours and check_closed_dates take, said in the document; those
# checks still judge (naming the day or the field, as residents' words) and also refuse
# what a schema cannot state: 2026-02-30, backwards or overlapping ranges.
_HHMM_SCHEMA: Final = {"type": "string", "pattern": r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
Hours = Annotated[
    dict[str, list[list[str]]],
    Field(
        json_schema_extra={
            "propertyNames": {"enum": list(WEEKDAYS)},
            "additionalProperties": {
                "type": "array",
                "items": {"type": "array", "items": _HHMM_SCHEMA, "minItems": 2, "maxItems": 2},
            },
        }
    ),
]
Days = Annotated[
    list[str],
    Field(
        json_schema_extra={
            "maxItems": CLOSED_DATES_MAX,
            "items": {
                "type": "string",
                "format": "date",
                "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            },
        }
    ),
]


def _rule(name: str) -> Any:
    least, most = RULE_BOUNDS[name]
    return Field(ge=least, le=most)


_HOURS_DOC = (
    'Per weekday in local time, e.g. {"mon": [["08:00", "12:00"], ["14:00", "21:00"]]};'
    " a day left out is closed; {} means open all day every day"
)


class RulesIn(Body):
    """The room's rules, written by its residents and kept by organisers."""

    max_booking_minutes: Annotated[int, _rule("max_booking_minutes")] | None = Field(
        None, description="Longest booking in minutes; null: no limit"
    )
    min_notice_minutes: Annotated[int, _rule("min_notice_minutes")] = Field(
        0, description="How long before its start a booking is made"
    )
    max_days_ahead: Annotated[int, _rule("max_days_ahead")] | None = Field(
        None, description="How many days ahead a booking may be made; null: no limit"
    )
    max_per_household_week: Annotated[int, _rule("max_per_household_week")] | None = Field(
        None, description="Bookings per household per week (Mon-Sun); null: no limit"
    )
    buffer_minutes: Annotated[int, _rule("buffer_minutes")] = Field(
        0, description="Free minutes kept after each booking"
    )
    needs_approval: bool = Field(False, description="Residents' requests wait for an organiser")
    opening_hours: Hours = Field(default_factory=dict, description=_HOURS_DOC)
    closed_dates: Days = Field(
        default_factory=list, description="Local dates YYYY-MM-DD the room is shut"
    )


class RoomIn(RulesIn):
    """A new room."""

    name: str = Field(
        min_length=1, max_length=NAME_MAX, json_schema_extra=LINE, description="Unique, e.g. 活动室"
    )
    capacity: int = Field(ge=0, le=CAPACITY_MAX, description="People it holds")
    location: str = Field(
        "", max_length=LOCATION_MAX, json_schema_extra=LINE, description="e.g. 3号楼一层"
    )


class RoomPatch(Patch):
    """Fields of a room to change; a limit set to null means no limit."""

    nullable = frozenset({"max_booking_minutes", "max_days_ahead", "max_per_household_week"})

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX, json_schema_extra=LINE)
    capacity: int | None = Field(None, ge=0, le=CAPACITY_MAX)
    location: str | None = Field(None, max_length=LOCATION_MAX, json_schema_extra=LINE)
    max_booking_minutes: Annotated[int, _rule("max_booking_minutes")] | None = None
    min_notice_minutes: Annotated[int, _rule("min_notice_minutes")] | None = None
    max_days_ahead: Annotated[int, _rule("max_days_ahead")] | None = None
    max_per_household_week: Annotated[int, _rule("max_per_household_week")] | None = None
    buffer_minutes: Annotated[int, _rule("buffer_minutes")] | None = None
    needs_approval: bool | None = None
    opening_hours: Hours | None = Field(None, description=_HOURS_DOC)
    closed_dates: Days | None = None


_PLAIN = frozenset({"name", "capacity", "location", "opening_hours", "closed_dates"})


def room_changes(sent: dict[str, Any]) -> rooms.RoomChanges:
    """The sent fields as room changes: the rule columns apart from the rest."""
    return rooms.RoomChanges(
        **{k: v for k, v in sent.items() if k in _PLAIN},
        rules={k: v for k, v in sent.items() if k in RULE_COLUMNS},
    )


def _room_id(request: web.Request) -> int:
    return path_id(request, "room_not_found", "room")


@routes.route(
    "POST",
    "/rooms",
    summary="Create a room",
    tag=TAG,
    roles=STAFF,
    body=RoomIn,
    response=Room,
    status=201,
    errors=(409,),
)
async def create_room(request: web.Request, body: RoomIn) -> web.Response:
    """A name already in use is a 409 room_exists; a bad rule, time or date a 400 naming
    the field."""
    created = await rooms.create_room(
        request.app[store_key],
        name=body.name,
        capacity=body.capacity,
        location=body.location,
        now=request.app[clock_key](),
        rules=room_changes(body.model_dump(exclude={"name", "capacity", "location"})),
    )
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/rooms",
    summary="List rooms",
    tag=TAG,
    roles=STAFF,
    query=PageQuery,
    response=ListOf(Room),
)
async def list_rooms(request: web.Request, query: PageQuery) -> web.Response:
    """Ordered by name."""
    page = await rooms.list_rooms(request.app[store_key], limit=query.limit, offset=query.offset)
    return reply(request, page)


@routes.route(
    "GET",
    r"/rooms/{id:\d+}",
    summary="Get a room",
    tag=TAG,
    roles=STAFF,
    response=Room,
)
async def get_room(request: web.Request) -> web.Response:
    """One room."""
    return reply(request, await rooms.get_room(request.app[store_key], _room_id(request)))


@routes.route(
    "PATCH",
    r"/rooms/{id:\d+}",
    summary="Update a room",
    tag=TAG,
    roles=STAFF,
    body=RoomPatch,
    response=Room,
    errors=(409,),
)
async def update_room(request: web.Request, body: RoomPatch) -> web.Response:
    """Only the fields sent change; a name in use is 409 room_exists, a capacity below one
    of the room's events' 409 room_capacity_in_use."""
    changes = room_changes(body.model_dump(exclude_unset=True))
    updated = await rooms.update_room(request.app[store_key], _room_id(request), changes)
    return reply(request, updated)

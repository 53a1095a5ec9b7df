"""/api/v1/rooms: shared rooms such as the activity room (活动室)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field, field_validator

from .. import rooms
from ..keys import clock_key, store_key
from ..models import Room
from ..rooms import CAPACITY_MAX, LOCATION_MAX, NAME_MAX
from .jsonio import Body, path_id, refuse_null, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "rooms"


class RoomIn(Body):
    """A new room."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Unique, e.g. 活动室")
    capacity: int = Field(ge=0, le=CAPACITY_MAX, description="People it holds")
    location: str = Field("", max_length=LOCATION_MAX, description="e.g. 3号楼一层")


class RoomPatch(Body):
    """Fields of a room to change."""

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    capacity: int | None = Field(None, ge=0, le=CAPACITY_MAX)
    location: str | None = Field(None, max_length=LOCATION_MAX)

    _not_null = field_validator("name", "capacity", "location")(refuse_null)


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
    """A name already in use is a 409 room_exists."""
    created = await rooms.create_room(
        request.app[store_key],
        name=body.name,
        capacity=body.capacity,
        location=body.location,
        now=request.app[clock_key](),
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
    changes = rooms.RoomChanges(**body.model_dump(exclude_unset=True))
    updated = await rooms.update_room(request.app[store_key], _room_id(request), changes)
    return reply(request, updated)

"""Rooms: the shared spaces (the activity room, 活动室) that events use and residents book."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .errors import ConflictError, NotFoundError, ValidationError
from .models import Page, Room
from .store import Store, Tx
from .store import events as event_sql
from .store import rooms as sql
from .text import check_text

NAME_MAX: Final = 100
LOCATION_MAX: Final = 200
CAPACITY_MAX: Final = 100_000


@dataclass(frozen=True)
class RoomChanges:
    """Fields to set; None leaves a field as it is."""

    name: str | None = None
    capacity: int | None = None
    location: str | None = None


def _clean_name(name: str) -> str:
    name = check_text("name", name, NAME_MAX)
    if not name:
        raise ValidationError.field("name", "must not be empty")
    return name


def _check_capacity(capacity: int) -> int:
    if not 0 <= capacity <= CAPACITY_MAX:
        raise ValidationError.field("capacity", f"must be between 0 and {CAPACITY_MAX}")
    return capacity


def _clean_location(location: str) -> str:
    return check_text("location", location, LOCATION_MAX)


def _exists(name: str) -> ConflictError:
    return ConflictError(
        f"name: a room {name!r} already exists",
        code="room_exists",
        fields={"name": "already exists"},
    )


async def _make_room(
    store: Store, *, name: str, capacity: int, location: str, now: datetime, must_be_new: bool
) -> Room:
    name = _clean_name(name)
    capacity = _check_capacity(capacity)
    location = _clean_location(location)

    async def txn(tx: Tx) -> Room:
        found = await sql.find_room(tx, name)
        if found is not None:
            if must_be_new:
                raise _exists(name)
            return found
        return await sql.insert_room(tx, name, capacity, location, now)

    return await store.write(txn)


async def create_room(
    store: Store, *, name: str, capacity: int, location: str, now: datetime
) -> Room:
    """A new room; a name already in use is 409 room_exists."""
    return await _make_room(
        store, name=name, capacity=capacity, location=location, now=now, must_be_new=True
    )


async def ensure_room(
    store: Store, *, name: str, capacity: int, location: str, now: datetime
) -> Room:
    """The room with this name as it is, or a new one made from these values."""
    return await _make_room(
        store, name=name, capacity=capacity, location=location, now=now, must_be_new=False
    )


async def get_room(store: Store, room_id: int) -> Room:
    """One room, or 404 room_not_found."""
    found = await sql.get_room(store.reader, room_id)
    if found is None:
        raise NotFoundError(f"no room {room_id}", code="room_not_found")
    return found


async def list_rooms(store: Store, *, limit: int = 500, offset: int = 0) -> Page[Room]:
    """Rooms by name, a page at a time."""
    # A community has a handful of rooms, so paging the whole list here is cheaper than
    # a second query for the total.
    everything = await sql.list_rooms(store.reader)
    items = tuple(everything[offset : offset + limit])
    return Page(items=items, total=len(everything), limit=limit, offset=offset)


async def update_room(store: Store, room_id: int, changes: RoomChanges) -> Room:
    """Rename, resize or move a room. A name in use is 409 room_exists; a capacity below
    that of one of its upcoming events is 409 room_capacity_in_use."""

    async def txn(tx: Tx) -> Room:
        current = await sql.get_room(tx, room_id)
        if current is None:
            raise NotFoundError(f"no room {room_id}", code="room_not_found")
        name = _clean_name(changes.name) if changes.name is not None else current.name
        if name != current.name and await sql.find_room(tx, name) is not None:
            raise _exists(name)
        capacity = current.capacity
        if changes.capacity is not None:
            capacity = _check_capacity(changes.capacity)
            # Events promise their capacity to residents; shrinking the room under one of
            # them would break that promise silently.
            largest = await event_sql.largest_capacity_in_room(tx, room_id)
            if largest is not None and capacity < largest:
                raise ConflictError(
                    f"capacity: an event in this room admits {largest} people;"
                    " lower that event's capacity first",
                    code="room_capacity_in_use",
                    fields={"capacity": f"below an event's capacity ({largest})"},
                )
        location = (
            _clean_location(changes.location) if changes.location is not None else current.location
        )
        await sql.update_room(tx, room_id, name, capacity, location)
        updated = await sql.get_room(tx, room_id)
        assert updated is not None
        return updated

    return await store.write(txn)

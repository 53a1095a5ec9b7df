"""Rooms: the shared spaces (the activity room, 活动室) that events use and residents book."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import Page, Room
from ..core.text import check_name, check_text
from ..store import Store, Tx
from ..store import events as event_sql
from ..store import rooms as sql

NAME_MAX: Final = 100
LOCATION_MAX: Final = 200
CAPACITY_MAX: Final = 100_000
# Weekday keys of opening hours, Monday first (date.weekday() indexes it).
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Bounds of each rule: (least, most); a rule in NULLABLE_RULES may also be None (no limit).
RULE_BOUNDS: Final[Mapping[str, tuple[int, int]]] = {
    "max_booking_minutes": (1, 7 * 24 * 60),
    "min_notice_minutes": (0, 365 * 24 * 60),
    "max_days_ahead": (1, 3650),
    "max_per_household_week": (1, 1000),
    "buffer_minutes": (0, 24 * 60),
}
NULLABLE_RULES: Final = frozenset(
    {"max_booking_minutes", "max_days_ahead", "max_per_household_week"}
)
CLOSED_DATES_MAX: Final = 1000
_HHMM: Final = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Hours = Mapping[str, Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class RoomChanges:
    """Fields to set; None leaves a field as it is. `rules` holds only the rules to set
    (a nullable rule set to None means no limit)."""

    name: str | None = None
    capacity: int | None = None
    location: str | None = None
    rules: Mapping[str, int | bool | None] = field(default_factory=dict)
    opening_hours: Hours | None = None
    closed_dates: Sequence[str] | None = None


def check_rules(rules: Mapping[str, int | bool | None]) -> dict[str, int | bool | None]:
    """The rules checked against their bounds; a bad one is a 400 naming it."""
    clean: dict[str, int | bool | None] = {}
    for name, value in rules.items():
        if name == "needs_approval":
            if not isinstance(value, bool):
                raise ValidationError.field(name, "must be true or false")
            clean[name] = value
            continue
        if name not in RULE_BOUNDS:
            raise ValidationError.field(name, "is not a rule")
        if value is None:
            if name not in NULLABLE_RULES:
                raise ValidationError.field(name, "must be a number")
            clean[name] = None
            continue
        least, most = RULE_BOUNDS[name]
        if isinstance(value, bool) or not least <= value <= most:
            raise ValidationError.field(name, f"must be between {least} and {most}")
        clean[name] = value
    return clean


def minutes_of(hhmm: str) -> int:
    """'08:30' -> 510; '24:00' -> 1440."""
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def check_opening_hours(hours: Hours) -> dict[str, tuple[tuple[str, str], ...]]:
    """Opening hours by weekday, each day's ranges sorted; a bad time ("25:00"), an empty
    or backwards range or two overlapping ranges is a 400 naming the day."""
    clean: dict[str, tuple[tuple[str, str], ...]] = {}
    for day, ranges in hours.items():
        name = f"opening_hours.{day}"
        if day not in WEEKDAYS:
            raise ValidationError.field(name, f"must be one of {', '.join(WEEKDAYS)}")
        pairs: list[tuple[str, str]] = []
        for pair in ranges:
            if len(pair) != 2:
                raise ValidationError.field(name, 'each range must be ["HH:MM", "HH:MM"]')
            start, end = pair
            for moment in (start, end):
                if not isinstance(moment, str) or not _HHMM.fullmatch(moment):
                    raise ValidationError.field(name, f"{moment!r} is not a time HH:MM")
            if minutes_of(start) >= minutes_of(end):
                raise ValidationError.field(name, f"{start}-{end} ends before it starts")
            pairs.append((start, end))
        pairs.sort(key=lambda p: minutes_of(p[0]))
        for before, after in itertools.pairwise(pairs):
            if minutes_of(after[0]) < minutes_of(before[1]):
                raise ValidationError.field(
                    name, f"{before[0]}-{before[1]} and {after[0]}-{after[1]} overlap"
                )
        clean[day] = tuple(pairs)
    return clean


def check_closed_dates(days: Sequence[str]) -> tuple[str, ...]:
    """Closed dates as sorted, distinct YYYY-MM-DD; anything else is a 400."""
    if len(days) > CLOSED_DATES_MAX:
        raise ValidationError.field("closed_dates", f"at most {CLOSED_DATES_MAX} dates")
    for day in days:
        try:
            ok = bool(_DAY.fullmatch(day)) and date.fromisoformat(day) is not None
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValidationError.field("closed_dates", f"{day!r} is not a date YYYY-MM-DD")
    return tuple(sorted(set(days)))


def _clean_name(name: str) -> str:
    return check_name("name", name, NAME_MAX)


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


async def _set_rules(tx: Tx, room_id: int, changes: RoomChanges) -> None:
    """Write the rules, hours and closed dates `changes` carries (already checked)."""
    await sql.set_rules(tx, room_id, changes.rules)
    if changes.opening_hours is not None:
        await sql.set_opening_hours(tx, room_id, changes.opening_hours)
    if changes.closed_dates is not None:
        await sql.set_closed_dates(tx, room_id, changes.closed_dates)


def _checked_rules(changes: RoomChanges) -> RoomChanges:
    return RoomChanges(
        rules=check_rules(changes.rules),
        opening_hours=None
        if changes.opening_hours is None
        else check_opening_hours(changes.opening_hours),
        closed_dates=None
        if changes.closed_dates is None
        else check_closed_dates(changes.closed_dates),
    )


async def _make_room(
    store: Store,
    *,
    name: str,
    capacity: int,
    location: str,
    now: datetime,
    must_be_new: bool,
    rules: RoomChanges | None = None,
) -> Room:
    name = _clean_name(name)
    capacity = _check_capacity(capacity)
    location = _clean_location(location)
    checked = _checked_rules(rules or RoomChanges())

    async def txn(tx: Tx) -> Room:
        found = await sql.find_room(tx, name)
        if found is not None:
            if must_be_new:
                raise _exists(name)
            return found
        room = await sql.insert_room(tx, name, capacity, location, now)
        await _set_rules(tx, room.id, checked)
        made = await sql.get_room(tx, room.id)
        assert made is not None
        return made

    return await store.write(txn)


async def create_room(
    store: Store,
    *,
    name: str,
    capacity: int,
    location: str,
    now: datetime,
    rules: RoomChanges | None = None,
) -> Room:
    """A new room, with the rules, opening hours and closed dates `rules` carries; a name
    already in use is 409 room_exists."""
    return await _make_room(
        store,
        name=name,
        capacity=capacity,
        location=location,
        now=now,
        must_be_new=True,
        rules=rules,
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
    """Rename, resize or move a room, or change its rules, opening hours or closed dates.
    A name in use is 409 room_exists; a capacity below that of one of its upcoming events
    is 409 room_capacity_in_use. New rules hold for requests made from now on: bookings
    already made stay."""
    checked = _checked_rules(changes)

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
        await _set_rules(tx, room_id, checked)
        updated = await sql.get_room(tx, room_id)
        assert updated is not None
        return updated

    return await store.write(txn)

"""The door tablet's view of its room: a day's timeline of bookings and events, the
current one marked and the next ones after it, with names masked (张*)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from ..core.errors import NotFoundError, PermissionDeniedError
from ..core.i18n import time_text
from ..core.privacy import mask_name
from ..store import Db
from ..store import tablet as sql
from ..store.tablet import RoomSlot

# A door sees its room from today to this many days ahead, nothing earlier or later.
DAYS_AHEAD: Final = 7


@dataclass(frozen=True)
class TimelineEntry:
    """One slot on the door's timeline; `state` is past, current, next or later."""

    kind: str  # "booking" | "event"
    id: int
    title: str
    who: str  # the booker's name masked (张*); "" for events
    status: str  # a booking's pending/confirmed, an event's published/finished
    starts_at: datetime
    ends_at: datetime
    start: str  # HH:MM local
    end: str
    expected: int
    arrived: int
    state: str


@dataclass(frozen=True)
class Timeline:
    """A room's day as its door shows it."""

    room_id: int
    room_name: str
    day: str  # YYYY-MM-DD, local
    version: int  # the room's change counter this was read at
    now: datetime
    entries: tuple[TimelineEntry, ...]


def day_in_scope(day: date | None, now: datetime, tz: ZoneInfo) -> date:
    """The day asked for (today when None); a door may see today to DAYS_AHEAD days on."""
    today = now.astimezone(tz).date()
    if day is None:
        return today
    if not today <= day <= today + timedelta(days=DAYS_AHEAD):
        raise PermissionDeniedError(
            f"a door sees {today} to {today + timedelta(days=DAYS_AHEAD)} only",
            code="day_out_of_scope",
        )
    return day


def _states(slots: list[RoomSlot], now: datetime) -> list[str]:
    """past / current / next (the soonest start still to come) / later."""
    upcoming = [s.starts_at for s in slots if s.starts_at > now]
    soonest = min(upcoming) if upcoming else None
    states = []
    for slot in slots:
        if slot.ends_at <= now:
            states.append("past")
        elif slot.starts_at <= now:
            states.append("current")
        else:
            states.append("next" if slot.starts_at == soonest else "later")
    return states


async def timeline(
    db: Db, room_id: int, *, day: date | None = None, now: datetime, tz: ZoneInfo
) -> Timeline:
    """The room's bookings and events of `day` (local; today by default), in order."""
    shown = day_in_scope(day, now, tz)
    room = await sql.door_room(db, room_id)
    if room is None:
        raise NotFoundError(f"no room {room_id}", code="room_not_found")
    start = datetime.combine(shown, time(), tzinfo=tz)
    slots = await sql.room_slots(db, room_id, start, start + timedelta(days=1))
    entries = tuple(
        TimelineEntry(
            kind=slot.kind,
            id=slot.id,
            title=slot.title,
            who=mask_name(slot.resident_name),
            status=slot.status,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            start=time_text(slot.starts_at.astimezone(tz)),
            end=time_text(slot.ends_at.astimezone(tz)),
            expected=slot.expected,
            arrived=slot.arrived,
            state=state,
        )
        for slot, state in zip(slots, _states(slots, now), strict=True)
    )
    return Timeline(room.id, room.name, shown.isoformat(), room.version, now, entries)


async def room_signature(db: Db, room_id: int) -> str:
    """A value that changes whenever the room's timeline may have: a booking, a check-in
    or an event of the room, written by any process; a live feed polls only this."""
    signature = await sql.room_signature(db, room_id)
    if signature is None:
        raise NotFoundError(f"no room {room_id}", code="room_not_found")
    return signature

"""A room's week view: each local day's opening hours, taken slots and free ranges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from ..core.clock import YEARS_TEXT, in_years
from ..core.errors import ValidationError
from ..core.models import Room
from ..core.privacy import mask_name
from ..store import Store
from ..store import bookings as sql
from .booking_rules import local_day_bounds
from .rooms import WEEKDAYS, get_room, minutes_of


@dataclass(frozen=True)
class Taken:
    """A held slot as the week view shows it; `who` is masked for residents."""

    starts: str
    ends: str
    blocked_until: str
    status: str
    who: str
    booking_id: int | None
    event_id: int | None
    title: str
    mine: bool


@dataclass(frozen=True)
class Day:
    """One local day of the week view."""

    date: str
    weekday: str
    closed: bool
    hours: tuple[tuple[str, str], ...]
    taken: tuple[Taken, ...]
    free: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Week:
    """A room's week from `start` (a local date), its rules included."""

    room: Room
    start: str
    days: tuple[Day, ...]


def _hhmm(moment: datetime, day_start: datetime, tz: tzinfo) -> str:
    """Minutes into the day as HH:MM, clipped to the day (24:00 at its end)."""
    minutes = int((moment - day_start) / timedelta(minutes=1))
    return _clock(max(0, min(24 * 60, minutes)))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _free(
    hours: Sequence[tuple[str, str]], taken: Sequence[tuple[int, int]]
) -> tuple[tuple[str, str], ...]:
    """The opening hours less the taken minutes (buffers included)."""
    free: list[tuple[int, int]] = []
    for a, b in hours:
        cursor, end = minutes_of(a), minutes_of(b)
        for t0, t1 in sorted(taken):
            if t1 <= cursor or t0 >= end:
                continue
            if t0 > cursor:
                free.append((cursor, t0))
            cursor = max(cursor, t1)
        if cursor < end:
            free.append((cursor, end))
    return tuple((_clock(x), _clock(y)) for x, y in free)


async def week_view(
    store: Store,
    room_id: int,
    start: date,
    *,
    tz: tzinfo,
    masked: bool,
    resident_id: int | None = None,
) -> Week:
    """Seven days from `start`: each day's hours, taken slots and free ranges. `masked`
    (a resident's view) shows names as 张* and no notes."""
    if not in_years(start):
        raise ValidationError.field("start", YEARS_TEXT)
    room = await get_room(store, room_id)
    first, _ = local_day_bounds(start, tz)
    last, _ = local_day_bounds(start + timedelta(days=7), tz)
    bookings = await sql.live_in_room(store.reader, room_id, first, last)
    days: list[Day] = []
    for offset in range(7):
        day = start + timedelta(days=offset)
        day_start, day_end = local_day_bounds(day, tz)
        closed = day.isoformat() in room.closed_dates
        if room.opening_hours:
            hours = tuple(room.opening_hours.get(WEEKDAYS[day.weekday()], ()))
        else:
            hours = (("00:00", "24:00"),)
        if closed:
            hours = ()
        taken: list[Taken] = []
        spans: list[tuple[int, int]] = []
        for b in bookings:
            if not (b.starts_at < day_end and b.blocked_until > day_start):
                continue
            # A resident's name is masked for residents; an event's or organiser's title
            # names no one.
            who = b.title
            if b.event_id is None and b.resident_name:
                who = mask_name(b.resident_name) if masked else b.resident_name
            taken.append(
                Taken(
                    starts=_hhmm(b.starts_at, day_start, tz),
                    ends=_hhmm(b.ends_at, day_start, tz),
                    blocked_until=_hhmm(b.blocked_until, day_start, tz),
                    status=b.status,
                    who=who,
                    booking_id=None if masked else b.id,
                    event_id=b.event_id,
                    title=b.title if b.event_id is not None or not masked else "",
                    mine=resident_id is not None and b.resident_id == resident_id,
                )
            )
            t0 = int((max(b.starts_at, day_start) - day_start) / timedelta(minutes=1))
            t1 = int((min(b.blocked_until, day_end) - day_start) / timedelta(minutes=1))
            spans.append((t0, t1))
        days.append(
            Day(
                date=day.isoformat(),
                weekday=WEEKDAYS[day.weekday()],
                closed=closed,
                hours=hours,
                taken=tuple(taken),
                free=_free(hours, spans),
            )
        )
    return Week(room, start.isoformat(), tuple(days))

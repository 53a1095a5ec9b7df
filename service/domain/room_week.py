"""A room's week view: each local day's opening hours, taken slots and free ranges.

For residents "this week" is today and the six days after it, and the weeks before and
after it keep that rhythm (today + 7n): the page opens on it, a booking leads back to the
week of its date, and no day or hour already past is offered as free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Final

from ..core.clock import YEARS_TEXT, in_years
from ..core.errors import ValidationError
from ..core.models import Room
from ..core.privacy import mask_name
from ..store import Store
from ..store import bookings as sql
from .booking_rules import local_day_bounds
from .rooms import WEEKDAYS, get_room, minutes_of

# Free time today is offered from the next quarter hour on, the step people book in.
STEP_MINUTES: Final = 15


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


def resident_week_start(asked: date | None, today: date) -> date:
    """The first day of the week that holds `asked` (today's when None), weeks counted
    from today; never a day before today."""
    if asked is None or asked <= today:
        return today
    return today + timedelta(days=7 * ((asked - today).days // 7))


def in_time_order(day: Day) -> list[tuple[str, str, Taken | None]]:
    """The day's taken slots and free ranges as one list by start time: (from, to, the
    taken slot or None for a free range)."""
    slots: list[tuple[str, str, Taken | None]] = [(t.starts, t.ends, t) for t in day.taken]
    slots.extend((a, b, None) for a, b in day.free)
    return sorted(slots, key=lambda slot: (slot[0], slot[2] is None))


def _hhmm(moment: datetime, day_start: datetime, tz: tzinfo) -> str:
    """Minutes into the day as HH:MM, clipped to the day (24:00 at its end)."""
    minutes = int((moment - day_start) / timedelta(minutes=1))
    return _clock(max(0, min(24 * 60, minutes)))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _free(
    hours: Sequence[tuple[str, str]], taken: Sequence[tuple[int, int]], from_minute: int = 0
) -> tuple[tuple[str, str], ...]:
    """The opening hours less the taken minutes (buffers included), from `from_minute` on."""
    free: list[tuple[int, int]] = []
    for a, b in hours:
        cursor, end = max(minutes_of(a), from_minute), minutes_of(b)
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
    now: datetime | None = None,
) -> Week:
    """Seven days from `start`: each day's hours, taken slots and free ranges. `masked`
    (a resident's view) shows names as 张* and no notes; with `now`, nothing before it
    (from the next quarter hour) is free."""
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
                free=_free(hours, spans, _first_free_minute(now, day_start, day_end)),
            )
        )
    return Week(room, start.isoformat(), tuple(days))


def _first_free_minute(now: datetime | None, day_start: datetime, day_end: datetime) -> int:
    """The first minute of the day that may be offered: 0 for a day to come, past its
    end for a day gone, the next STEP_MINUTES after `now` today."""
    if now is None or now <= day_start:
        return 0
    if now >= day_end:
        return 24 * 60 + 1
    minutes = -(-(now - day_start) // timedelta(minutes=1))  # a started minute is gone
    return -(-minutes // STEP_MINUTES) * STEP_MINUTES

"""SQL for the door tablet: a room's bookings and events over a span, with who came."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from .core import Db, Row

# A slot still holds the room while it is pending approval or confirmed; declined and
# cancelled ones are gone from the door.
_LIVE_BOOKING = "('pending', 'confirmed')"


@dataclass(frozen=True)
class RoomSlot:
    """A booking of the room, or an event held in it, as stored (names unmasked)."""

    kind: str  # "booking" | "event"
    id: int  # the booking's or the event's id
    title: str
    resident_name: str  # the booker's full name; "" for events
    status: str
    starts_at: datetime
    ends_at: datetime
    expected: int  # people booked, or people who said yes
    arrived: int  # people checked in, walk-ins included


@dataclass(frozen=True)
class DoorRoom:
    """The room a door token is bound to, with its change counter."""

    id: int
    name: str
    version: int


def _slot(kind: str, row: Row) -> RoomSlot:
    return RoomSlot(
        kind=kind,
        id=row["id"],
        title=row["title"],
        resident_name=row["resident_name"],
        status=row["status"],
        starts_at=from_db(row["starts_at"]),
        ends_at=from_db(row["ends_at"]),
        expected=row["expected"],
        arrived=row["arrived"],
    )


async def door_room(db: Db, room_id: int) -> DoorRoom | None:
    """The room's name and version (bumped by triggers on every booking or check-in)."""
    row = await db.fetchone("SELECT id, name, version FROM rooms WHERE id = ?", (room_id,))
    return DoorRoom(row["id"], row["name"], row["version"]) if row else None


async def room_signature(db: Db, room_id: int) -> str | None:
    """What the live feed polls: the room's version (bumped by triggers on every booking or
    check-in) and its events' last change (publishing or moving an event touches no
    booking until its bookings row is written)."""
    row = await db.fetchone(
        """
        SELECT r.version,
               (SELECT COUNT(*) || '/' || COALESCE(MAX(e.updated_at), '')
                  FROM events e WHERE e.room_id = r.id) AS events
          FROM rooms r WHERE r.id = ?
        """,
        (room_id,),
    )
    return f"{row['version']}:{row['events']}" if row else None


async def room_slots(db: Db, room_id: int, start: datetime, end: datetime) -> list[RoomSlot]:
    """Live bookings and events of the room that overlap [start, end), by start time.

    An event reserves its room through a bookings row with event_id set; an event whose
    row is not written (yet) still counts through events.room_id, and shows once."""
    since, until = to_db(start), to_db(end)
    bookings = await db.fetchall(
        f"""
        SELECT b.id, b.title, b.status, b.starts_at, b.ends_at, b.party_size AS expected,
               COALESCE(r.name, '') AS resident_name,
               (SELECT COALESCE(SUM(c.party_size + c.walk_ins), 0)
                  FROM checkins c WHERE c.booking_id = b.id) AS arrived
          FROM bookings b LEFT JOIN residents r ON r.id = b.resident_id
         WHERE b.room_id = ? AND b.event_id IS NULL AND b.status IN {_LIVE_BOOKING}
           AND b.starts_at < ? AND b.ends_at > ?
        """,
        (room_id, until, since),
    )
    events = await db.fetchall(
        f"""
        SELECT e.id, e.title, e.status, e.starts_at, e.ends_at, '' AS resident_name,
               (SELECT COALESCE(SUM(i.party_size), 0)
                  FROM invitations i WHERE i.event_id = e.id AND i.answer = 'yes') AS expected,
               (SELECT COALESCE(SUM(c.party_size + c.walk_ins), 0)
                  FROM checkins c WHERE c.event_id = e.id) AS arrived
          FROM events e
         WHERE e.status IN ('published', 'finished')
           AND e.starts_at < ? AND e.ends_at > ?
           AND (e.room_id = ? OR e.id IN (
                SELECT event_id FROM bookings
                 WHERE room_id = ? AND event_id IS NOT NULL AND status IN {_LIVE_BOOKING}))
        """,
        (until, since, room_id, room_id),
    )
    slots = [_slot("booking", row) for row in bookings] + [_slot("event", row) for row in events]
    return sorted(slots, key=lambda s: (s.starts_at, s.ends_at, s.kind, s.id))

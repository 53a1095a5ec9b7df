"""SQL for room bookings (a resident's, an organiser's, or an event's hold on its room)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import MessageStatus
from .core import Db, Row, Tx

# Statuses that hold a slot (the overlap triggers count these).
LIVE = ("pending", "confirmed")

_SELECT = (
    "SELECT b.*, r.name AS resident_name, r.language AS language, c.code AS checkin_code"
    " FROM bookings b"
    " LEFT JOIN residents r ON r.id = b.resident_id"
    " LEFT JOIN checkin_codes c ON c.booking_id = b.id"
)


@dataclass(frozen=True)
class Booking:
    """A slot of a room and who holds it."""

    id: int
    room_id: int
    resident_id: int | None
    resident_name: str | None
    household_id: int | None
    event_id: int | None
    series_id: int | None
    title: str
    party_size: int
    starts_at: datetime
    ends_at: datetime
    blocked_until: datetime
    status: str
    booked_by: str
    note: str
    decided_by: str | None
    decided_at: datetime | None
    cancelled_at: datetime | None
    checkin_code: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewBooking:
    """A booking row to insert."""

    room_id: int
    resident_id: int | None
    household_id: int | None
    event_id: int | None
    title: str
    party_size: int
    starts_at: datetime
    ends_at: datetime
    blocked_until: datetime
    status: str
    booked_by: str
    note: str
    request_key: str | None = None


def _booking(row: Row) -> Booking:
    return Booking(
        id=row["id"],
        room_id=row["room_id"],
        resident_id=row["resident_id"],
        resident_name=row["resident_name"],
        household_id=row["household_id"],
        event_id=row["event_id"],
        series_id=row["series_id"],
        title=row["title"],
        party_size=row["party_size"],
        starts_at=from_db(row["starts_at"]),
        ends_at=from_db(row["ends_at"]),
        blocked_until=from_db(row["blocked_until"]),
        status=row["status"],
        booked_by=row["booked_by"],
        note=row["note"],
        decided_by=row["decided_by"],
        decided_at=opt_from_db(row["decided_at"]),
        cancelled_at=opt_from_db(row["cancelled_at"]),
        checkin_code=row["checkin_code"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


async def insert_booking(tx: Tx, new: NewBooking, series_id: int | None, now: datetime) -> int:
    """A new booking's id; raises SlotTaken when it would share a minute (buffer
    included) with a live booking of the room."""
    stamp = to_db(now)
    return await tx.execute(
        "INSERT INTO bookings (room_id, resident_id, household_id, event_id, series_id, title,"
        " party_size, starts_at, ends_at, blocked_until, status, booked_by, note, request_key,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.room_id,
            new.resident_id,
            new.household_id,
            new.event_id,
            series_id,
            new.title,
            new.party_size,
            to_db(new.starts_at),
            to_db(new.ends_at),
            to_db(new.blocked_until),
            new.status,
            new.booked_by,
            new.note,
            new.request_key,
            stamp,
            stamp,
        ),
    )


async def set_series(tx: Tx, booking_ids: Sequence[int], series_id: int) -> None:
    """Mark bookings as one weekly series."""
    await tx.executemany(
        "UPDATE bookings SET series_id = ? WHERE id = ?", [(series_id, b) for b in booking_ids]
    )


async def get_booking(db: Db, booking_id: int) -> Booking | None:
    """One booking."""
    row = await db.fetchone(f"{_SELECT} WHERE b.id = ?", (booking_id,))
    return None if row is None else _booking(row)


async def by_request_key(db: Db, key: str) -> list[Booking]:
    """The bookings a request with this key made (a series shares the first's key)."""
    row = await db.fetchone("SELECT id, series_id FROM bookings WHERE request_key = ?", (key,))
    if row is None:
        return []
    if row["series_id"] is None:
        found = await get_booking(db, row["id"])
        return [] if found is None else [found]
    rows = await db.fetchall(
        f"{_SELECT} WHERE b.series_id = ? ORDER BY b.starts_at", (row["series_id"],)
    )
    return [_booking(r) for r in rows]


async def list_bookings(
    db: Db,
    *,
    room_id: int | None = None,
    status: str | None = None,
    resident_id: int | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[Booking], int]:
    """Bookings by start, filtered, and how many match in all."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("b.room_id", room_id), ("b.status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if resident_id is not None:
        where.append("b.resident_id = ?")
        params.append(resident_id)
    if after is not None:
        where.append("b.ends_at > ?")
        params.append(to_db(after))
    if before is not None:
        where.append("b.starts_at < ?")
        params.append(to_db(before))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = await db.fetchone(f"SELECT count(*) AS n FROM bookings b{clause}", params)
    rows = await db.fetchall(
        f"{_SELECT}{clause} ORDER BY b.starts_at, b.id LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return [_booking(r) for r in rows], int(total["n"]) if total else 0


async def live_in_room(db: Db, room_id: int, start: datetime, end: datetime) -> list[Booking]:
    """Live bookings of a room that touch [start, end), buffer included."""
    rows = await db.fetchall(
        f"{_SELECT} WHERE b.room_id = ? AND b.status IN ('pending', 'confirmed')"
        " AND b.starts_at < ? AND b.blocked_until > ? ORDER BY b.starts_at",
        (room_id, to_db(end), to_db(start)),
    )
    return [_booking(r) for r in rows]


async def household_count(
    db: Db, household_id: int, start: datetime, end: datetime, *, not_id: int = 0
) -> int:
    """Live resident bookings of a household starting in [start, end)."""
    row = await db.fetchone(
        "SELECT count(*) AS n FROM bookings WHERE household_id = ? AND event_id IS NULL"
        " AND status IN ('pending', 'confirmed') AND starts_at >= ? AND starts_at < ?"
        " AND id != ?",
        (household_id, to_db(start), to_db(end), not_id),
    )
    return int(row["n"]) if row else 0


async def set_status(
    tx: Tx,
    booking_id: int,
    status: str,
    now: datetime,
    *,
    decided_by: str | None = None,
) -> None:
    """Move a booking to `status`; confirming a cancelled one back raises SlotTaken
    like an insert would."""
    stamp = to_db(now)
    await tx.execute(
        "UPDATE bookings SET status = ?, updated_at = ?,"
        " decided_by = coalesce(?, decided_by), decided_at = CASE WHEN ? IS NULL"
        " THEN decided_at ELSE ? END,"
        " cancelled_at = CASE WHEN ? = 'cancelled' THEN ? ELSE cancelled_at END WHERE id = ?",
        (status, stamp, decided_by, decided_by, stamp, status, stamp, booking_id),
    )


async def event_booking(db: Db, event_id: int) -> Booking | None:
    """The booking an event holds on its room, whatever its status."""
    row = await db.fetchone(f"{_SELECT} WHERE b.event_id = ?", (event_id,))
    return None if row is None else _booking(row)


async def hold_for_event(
    tx: Tx,
    *,
    event_id: int,
    room_id: int | None,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    live: bool,
    booked_by: str,
    now: datetime,
) -> None:
    """Keep the event's booking in step with the event: confirmed over its time while it
    is live and has a room, cancelled otherwise. Raises SlotTaken when the room is taken
    then."""
    existing = await tx.fetchone("SELECT id, status FROM bookings WHERE event_id = ?", (event_id,))
    stamp = to_db(now)
    if not live or room_id is None:
        if existing is not None and existing["status"] != "cancelled":
            await set_status(tx, existing["id"], "cancelled", now)
        return
    # The room's buffer follows an event as it follows any booking.
    buffer = await tx.fetchone("SELECT buffer_minutes FROM rooms WHERE id = ?", (room_id,))
    minutes = int(buffer["buffer_minutes"]) if buffer else 0
    blocked = to_db(ends_at + timedelta(minutes=minutes))
    if existing is None:
        await tx.execute(
            "INSERT INTO bookings (room_id, event_id, title, starts_at, ends_at, blocked_until,"
            " status, booked_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'confirmed', ?, ?, ?)",
            (
                room_id,
                event_id,
                title,
                to_db(starts_at),
                to_db(ends_at),
                blocked,
                booked_by,
                stamp,
                stamp,
            ),
        )
        return
    await tx.execute(
        "UPDATE bookings SET room_id = ?, title = ?, starts_at = ?, ends_at = ?,"
        " blocked_until = ?, status = 'confirmed', cancelled_at = NULL, updated_at = ?"
        " WHERE id = ?",
        (room_id, title, to_db(starts_at), to_db(ends_at), blocked, stamp, existing["id"]),
    )


async def suppress_reminders(tx: Tx, booking_id: int, now: datetime) -> int:
    """Queued reminders of a booking will not be sent (it was cancelled); how many."""
    await tx.execute(
        "UPDATE messages SET status = ?, updated_at = ?"
        " WHERE booking_id = ? AND kind = 'booking_reminder' AND status = ?",
        (MessageStatus.EXPIRED, to_db(now), booking_id, MessageStatus.QUEUED),
    )
    return await tx.changes()


async def household_of(db: Db, resident_id: int) -> tuple[int, str, str] | None:
    """(household id, name, language) of a resident."""
    row = await db.fetchone(
        "SELECT household_id, name, language FROM residents WHERE id = ?", (resident_id,)
    )
    if row is None:
        return None
    return int(row["household_id"]), str(row["name"]), str(row["language"])

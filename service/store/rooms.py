"""SQL for rooms, their rules and their closed dates."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.models import Room
from .core import Db, Row, Tx

# The rule columns a caller may set, as named in the API.
RULE_COLUMNS = (
    "max_booking_minutes",
    "min_notice_minutes",
    "max_days_ahead",
    "max_per_household_week",
    "buffer_minutes",
    "needs_approval",
)


def _hours(text: str) -> dict[str, tuple[tuple[str, str], ...]]:
    raw = json.loads(text or "{}")
    return {day: tuple((str(a), str(b)) for a, b in ranges) for day, ranges in raw.items()}


def _room(row: Row, closed: Sequence[str] = ()) -> Room:
    return Room(
        id=row["id"],
        name=row["name"],
        capacity=row["capacity"],
        location=row["location"],
        created_at=from_db(row["created_at"]),
        max_booking_minutes=row["max_booking_minutes"],
        min_notice_minutes=row["min_notice_minutes"],
        max_days_ahead=row["max_days_ahead"],
        max_per_household_week=row["max_per_household_week"],
        buffer_minutes=row["buffer_minutes"],
        needs_approval=bool(row["needs_approval"]),
        opening_hours=_hours(row["opening_hours"]),
        closed_dates=tuple(closed),
    )


async def _closed(db: Db, room_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {rid: [] for rid in room_ids}
    if not room_ids:
        return found
    marks = ", ".join("?" * len(room_ids))
    rows = await db.fetchall(
        f"SELECT room_id, day FROM room_closed_dates WHERE room_id IN ({marks}) ORDER BY day",
        list(room_ids),
    )
    for row in rows:
        found[row["room_id"]].append(row["day"])
    return found


async def get_room(db: Db, room_id: int) -> Room | None:
    """One room by id, with its rules and closed dates."""
    row = await db.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
    if row is None:
        return None
    return _room(row, (await _closed(db, [room_id]))[room_id])


async def find_room(db: Db, name: str) -> Room | None:
    """One room by its name."""
    row = await db.fetchone("SELECT * FROM rooms WHERE name = ?", (name,))
    if row is None:
        return None
    return _room(row, (await _closed(db, [row["id"]]))[row["id"]])


async def list_rooms(db: Db) -> list[Room]:
    """Every room, by name."""
    rows = await db.fetchall("SELECT * FROM rooms ORDER BY name")
    closed = await _closed(db, [r["id"] for r in rows])
    return [_room(r, closed[r["id"]]) for r in rows]


async def insert_room(tx: Tx, name: str, capacity: int, location: str, now: datetime) -> Room:
    """A new room."""
    room_id = await tx.execute(
        "INSERT INTO rooms (name, capacity, location, created_at) VALUES (?, ?, ?, ?)",
        (name, capacity, location, to_db(now)),
    )
    return Room(id=room_id, name=name, capacity=capacity, location=location, created_at=now)


async def update_room(tx: Tx, room_id: int, name: str, capacity: int, location: str) -> None:
    """Change a room's name, capacity and location."""
    await tx.execute(
        "UPDATE rooms SET name = ?, capacity = ?, location = ? WHERE id = ?",
        (name, capacity, location, room_id),
    )


async def set_rules(tx: Tx, room_id: int, rules: Mapping[str, int | bool | None]) -> None:
    """Set some of the rule columns (names from RULE_COLUMNS)."""
    names = [n for n in RULE_COLUMNS if n in rules]
    if not names:
        return
    assignments = ", ".join(f"{n} = ?" for n in names)
    values = [int(v) if isinstance(v, bool) else v for v in (rules[n] for n in names)]
    await tx.execute(f"UPDATE rooms SET {assignments} WHERE id = ?", [*values, room_id])


async def set_opening_hours(
    tx: Tx, room_id: int, hours: Mapping[str, Sequence[tuple[str, str]]]
) -> None:
    """Replace the room's opening hours."""
    text = json.dumps({day: [list(r) for r in ranges] for day, ranges in hours.items()})
    await tx.execute("UPDATE rooms SET opening_hours = ? WHERE id = ?", (text, room_id))


async def set_closed_dates(tx: Tx, room_id: int, days: Sequence[str]) -> None:
    """Replace the room's closed dates."""
    await tx.execute("DELETE FROM room_closed_dates WHERE room_id = ?", (room_id,))
    await tx.executemany(
        "INSERT INTO room_closed_dates (room_id, day) VALUES (?, ?)",
        [(room_id, day) for day in days],
    )

"""SQL for rooms."""

from __future__ import annotations

from datetime import datetime

from ..clock import from_db, to_db
from ..models import Room
from .core import Db, Row, Tx


def _room(row: Row) -> Room:
    return Room(
        id=row["id"],
        name=row["name"],
        capacity=row["capacity"],
        location=row["location"],
        created_at=from_db(row["created_at"]),
    )


async def get_room(db: Db, room_id: int) -> Room | None:
    """One room by id."""
    row = await db.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
    return _room(row) if row else None


async def find_room(db: Db, name: str) -> Room | None:
    """One room by its name."""
    row = await db.fetchone("SELECT * FROM rooms WHERE name = ?", (name,))
    return _room(row) if row else None


async def list_rooms(db: Db) -> list[Room]:
    """Every room, by name."""
    return [_room(r) for r in await db.fetchall("SELECT * FROM rooms ORDER BY name")]


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

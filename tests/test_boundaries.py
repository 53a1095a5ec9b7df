"""Sealed boundaries: only the store talks to the database driver, and it refuses writes
with its own typed errors, never the driver's."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.store import Store, Tx
from service.store import bookings as booking_sql
from service.store.bookings import NewBooking
from service.store.errors import DuplicateKey, SlotTaken

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = {"sqlite3", "aiosqlite"}
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def _imported(path: Path) -> set[str]:
    """The top-level names of the modules `path` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_boundaries_only_the_store_imports_a_database_driver() -> None:
    store = ROOT / "service" / "store"
    sources = [
        path
        for folder in ("service", "channels")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if store not in path.parents
    ]
    assert len(sources) > 40  # the walk found the code
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & DRIVERS)
        for path in sources
        if _imported(path) & DRIVERS
    }
    assert offenders == {}


async def _room(tx: Tx, name: str) -> int:
    return await tx.execute(
        "INSERT INTO rooms (name, capacity, created_at) VALUES (?, 10, 'x')", (name,)
    )


def _booking(room_id: int, starts_at: datetime) -> NewBooking:
    return NewBooking(
        room_id=room_id,
        resident_id=None,
        household_id=None,
        event_id=None,
        title="读书会",
        party_size=4,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        blocked_until=starts_at + timedelta(hours=1, minutes=15),
        status="confirmed",
        booked_by="test",
        note="",
        request_key=None,
    )


async def test_boundaries_store_refuses_an_overlap_with_slot_taken(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:
        room = await store.write(lambda tx: _room(tx, "活动室"))
        first = _booking(room, NOW)
        await store.write(lambda tx: booking_sql.insert_booking(tx, first, None, NOW))
        # Within the first's buffer: the store itself refuses it.
        second = _booking(room, NOW + timedelta(hours=1, minutes=10))
        with pytest.raises(SlotTaken):
            await store.write(lambda tx: booking_sql.insert_booking(tx, second, None, NOW))


async def test_boundaries_store_names_the_key_a_duplicate_takes(tmp_path: Path) -> None:
    async with Store(tmp_path / "linli.db") as store:
        await store.write(lambda tx: _room(tx, "活动室"))
        with pytest.raises(DuplicateKey) as refused:
            await store.write(lambda tx: _room(tx, "活动室"))
    assert refused.value.constraint == "rooms.name"

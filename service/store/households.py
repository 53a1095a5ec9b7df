"""SQL for households."""

from __future__ import annotations

from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.models import Household
from .core import Db, Row, Tx

_SELECT = (
    "SELECT h.*, (SELECT count(*) FROM residents r WHERE r.household_id = h.id) AS resident_count"
    " FROM households h"
)


def _household(row: Row) -> Household:
    return Household(
        id=row["id"],
        unit=row["unit"],
        building=row["building"],
        notes=row["notes"],
        resident_count=row["resident_count"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


async def get_household(db: Db, household_id: int) -> Household | None:
    """One household by id."""
    row = await db.fetchone(f"{_SELECT} WHERE h.id = ?", (household_id,))
    return _household(row) if row else None


async def find_household(db: Db, unit: str) -> Household | None:
    """One household by its unit label."""
    row = await db.fetchone(f"{_SELECT} WHERE h.unit = ?", (unit,))
    return _household(row) if row else None


async def search_households(
    db: Db, *, text: str | None, building: str | None, limit: int, offset: int
) -> tuple[list[Household], int]:
    """Households whose unit or notes contain `text`, in `building`; a page and the total."""
    where, params = ["1 = 1"], []
    if text:
        where.append("(h.unit LIKE ? ESCAPE '\\' OR h.notes LIKE ? ESCAPE '\\')")
        params += [like(text)] * 2
    if building:
        where.append("h.building = ?")
        params.append(building)
    clause = " AND ".join(where)
    total_row = await db.fetchone(f"SELECT count(*) FROM households h WHERE {clause}", params)
    rows = await db.fetchall(
        f"{_SELECT} WHERE {clause} ORDER BY h.unit LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return [_household(r) for r in rows], int(total_row[0]) if total_row else 0


async def insert_household(
    tx: Tx, unit: str, building: str, notes: str, now: datetime
) -> Household:
    """A new household."""
    household_id = await tx.execute(
        "INSERT INTO households (unit, building, notes, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (unit, building, notes, to_db(now), to_db(now)),
    )
    found = await get_household(tx, household_id)
    assert found is not None
    return found


async def update_household(
    tx: Tx, household_id: int, unit: str, building: str, notes: str, now: datetime
) -> None:
    """Change a household's fields."""
    await tx.execute(
        "UPDATE households SET unit = ?, building = ?, notes = ?, updated_at = ? WHERE id = ?",
        (unit, building, notes, to_db(now), household_id),
    )


async def delete_household(tx: Tx, household_id: int) -> None:
    """Remove a household (the caller checks it has no residents)."""
    await tx.execute("DELETE FROM households WHERE id = ?", (household_id,))


def like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

"""Households: the dwellings residents belong to, named by unit label (3-2-1501)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.errors import ConflictError, NotFoundError
from ..core.models import Household, Page
from ..core.text import check_name, check_text, normal
from ..store import Store, Tx
from ..store import households as sql


@dataclass(frozen=True)
class HouseholdChanges:
    """Fields to set; None leaves a field as it is."""

    unit: str | None = None
    building: str | None = None
    notes: str | None = None


def building_of(unit: str) -> str:
    """The building a unit label names first: '3-2-1501' -> '3', '3栋2单元1501' -> '3'."""
    for sep in ("-", "栋", "号楼", "幢", "#", "/"):
        head, found, _ = unit.partition(sep)
        if found and head.strip():
            return head.strip()
    return ""


UNIT_MAX: Final = 64
BUILDING_MAX: Final = 64
NOTES_MAX: Final = 2000


def clean_unit(unit: str) -> str:
    """A unit label as stored and compared: NFKC (full-width ３－２ is 3-2), trimmed, with
    a visible character; else a 400 naming `unit`."""
    return check_name("unit", unit, UNIT_MAX, form="NFKC")


def _clean_building(building: str) -> str:
    # A part of a unit label, so in the same form.
    return check_text("building", normal(building, "NFKC"), BUILDING_MAX)


def _clean_notes(notes: str) -> str:
    return check_text("notes", notes, NOTES_MAX, multiline=True)


async def create_household(
    store: Store, *, unit: str, building: str | None, notes: str, now: datetime
) -> Household:
    """A new household; the building defaults to the unit label's first part."""
    unit = clean_unit(unit)
    building = _clean_building(building) if building else building_of(unit)
    notes = _clean_notes(notes)

    async def txn(tx: Tx) -> Household:
        return await ensure_household(
            tx, unit=unit, building=building, notes=notes, now=now, must_be_new=True
        )

    return await store.write(txn)


async def ensure_household(
    tx: Tx, *, unit: str, building: str | None, notes: str, now: datetime, must_be_new: bool
) -> Household:
    """The household with this unit, created if missing (inside a caller's transaction)."""
    unit = clean_unit(unit)
    found = await sql.find_household(tx, unit)
    if found is not None:
        if must_be_new:
            raise ConflictError(
                f"unit: a household {unit!r} already exists (id {found.id})",
                code="household_exists",
                fields={"unit": "already exists"},
            )
        return found
    building = building if building is not None else building_of(unit)
    return await sql.insert_household(tx, unit, building, notes, now)


async def get_household(store: Store, household_id: int) -> Household:
    """One household, or 404."""
    found = await sql.get_household(store.reader, household_id)
    if found is None:
        raise NotFoundError(f"no household {household_id}", code="household_not_found")
    return found


async def list_households(
    store: Store, *, text: str | None, building: str | None, limit: int, offset: int
) -> Page[Household]:
    """Households matching a search, a page at a time, ordered by unit."""
    items, total = await sql.search_households(
        store.reader,
        text=None if text is None else normal(text),
        building=None if building is None else normal(building, "NFKC"),
        limit=limit,
        offset=offset,
    )
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def update_household(
    store: Store, household_id: int, changes: HouseholdChanges, now: datetime
) -> Household:
    """Change a household; a unit label already taken is a conflict."""

    async def txn(tx: Tx) -> Household:
        current = await sql.get_household(tx, household_id)
        if current is None:
            raise NotFoundError(f"no household {household_id}", code="household_not_found")
        unit = clean_unit(changes.unit) if changes.unit is not None else current.unit
        if unit != current.unit and await sql.find_household(tx, unit) is not None:
            raise ConflictError(
                f"unit: a household {unit!r} already exists",
                code="household_exists",
                fields={"unit": "already exists"},
            )
        building = (
            _clean_building(changes.building) if changes.building is not None else current.building
        )
        notes = _clean_notes(changes.notes) if changes.notes is not None else current.notes
        await sql.update_household(tx, household_id, unit, building, notes, now)
        updated = await sql.get_household(tx, household_id)
        assert updated is not None
        return updated

    return await store.write(txn)


async def delete_household(store: Store, household_id: int) -> None:
    """Remove an empty household; one with residents is a conflict."""

    async def txn(tx: Tx) -> None:
        current = await sql.get_household(tx, household_id)
        if current is None:
            raise NotFoundError(f"no household {household_id}", code="household_not_found")
        if current.resident_count:
            raise ConflictError(
                f"household {current.unit} still has {current.resident_count} resident(s);"
                " move or delete them first",
                code="household_not_empty",
            )
        await sql.delete_household(tx, household_id)

    await store.write(txn)

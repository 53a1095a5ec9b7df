"""SQL for the points store (积分超市): its catalogue of goods and the redemptions at its
counter (their postings are written through ledger.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from .core import Db, Row, Tx, marks


@dataclass(frozen=True)
class StoreItem:
    """Goods in the catalogue: points price, stock, and a per-household monthly limit."""

    id: int
    name: str
    price: int
    stock: int
    monthly_limit: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RedeemedGoods:
    """One line of a redemption: which goods, how many, at what price each."""

    item_id: int
    name: str
    quantity: int
    price: int


@dataclass(frozen=True)
class StoreRedemption:
    """Goods a household took at the counter, and what they cost."""

    id: int
    household_id: int
    total: int
    operator: str
    at: datetime
    posting_id: int | None
    items: tuple[RedeemedGoods, ...]


def _item(row: Row) -> StoreItem:
    return StoreItem(
        id=row["id"],
        name=row["name"],
        price=row["price"],
        stock=row["stock"],
        monthly_limit=row["monthly_limit"],
        active=bool(row["active"]),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


async def get_item(db: Db, item_id: int) -> StoreItem | None:
    """One item of the catalogue."""
    row = await db.fetchone("SELECT * FROM store_items WHERE id = ?", (item_id,))
    return _item(row) if row else None


async def items_by_id(db: Db, item_ids: Sequence[int]) -> dict[int, StoreItem]:
    """Items of the catalogue by id (missing ones left out)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return {}
    rows = await db.fetchall(f"SELECT * FROM store_items WHERE id IN ({marks(len(ids))})", ids)
    return {int(r["id"]): _item(r) for r in rows}


async def list_items(
    db: Db, *, active_only: bool, limit: int, offset: int
) -> tuple[list[StoreItem], int]:
    """The catalogue by name; a page and the total."""
    where = "WHERE active = 1" if active_only else ""
    total = await db.fetchone(f"SELECT count(*) FROM store_items {where}")
    rows = await db.fetchall(
        f"SELECT * FROM store_items {where} ORDER BY name LIMIT ? OFFSET ?", (limit, offset)
    )
    return [_item(r) for r in rows], int(total[0]) if total else 0


async def insert_item(
    tx: Tx, name: str, price: int, stock: int, monthly_limit: int | None, now: datetime
) -> int:
    """A new item; its id (a name in use raises DuplicateKey)."""
    return await tx.execute(
        "INSERT INTO store_items (name, price, stock, monthly_limit, active, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
        (name, price, stock, monthly_limit, to_db(now), to_db(now)),
    )


async def update_item(tx: Tx, item_id: int, fields: dict[str, object], now: datetime) -> None:
    """Change some of an item's columns (names come from the caller's fixed list)."""
    sets = ", ".join(f"{name} = ?" for name in fields)
    await tx.execute(
        f"UPDATE store_items SET {sets}, updated_at = ? WHERE id = ?",
        [*fields.values(), to_db(now), item_id],
    )


async def take_stock(tx: Tx, item_id: int, quantity: int) -> bool:
    """Take `quantity` off an item's stock; False (nothing taken) when there is less."""
    changed = await tx.execute_count(
        "UPDATE store_items SET stock = stock - ? WHERE id = ? AND stock >= ?",
        (quantity, item_id, quantity),
    )
    return changed == 1


async def taken_this_month(
    db: Db, household_id: int, item_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, int]:
    """How many of each item a household redeemed between `start` and `end` (not
    counting reversed redemptions)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return {}
    rows = await db.fetchall(
        "SELECT ri.item_id, sum(ri.quantity) FROM redemptions r"
        " JOIN redemption_items ri ON ri.redemption_id = r.id"
        " JOIN ledger_postings p ON p.redemption_id = r.id"
        " WHERE r.household_id = ? AND r.at >= ? AND r.at < ?"
        f" AND ri.item_id IN ({marks(len(ids))})"
        " AND NOT EXISTS (SELECT 1 FROM ledger_postings v WHERE v.reverses_id = p.id)"
        " GROUP BY ri.item_id",
        [household_id, to_db(start), to_db(end), *ids],
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def insert_redemption(
    tx: Tx,
    household_id: int,
    total: int,
    operator: str,
    lines: Sequence[tuple[int, int, int]],
    now: datetime,
) -> int:
    """A redemption of (item, quantity, price) lines; its id."""
    redemption_id = await tx.execute(
        "INSERT INTO redemptions (household_id, total, operator, at) VALUES (?, ?, ?, ?)",
        (household_id, total, operator, to_db(now)),
    )
    await tx.execute_rows(
        "INSERT INTO redemption_items (redemption_id, item_id, quantity, price) VALUES {rows}",
        [(redemption_id, item, quantity, price) for item, quantity, price in lines],
    )
    return redemption_id


async def restock(tx: Tx, redemption_id: int) -> None:
    """Put a reversed redemption's goods back in stock."""
    await tx.execute(
        "UPDATE store_items SET stock = stock + (SELECT quantity FROM redemption_items ri"
        " WHERE ri.redemption_id = ? AND ri.item_id = store_items.id)"
        " WHERE id IN (SELECT item_id FROM redemption_items WHERE redemption_id = ?)",
        (redemption_id, redemption_id),
    )


_REDEMPTION = (
    "SELECT r.*, p.id AS posting_id FROM redemptions r"
    " LEFT JOIN ledger_postings p ON p.redemption_id = r.id"
)


async def _redemptions(db: Db, rows: list[Row]) -> list[StoreRedemption]:
    ids = [int(r["id"]) for r in rows]
    lines: dict[int, list[RedeemedGoods]] = {}
    if ids:
        found = await db.fetchall(
            "SELECT ri.redemption_id, ri.item_id, s.name, ri.quantity, ri.price"
            " FROM redemption_items ri JOIN store_items s ON s.id = ri.item_id"
            f" WHERE ri.redemption_id IN ({marks(len(ids))}) ORDER BY s.name",
            ids,
        )
        for r in found:
            lines.setdefault(int(r[0]), []).append(RedeemedGoods(r[1], r[2], r[3], r[4]))
    return [
        StoreRedemption(
            id=r["id"],
            household_id=r["household_id"],
            total=r["total"],
            operator=r["operator"],
            at=from_db(r["at"]),
            posting_id=r["posting_id"],
            items=tuple(lines.get(int(r["id"]), ())),
        )
        for r in rows
    ]


async def get_redemption(db: Db, redemption_id: int) -> StoreRedemption | None:
    """One redemption with its goods."""
    rows = await db.fetchall(f"{_REDEMPTION} WHERE r.id = ?", (redemption_id,))
    found = await _redemptions(db, rows)
    return found[0] if found else None


async def list_redemptions(
    db: Db, *, household_id: int | None, limit: int, offset: int
) -> tuple[list[StoreRedemption], int]:
    """Redemptions, newest first, optionally one household's; a page and the total."""
    where, params = ("WHERE r.household_id = ?", [household_id]) if household_id else ("", [])
    total = await db.fetchone(f"SELECT count(*) FROM redemptions r {where}", params)
    rows = await db.fetchall(
        f"{_REDEMPTION} {where} ORDER BY r.id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    return await _redemptions(db, rows), int(total[0]) if total else 0

"""SQL for points that lapse: a household's lots (credit lines) and each lot's lapse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import opt_from_db, to_db
from .core import Db, Tx


@dataclass(frozen=True)
class Lot:
    """A credit line of a household (points earned together), for expiry."""

    line_id: int
    amount: int
    expires_at: datetime | None
    expired: bool


async def households_with_lapsed_lots(db: Db, now: datetime, limit: int) -> list[int]:
    """Households having a lot past its expiry that has not lapsed yet."""
    rows = await db.fetchall(
        "SELECT DISTINCT a.household_id FROM ledger_lines l"
        " JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE l.expires_at <= ? AND l.amount > 0 AND a.kind = 'household'"
        " AND NOT EXISTS (SELECT 1 FROM ledger_lot_expiries x WHERE x.line_id = l.id)"
        " LIMIT ?",
        (to_db(now), limit),
    )
    return [int(r[0]) for r in rows]


async def lots(db: Db, account_id: int) -> tuple[list[Lot], int]:
    """An account's credit lines, oldest first, and the points taken out of it in all."""
    rows = await db.fetchall(
        "SELECT l.id, l.amount, l.expires_at, x.line_id IS NOT NULL AS expired"
        " FROM ledger_lines l LEFT JOIN ledger_lot_expiries x ON x.line_id = l.id"
        " WHERE l.account_id = ? AND l.amount > 0 ORDER BY l.id",
        (account_id,),
    )
    taken = await db.fetchone(
        "SELECT coalesce(-sum(amount), 0) FROM ledger_lines WHERE account_id = ? AND amount < 0",
        (account_id,),
    )
    return [Lot(r[0], r[1], opt_from_db(r[2]), bool(r[3])) for r in rows], int(
        taken[0]
    ) if taken else 0


async def record_lapse(tx: Tx, line_id: int, posting_id: int | None, amount: int) -> None:
    """That lot `line_id` lapsed `amount` points in posting `posting_id` (None and 0: it
    was spent before its time); once, by its primary key."""
    await tx.execute(
        "INSERT INTO ledger_lot_expiries (line_id, posting_id, amount) VALUES (?, ?, ?)",
        (line_id, posting_id, amount),
    )


async def households_with_lots_expiring(
    db: Db, start: datetime, end: datetime, limit: int
) -> list[int]:
    """Households having a lot that lapses in (start, end] and whose household was not
    told of it yet."""
    rows = await db.fetchall(
        "SELECT DISTINCT a.household_id FROM ledger_lines l"
        " JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE l.expires_at > ? AND l.expires_at <= ? AND l.amount > 0"
        " AND a.kind = 'household'"
        " AND NOT EXISTS (SELECT 1 FROM ledger_lot_notices n WHERE n.line_id = l.id)"
        " LIMIT ?",
        (to_db(start), to_db(end), limit),
    )
    return [int(r[0]) for r in rows]


async def mark_noticed(tx: Tx, line_id: int, now: datetime) -> bool:
    """Record that a lot's household was told it lapses soon; False if it had been."""
    changed = await tx.execute_count(
        "INSERT INTO ledger_lot_notices (line_id, sent_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (line_id, to_db(now)),
    )
    return changed == 1

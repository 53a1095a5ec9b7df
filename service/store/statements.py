"""SQL for the monthly passbook statements: each household's month in figures, and which
households were sent theirs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import to_db
from .core import Db, Tx


@dataclass(frozen=True)
class MonthFigures:
    """A household's points in a month, and its balance now."""

    household_id: int
    earned: int
    spent: int
    balance: int


async def month_figures(
    db: Db, start: datetime, end: datetime, after_household: int, limit: int
) -> list[MonthFigures]:
    """Households (after `after_household`, in order) that had points move in [start, end)
    or hold points now."""
    rows = await db.fetchall(
        "SELECT a.household_id,"
        " coalesce(sum(CASE WHEN l.amount > 0 AND p.at >= ? AND p.at < ? THEN l.amount END), 0),"
        " coalesce(-sum(CASE WHEN l.amount < 0 AND p.at >= ? AND p.at < ? THEN l.amount END), 0),"
        " coalesce(sum(l.amount), 0) AS balance"
        " FROM ledger_accounts a JOIN ledger_lines l ON l.account_id = a.id"
        " JOIN ledger_postings p ON p.id = l.posting_id"
        " WHERE a.kind = 'household' AND a.household_id > ?"
        " GROUP BY a.household_id ORDER BY a.household_id LIMIT ?",
        (to_db(start), to_db(end), to_db(start), to_db(end), after_household, limit),
    )
    return [MonthFigures(r[0], r[1], r[2], r[3]) for r in rows]


async def mark_sent(tx: Tx, household_id: int, month: str, now: datetime) -> bool:
    """Record that a household's statement for `month` went out; False if it had."""
    changed = await tx.execute_count(
        "INSERT INTO ledger_statements (household_id, month, sent_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (household_id, month, to_db(now)),
    )
    return changed == 1


async def resident_ids(db: Db, household_id: int) -> list[int]:
    """A household's residents, oldest first."""
    rows = await db.fetchall(
        "SELECT id FROM residents WHERE household_id = ? ORDER BY id", (household_id,)
    )
    return [int(r[0]) for r in rows]

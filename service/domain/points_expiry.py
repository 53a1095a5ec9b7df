"""Points that lapse (optional per community, off by default: [passbook] expiry_months).

Each credit line of a household is a lot; spending uses the oldest lots first, so what is
left of a lot is its amount less what the points taken out in all have used of it and the
lots before it. When a lot's time comes, the housekeeping loop posts one `expire` of what
is left of it (key `expire:<line>`, and the journal records each lot's lapse once), so a
restart or a second process cannot lapse it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ..store import Store, Tx, ledger
from ..store import points_expiry as sql
from ..store.ledger import ISSUING, LedgerLine, NewPosting

BATCH: Final = 200


def left_of_lots(lots: list[sql.Lot], taken: int) -> dict[int, int]:
    """What is left of each lot (by line id) once `taken` points used the oldest first."""
    left: dict[int, int] = {}
    for lot in lots:
        used = min(lot.amount, taken)
        taken -= used
        left[lot.line_id] = lot.amount - used
    return left


async def lapse_household(tx: Tx, household_id: int, now: datetime) -> int:
    """Inside a write job: post an `expire` for each of a household's lots past its time;
    the points lapsed."""
    account = await ledger.account_of(tx, household_id)
    if account is None:
        return 0
    lots, taken = await sql.lots(tx, account.id)
    left = left_of_lots(lots, taken)
    lapsed = 0
    for lot in lots:
        if lot.expired or lot.expires_at is None or lot.expires_at > now:
            continue
        points = left[lot.line_id]
        if points <= 0:
            await sql.record_lapse(tx, lot.line_id, None, 0)  # spent in time: done with
            continue
        posting_id = await ledger.insert_posting(
            tx,
            NewPosting("expire", f"expire:{lot.line_id}", "housekeeping", "expired", now),
            [LedgerLine(account.id, household_id, -points), LedgerLine(ISSUING, None, points)],
        )
        await sql.record_lapse(tx, lot.line_id, posting_id, points)
        lapsed += points
    return lapsed


async def lapse_due(store: Store, *, now: datetime) -> int:
    """Lapse every lot past its time, a batch of households per transaction; the points."""
    total = 0
    while True:
        due = await sql.households_with_lapsed_lots(store.reader, now, BATCH)
        if not due:
            return total

        async def txn(tx: Tx, due: list[int] = due) -> int:
            return sum([await lapse_household(tx, h, now) for h in due])

        # Every due lot of these households is recorded, so the next batch is new ones.
        total += await store.write(txn)

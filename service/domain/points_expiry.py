"""Points that lapse (optional per community, off by default: [passbook] expiry_months).

Each credit line of a household is a lot; spending uses the oldest lots first, so what is
left of a lot is its amount less what the points taken out in all have used of it and the
lots before it. When a lot's time comes, the housekeeping loop posts one `expire` of what
is left of it (key `expire:<line>`, and the journal records each lot's lapse once), so a
restart or a second process cannot lapse it twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from ..core.i18n import date_text
from ..core.models import MessageKind
from ..messages.compose import Composer
from ..store import Store, Tx, ledger
from ..store import outbox as outbox_sql
from ..store import points_expiry as sql
from ..store.ledger import ISSUING, LedgerLine, NewPosting
from ..store.outbox import NewMessage
from .statements import household_message

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


async def notify_expiring(
    store: Store, composer: Composer, *, now: datetime, days: int, tz: tzinfo
) -> int:
    """Tell each household whose lots lapse within `days` how many points and when, once
    per lot (ledger_lot_notices); how many households were told."""
    told = 0
    end = now + timedelta(days=days)
    while True:
        due = await sql.households_with_lots_expiring(store.reader, now, end, BATCH)
        if not due:
            return told

        async def txn(tx: Tx, due: list[int] = due) -> int:
            rows = []
            for household_id in due:
                message = await _notice(tx, composer, household_id, now, end, tz)
                if message is not None:
                    rows.append(message)
            await outbox_sql.insert_messages(tx, rows, now)
            return len(rows)

        told += await store.write(txn)


async def _notice(
    tx: Tx, composer: Composer, household_id: int, now: datetime, end: datetime, tz: tzinfo
) -> NewMessage | None:
    account = await ledger.account_of(tx, household_id)
    assert account is not None
    lots, taken = await sql.lots(tx, account.id)
    left = left_of_lots(lots, taken)
    soon = [
        lot
        for lot in lots
        if not lot.expired and lot.expires_at is not None and now < lot.expires_at <= end
    ]
    for lot in soon:
        await sql.mark_noticed(tx, lot.line_id, now)
    points = sum(left[lot.line_id] for lot in soon)
    if points <= 0:
        return None  # spent in time: nothing to tell
    first = min(lot.expires_at for lot in soon if lot.expires_at is not None)

    def values(language: str) -> dict[str, Any]:
        return {
            "points": points,
            "date_text": date_text(first.astimezone(tz), language),
            "balance": account.balance,
        }

    return await household_message(
        tx, composer, household_id, values, now, kind=MessageKind.POINTS_EXPIRY
    )

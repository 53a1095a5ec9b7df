"""What the console and the API read of the passbook: accounts, postings (filtered),
one posting, an event's points, and the journal's lines for the CSV export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from ..core.errors import NotFoundError, ValidationError
from ..core.models import Page
from ..core.privacy import mask_name
from ..store import Db, Store, Tx
from ..store import households as household_sql
from ..store import ledger as sql
from ..store import passbook_reads as reads
from ..store import points_store as shelf
from ..store.ledger import LedgerPosting, PassbookAccount, PostingFilter
from ..store.passbook_reads import ExportLine, Standing
from ..store.points_store import StoreItem
from .passbook import KINDS, POINTS_MAX

EXPORT_PAGE: Final = 1000


async def list_accounts(db: Db, *, limit: int, offset: int) -> Page[PassbookAccount]:
    """Households' passbook accounts by household id."""
    items, total = await sql.list_accounts(db, limit=limit, offset=offset)
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def list_postings(
    db: Db, f: PostingFilter, *, limit: int, offset: int
) -> Page[LedgerPosting]:
    """Postings matching the filter, newest first."""
    if f.kind is not None and f.kind not in KINDS:
        raise ValidationError.field("kind", f"must be one of {', '.join(KINDS)}")
    if f.since is not None and f.until is not None and f.until <= f.since:
        raise ValidationError.field("until", "must be after since")
    items, total = await sql.list_postings(db, f, limit=limit, offset=offset)
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def get_posting(db: Db, posting_id: int) -> LedgerPosting:
    """One posting with its lines, or 404 posting_not_found."""
    found = await sql.posting(db, posting_id)
    if found is None:
        raise NotFoundError(f"no posting {posting_id}", code="posting_not_found")
    return found


@dataclass(frozen=True)
class EventPointsSetting:
    """What an event gives at check-in: per person who came, or per person and hour."""

    event_id: int
    per_person: int | None
    per_hour: int | None


async def set_event_points(
    store: Store, event_id: int, *, per_person: int | None, per_hour: int | None
) -> EventPointsSetting:
    """Set an event's points (both None: it gives none, or a volunteer event's default)."""
    if per_person is not None and per_hour is not None:
        raise ValidationError.field("per_hour", "give per_person or per_hour, not both")
    for name, value in (("per_person", per_person), ("per_hour", per_hour)):
        if value is not None and not 1 <= value <= POINTS_MAX:
            raise ValidationError.field(name, f"must be 1 to {POINTS_MAX}")

    async def txn(tx: Tx) -> EventPointsSetting:
        if await sql.event_points(tx, event_id) is None:
            raise NotFoundError(f"no event {event_id}", code="event_not_found")
        await sql.set_event_points(tx, event_id, per_person, per_hour)
        return EventPointsSetting(event_id, per_person, per_hour)

    return await store.write(txn)


async def export_lines(db: Db) -> AsyncIterator[list[ExportLine]]:
    """Every household line of the journal, a page at a time, in order."""
    after = 0
    while True:
        page = await reads.export_lines(db, after, EXPORT_PAGE)
        if not page:
            return
        yield page
        after = page[-1].line_id


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a resident's passbook page: earned where, spent on what."""

    at: datetime
    kind: str
    points: int
    what: str  # the event's title, the goods taken, or the organiser's reason


@dataclass(frozen=True)
class PassbookView:
    """What a household's passbook page shows."""

    household_id: int
    unit: str
    balance: int
    code: str
    history: tuple[HistoryEntry, ...]
    catalogue: tuple[StoreItem, ...]


HISTORY_MAX: Final = 50


async def passbook_view(store: Store, household_id: int, *, now: datetime) -> PassbookView | None:
    """A household's balance (its lines' sum), code, latest history and the store's goods;
    None when no such household. Opens the account on first sight, so the code exists."""
    household = await household_sql.get_household(store.reader, household_id)
    if household is None:
        return None
    account = await sql.account_of(store.reader, household_id)
    if account is None:

        async def txn(tx: Tx) -> None:
            await sql.ensure_accounts(tx, [household_id], now)

        await store.write(txn)
        account = await sql.account_of(store.reader, household_id)
        assert account is not None
    entries = []
    for line in await reads.household_history(store.reader, household_id, HISTORY_MAX):
        what = line.event_title or line.reason
        if line.redemption_id is not None:
            taken = await shelf.get_redemption(store.reader, line.redemption_id)
            if taken is not None:
                what = "、".join(f"{g.name}×{g.quantity}" for g in taken.items)
        entries.append(HistoryEntry(line.at, line.kind, line.points, what))
    goods, _ = await shelf.list_items(store.reader, active_only=True, limit=200, offset=0)
    return PassbookView(
        household_id=household_id,
        unit=household.unit,
        balance=await sql.line_sum(store.reader, account.id),
        code=account.code,
        history=tuple(entries),
        catalogue=tuple(goods),
    )


LEADERBOARD_MAX: Final = 20


async def leaderboard(db: Db) -> list[Standing]:
    """The public leaderboard (积分榜): households by points earned, names masked (张*)."""
    return [
        replace(s, name=mask_name(s.name)) for s in await reads.leaderboard(db, LEADERBOARD_MAX)
    ]

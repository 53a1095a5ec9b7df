"""The points store (积分超市): its catalogue, and redemptions at the counter.

A redemption is one write job: the household's balance, each item's stock and monthly
limit are checked, the stock taken and the `redeem` posting written in one transaction,
so of two concurrent redemptions that the balance covers once, exactly one succeeds (the
other gets 409 insufficient_points), and stock never goes below zero (409 out_of_stock;
the schema's CHECK refuses it too).

Error codes: insufficient_points, out_of_stock, monthly_limit, item_unavailable,
item_exists (409); item_not_found, household_not_found (404); invalid (400, naming the
field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from ..core.checkin_codes import normalise
from ..core.clock import utc_text
from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import IntegrationEvent, Page
from ..core.text import check_name
from ..store import Db, Store, Tx, ledger
from ..store import households as household_sql
from ..store import points_store as sql
from ..store.errors import DuplicateKey
from ..store.ledger import STORE, LedgerLine, LedgerPosting, NewPosting
from ..store.points_store import RedeemedGoods, StoreItem, StoreRedemption
from . import subscriptions
from .passbook import check_key

NAME_MAX: Final = 60
PRICE_MAX: Final = 1_000_000
STOCK_MAX: Final = 1_000_000
LINES_MAX: Final = 50

__all__ = ["StoreItem", "StoreRedemption"]


@dataclass(frozen=True)
class Wanted:
    """Goods asked for at the counter: an item and how many."""

    item_id: int
    quantity: int


@dataclass(frozen=True)
class PointsRedeemed:
    """A redemption as made (or as first made under the same key), with the balance left."""

    redemption: StoreRedemption
    posting: LedgerPosting
    balance: int
    repeated: bool


def redeemed_occurrence(made: PointsRedeemed) -> subscriptions.Occurrence:
    """points.redeemed: who (a household id), which goods, how many points, what is left."""
    redemption = made.redemption
    return subscriptions.Occurrence(
        IntegrationEvent.POINTS_REDEEMED,
        None,
        {
            "redemption_id": redemption.id,
            "posting_id": made.posting.id,
            "household_id": redemption.household_id,
            "points": redemption.total,
            "balance": made.balance,
            "items": [
                {"item_id": g.item_id, "quantity": g.quantity, "price": g.price}
                for g in redemption.items
            ],
            "at": utc_text(redemption.at),
        },
    )


def _item_exists(name: str) -> ConflictError:
    return ConflictError(f"an item named {name!r} exists", code="item_exists")


async def create_item(
    store: Store, *, name: str, price: int, stock: int, monthly_limit: int | None, now: datetime
) -> StoreItem:
    """A new item in the catalogue (409 item_exists when its name is taken)."""
    name = check_name("name", name, NAME_MAX)

    async def txn(tx: Tx) -> StoreItem:
        try:
            item_id = await sql.insert_item(tx, name, price, stock, monthly_limit, now)
        except DuplicateKey as exc:
            raise _item_exists(name) from exc
        found = await sql.get_item(tx, item_id)
        assert found is not None
        return found

    return await store.write(txn)


_COLUMNS: Final = frozenset({"name", "price", "stock", "monthly_limit", "active"})


async def update_item(
    store: Store, item_id: int, changes: dict[str, Any], now: datetime
) -> StoreItem:
    """Change an item's name, price, stock, monthly limit or whether it is offered."""
    fields = {k: v for k, v in changes.items() if k in _COLUMNS}
    if "name" in fields:
        fields["name"] = check_name("name", str(fields["name"]), NAME_MAX)

    async def txn(tx: Tx) -> StoreItem:
        if await sql.get_item(tx, item_id) is None:
            raise NotFoundError(f"no item {item_id}", code="item_not_found")
        if fields:
            try:
                await sql.update_item(tx, item_id, fields, now)
            except DuplicateKey as exc:
                raise _item_exists(str(fields["name"])) from exc
        found = await sql.get_item(tx, item_id)
        assert found is not None
        return found

    return await store.write(txn)


async def get_item(db: Db, item_id: int) -> StoreItem:
    """One item, or 404 item_not_found."""
    found = await sql.get_item(db, item_id)
    if found is None:
        raise NotFoundError(f"no item {item_id}", code="item_not_found")
    return found


def month_of(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The community's calendar month around `now`, as [start, end)."""
    local = now.astimezone(tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


async def _household(tx: Tx, household_id: int | None, code: str | None, unit: str | None) -> int:
    given = [x for x in (household_id, code, unit) if x is not None]
    if len(given) != 1:
        raise ValidationError.field("household", "give one of household_id, code or unit")
    if household_id is not None:
        if not await ledger.existing_households(tx, [household_id]):
            raise NotFoundError(f"no household {household_id}", code="household_not_found")
        return household_id
    if code is not None:
        typed = normalise(code)
        account = None if typed is None else await ledger.account_by_code(tx, typed)
        if account is None:
            raise NotFoundError(f"no passbook code {code!r}", code="household_not_found")
        return account.household_id
    assert unit is not None
    found = await household_sql.find_household(tx, unit.strip())
    if found is None:
        raise NotFoundError(f"no household at unit {unit!r}", code="household_not_found")
    return found.id


def _check_wanted(wanted: Sequence[Wanted]) -> None:
    if not wanted:
        raise ValidationError.field("items", "list at least one item")
    if len(wanted) > LINES_MAX:
        raise ValidationError.field("items", f"at most {LINES_MAX} lines")
    if len({w.item_id for w in wanted}) != len(wanted):
        raise ValidationError.field("items", "each item once, with its quantity")


async def redeem(
    store: Store,
    wanted: Sequence[Wanted],
    *,
    key: str,
    operator: str,
    now: datetime,
    tz: ZoneInfo,
    household_id: int | None = None,
    code: str | None = None,
    unit: str | None = None,
) -> PointsRedeemed:
    """Goods for points at the counter, found by household id, passbook code or unit."""
    _check_wanted(wanted)
    key = check_key(key)

    async def txn(tx: Tx) -> PointsRedeemed:
        earlier_id = await ledger.posting_id_by_key(tx, key)
        if earlier_id is not None:
            return await _outcome(tx, earlier_id, repeated=True)
        household = await _household(tx, household_id, code, unit)
        items = await sql.items_by_id(tx, [w.item_id for w in wanted])
        for w in wanted:
            item = items.get(w.item_id)
            if item is None:
                raise NotFoundError(f"no item {w.item_id}", code="item_not_found")
            if not item.active:
                raise ConflictError(f"{item.name} is not offered now", code="item_unavailable")
        total = sum(items[w.item_id].price * w.quantity for w in wanted)
        account = await ledger.account_of(tx, household)
        if account is None:  # a household's first visit: no points yet, but an account
            account_id, have = (await ledger.ensure_accounts(tx, [household], now))[household], 0
        else:
            account_id, have = account.id, account.balance
        if have < total:
            raise ConflictError(
                f"household {household} has {have} points, not {total}",
                code="insufficient_points",
            )
        await _check_limits(tx, household, wanted, items, now, tz)
        for w in wanted:
            if not await sql.take_stock(tx, w.item_id, w.quantity):
                item = items[w.item_id]
                raise ConflictError(f"{item.name}: not enough in stock", code="out_of_stock")
        redemption_id = await sql.insert_redemption(
            tx,
            household,
            total,
            operator,
            [(w.item_id, w.quantity, items[w.item_id].price) for w in wanted],
            now,
        )
        lines = (LedgerLine(account_id, household, -total), LedgerLine(STORE, None, total))
        new = NewPosting("redeem", key, operator, "", now, redemption_id=redemption_id)
        posting_id = await ledger.insert_posting(tx, new, lines)
        # Built from what was just written, not read back: this is the counter's hot path.
        goods = tuple(
            RedeemedGoods(w.item_id, items[w.item_id].name, w.quantity, items[w.item_id].price)
            for w in sorted(wanted, key=lambda w: items[w.item_id].name)
        )
        posting = LedgerPosting(
            id=posting_id,
            kind="redeem",
            idem_key=key,
            operator=operator,
            reason="",
            event_id=None,
            checkin_id=None,
            redemption_id=redemption_id,
            reverses_id=None,
            reversed_by=None,
            at=now,
            lines=lines,
        )
        redemption = StoreRedemption(
            redemption_id, household, total, operator, now, posting_id, goods
        )
        made = PointsRedeemed(redemption, posting, have - total, repeated=False)
        await subscriptions.emit(tx, [redeemed_occurrence(made)], now)
        return made

    # A function of its transaction alone, and it changes no memoised rows (events,
    # subscriptions): neighbouring redemptions share a SAVEPOINT and the listeners' read.
    return await store.write(txn, rerunnable=True, memo_safe=True)


async def _check_limits(
    tx: Tx,
    household: int,
    wanted: Sequence[Wanted],
    items: dict[int, StoreItem],
    now: datetime,
    tz: ZoneInfo,
) -> None:
    limited = [w for w in wanted if items[w.item_id].monthly_limit is not None]
    if not limited:
        return
    start, end = month_of(now, tz)
    taken = await sql.taken_this_month(tx, household, [w.item_id for w in limited], start, end)
    for w in limited:
        item = items[w.item_id]
        assert item.monthly_limit is not None
        if taken.get(w.item_id, 0) + w.quantity > item.monthly_limit:
            raise ConflictError(
                f"{item.name}: at most {item.monthly_limit} a month per household",
                code="monthly_limit",
            )


async def _outcome(tx: Tx, posting_id: int, *, repeated: bool) -> PointsRedeemed:
    posting = await ledger.posting(tx, posting_id)
    if posting is None or posting.redemption_id is None:
        # The key was used by a posting of another kind.
        raise ConflictError("this key was used for another posting", code="key_in_use")
    redemption = await sql.get_redemption(tx, posting.redemption_id)
    assert redemption is not None
    have = (await ledger.balances(tx, [redemption.household_id])).get(redemption.household_id, 0)
    return PointsRedeemed(redemption, posting, have, repeated)


async def list_items(db: Db, *, active_only: bool, limit: int, offset: int) -> Page[StoreItem]:
    """The catalogue by name (only the goods offered now, if asked)."""
    items, total = await sql.list_items(db, active_only=active_only, limit=limit, offset=offset)
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def list_redemptions(
    db: Db, *, household_id: int | None, limit: int, offset: int
) -> Page[StoreRedemption]:
    """Redemptions, newest first."""
    items, total = await sql.list_redemptions(
        db, household_id=household_id, limit=limit, offset=offset
    )
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)

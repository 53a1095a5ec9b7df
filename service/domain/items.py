"""The consultation list (协商清单): items made from needs, moving forward only
(collected → discussing → decided → in_progress → done) with an audit trail of every step,
and households' support (once each, withdrawable) against a visible threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from ..core.clock import utc_text
from ..core.consultation import Decision, Item, ItemStatus, SupportOutcome
from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import IntegrationEvent, Page
from ..core.text import check_name, check_text
from ..store import Store, Tx
from ..store import consultation as sql
from ..store.errors import ConstraintError
from . import subscriptions
from .needs import check_category

TITLE_MAX: Final = 120
DESCRIPTION_MAX: Final = 4000
OUTCOME_MAX: Final = 2000
REASON_MAX: Final = 500
THRESHOLD_MAX: Final = 100_000
DEFAULT_THRESHOLD: Final = 10
NEEDS_MAX: Final = 500
# Statuses at which an item carries a decision, and those that need it accepted.
_DECIDED: Final = frozenset({ItemStatus.DECIDED, ItemStatus.IN_PROGRESS, ItemStatus.DONE})
_CARRIED_OUT: Final = frozenset({ItemStatus.IN_PROGRESS, ItemStatus.DONE})


@dataclass(frozen=True)
class ItemInput:
    """A new item, and the needs it gathers."""

    title: str
    description: str = ""
    category: str | None = None
    support_threshold: int = DEFAULT_THRESHOLD
    review_on: str | None = None
    need_ids: Sequence[int] = ()


@dataclass(frozen=True)
class ItemChanges:
    """Fields to change; None leaves one as it is ("" clears the review date)."""

    title: str | None = None
    description: str | None = None
    category: str | None = None
    support_threshold: int | None = None
    review_on: str | None = None
    outcome: str | None = None
    reason: str = ""


def _not_found(item_id: int) -> NotFoundError:
    return NotFoundError(f"no item {item_id}", code="item_not_found")


def _threshold(value: int) -> int:
    if isinstance(value, bool) or not 1 <= value <= THRESHOLD_MAX:
        raise ValidationError.field("support_threshold", f"must be 1 to {THRESHOLD_MAX}")
    return value


def _review_on(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ValidationError.field("review_on", "must be a date YYYY-MM-DD")
    return day.isoformat()


def _reason(reason: str) -> str:
    return check_text("reason", reason, REASON_MAX, multiline=True)


def item_changed(item: Item, action: str, now: datetime) -> subscriptions.Occurrence:
    """An item's state, decision or support changed: ids, states and counts."""
    return subscriptions.Occurrence(
        IntegrationEvent.ITEM_CHANGED,
        None,
        {
            "item_id": item.id,
            "code": item.code,
            "action": action,
            "status": str(item.status),
            "decision": None if item.decision is None else str(item.decision),
            "support_count": item.support_count,
            "support_threshold": item.support_threshold,
            "at": utc_text(now),
        },
    )


async def current(tx: Tx, item_id: int) -> Item:
    """The item as it is in this transaction, or 404 item_not_found."""
    found = await sql.get_item(tx, item_id)
    if found is None:
        raise _not_found(item_id)
    return found


async def _merge(tx: Tx, item: Item, need_ids: Sequence[int], actor: str, now: datetime) -> int:
    """Put needs on an item; a need on another item already is a 409. Returns how many
    were added (a need already on this item adds nothing)."""
    if len(need_ids) > NEEDS_MAX:
        raise ValidationError.field("need_ids", f"at most {NEEDS_MAX}")
    added = 0
    for need_id in dict.fromkeys(need_ids):
        need = await sql.get_need(tx, need_id)
        if need is None:
            raise NotFoundError(f"no need {need_id}", code="need_not_found")
        if need.item_id == item.id:
            continue
        if need.item_id is not None:
            raise ConflictError(
                f"need_ids: need {need_id} is on item A{need.item_id} already",
                code="need_merged_elsewhere",
                fields={"need_ids": f"need {need_id} is on another item"},
            )
        await sql.link_need(tx, need_id, item.id)
        await sql.add_step(
            tx, item.id, actor=actor, action="need_merged", now=now, reason=f"need {need_id}"
        )
        added += 1
    return added


async def create_item(store: Store, given: ItemInput, *, actor: str, now: datetime) -> Item:
    """A new collected item from some needs (their raisers become its raisers)."""
    title = check_name("title", given.title, TITLE_MAX)
    description = check_text("description", given.description, DESCRIPTION_MAX, multiline=True)
    category = check_category(given.category)
    threshold = _threshold(given.support_threshold)
    review_on = _review_on(given.review_on)

    async def txn(tx: Tx) -> Item:
        item_id = await sql.insert_item(
            tx,
            title=title,
            description=description,
            category=None if category is None else str(category),
            support_threshold=threshold,
            review_on=review_on,
            now=now,
        )
        await sql.add_step(
            tx, item_id, actor=actor, action="created", now=now, to_status="collected"
        )
        item = await current(tx, item_id)
        await _merge(tx, item, given.need_ids, actor, now)
        made = await current(tx, item_id)
        await subscriptions.emit(tx, [item_changed(made, "created", now)], now)
        return made

    return await store.write(txn)


async def merge_needs(
    store: Store, item_id: int, need_ids: Sequence[int], *, actor: str, now: datetime
) -> Item:
    """Merge duplicate needs into an item; doing it again changes nothing."""

    async def txn(tx: Tx) -> Item:
        item = await current(tx, item_id)
        if await _merge(tx, item, need_ids, actor, now):
            item = await current(tx, item_id)
            await subscriptions.emit(tx, [item_changed(item, "need_merged", now)], now)
        return item

    return await store.write(txn)


async def update_item(
    store: Store, item_id: int, changes: ItemChanges, *, actor: str, now: datetime
) -> Item:
    """Change an item's words, threshold, review date or saved (unpublished) outcome."""
    title = None if changes.title is None else check_name("title", changes.title, TITLE_MAX)
    description = (
        None
        if changes.description is None
        else check_text("description", changes.description, DESCRIPTION_MAX, multiline=True)
    )
    outcome = (
        None
        if changes.outcome is None
        else check_text("outcome", changes.outcome, OUTCOME_MAX, multiline=True)
    )
    category = None if changes.category is None else check_category(changes.category)
    threshold = None if changes.support_threshold is None else _threshold(changes.support_threshold)
    reason = _reason(changes.reason)

    async def txn(tx: Tx) -> Item:
        item = await current(tx, item_id)
        await sql.update_item(
            tx,
            item_id,
            title=item.title if title is None else title,
            description=item.description if description is None else description,
            category=(
                (None if item.category is None else str(item.category))
                if changes.category is None
                else (None if category is None else str(category))
            ),
            support_threshold=item.support_threshold if threshold is None else threshold,
            review_on=item.review_on
            if changes.review_on is None
            else _review_on(changes.review_on),
            outcome=item.outcome if outcome is None else outcome,
            now=now,
        )
        await sql.add_step(tx, item_id, actor=actor, action="edited", now=now, reason=reason)
        changed = await current(tx, item_id)
        await subscriptions.emit(tx, [item_changed(changed, "edited", now)], now)
        return changed

    return await store.write(txn)


def check_move(item: Item, to: ItemStatus, decision: Decision | None) -> Decision | None:
    """The decision the item carries after moving to `to`; a step back or sideways, a
    decided status without a decision, or carrying out what was not accepted is a 409."""
    if to.rank <= item.status.rank:
        raise ConflictError(
            f"status: item {item.code} is {item.status} and moves forward only",
            code="item_moves_forward_only",
            fields={"status": f"must come after {item.status}"},
        )
    carried = decision or item.decision
    if to in _DECIDED and carried is None:
        raise ValidationError.field("decision", "a decided item needs a decision")
    if to in _CARRIED_OUT and carried is not Decision.ACCEPTED:
        raise ConflictError(
            f"status: item {item.code} was not accepted, so it is not carried out",
            code="item_not_accepted",
            fields={"status": "only an accepted item is carried out"},
        )
    return carried if to in _DECIDED else None


async def move_in(
    tx: Tx,
    item: Item,
    to: ItemStatus,
    *,
    decision: Decision | None,
    outcome: str | None,
    reason: str,
    actor: str,
    now: datetime,
) -> Item:
    """Move an item forward inside a transaction, with its step and item.changed."""
    carried = check_move(item, to, decision)
    try:
        await sql.set_status(
            tx,
            item.id,
            str(to),
            None if carried is None else str(carried),
            item.outcome if outcome is None else outcome,
            now,
        )
    except ConstraintError as exc:  # the schema's own guard: another path stepped back
        raise ConflictError(str(exc), code="item_moves_forward_only") from exc
    await sql.add_step(
        tx,
        item.id,
        actor=actor,
        action="status",
        now=now,
        from_status=str(item.status),
        to_status=str(to),
        reason=reason,
        decision=None if decision is None else str(decision),
    )
    moved = await current(tx, item.id)
    await subscriptions.emit(tx, [item_changed(moved, "status", now)], now)
    return moved


async def move_item(
    store: Store,
    item_id: int,
    to: str,
    *,
    decision: str | None = None,
    outcome: str | None = None,
    reason: str = "",
    actor: str,
    now: datetime,
) -> Item:
    """Move an item forward (saving a decision does not publish it). Asking for the
    status it has already is a repeat and changes nothing."""
    try:
        status = ItemStatus(to)
    except ValueError:
        names = ", ".join(s.value for s in ItemStatus)
        raise ValidationError.field("status", f"must be one of {names}") from None
    try:
        chosen = None if decision in (None, "") else Decision(str(decision))
    except ValueError:
        names = ", ".join(d.value for d in Decision)
        raise ValidationError.field("decision", f"must be one of {names}") from None
    said = None if outcome is None else check_text("outcome", outcome, OUTCOME_MAX, multiline=True)
    why = _reason(reason)

    async def txn(tx: Tx) -> Item:
        item = await current(tx, item_id)
        if item.status is status and (chosen is None or chosen is item.decision):
            return item
        return await move_in(
            tx, item, status, decision=chosen, outcome=said, reason=why, actor=actor, now=now
        )

    return await store.write(txn)


async def get_item(store: Store, item_id: int) -> Item:
    """One item with its needs and audit trail, or 404 item_not_found."""
    found = await sql.get_item(store.reader, item_id, detail=True)
    if found is None:
        raise _not_found(item_id)
    return found


def parse_code(typed: str) -> int | None:
    """The item id in a code residents type (A3, a3, Ａ３), or None."""
    text = typed.strip().upper().translate({0xFF21: "A"})
    text = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" else c for c in text)
    if len(text) < 2 or text[0] != "A" or not text[1:].isascii() or not text[1:].isdigit():
        return None
    return int(text[1:]) if len(text) <= 12 else None


async def list_items(
    store: Store,
    *,
    statuses: Sequence[str] = (),
    published_only: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> Page[Item]:
    """Items by id, of some statuses when given."""
    for status in statuses:
        if status not in ItemStatus.__members__.values():
            raise ValidationError.field("status", f"unknown status {status!r}")
    rows, total = await sql.list_items(
        store.reader, statuses=statuses, published_only=published_only, limit=limit, offset=offset
    )
    return Page(items=tuple(rows), total=total, limit=limit, offset=offset)


async def reviews_due(store: Store, today: date) -> list[Item]:
    """Items whose review date has come (the organiser's reminder), not yet done."""
    return await sql.reviews_due(store.reader, today.isoformat())


async def support_in(
    tx: Tx,
    item_id: int,
    *,
    supporting: bool,
    resident_id: int | None = None,
    household_id: int | None = None,
    via: str,
    now: datetime,
) -> SupportOutcome:
    """A household supports an item (once) or withdraws its support, inside a write job;
    repeating either changes nothing. Named by a resident (their household) or a
    household. A decided item takes no more support (409 item_decided)."""
    household = household_id
    if resident_id is not None:
        household = await sql.household_of(tx, resident_id)
        if household is None:
            raise NotFoundError(f"no resident {resident_id}", code="resident_not_found")
    if household is None:
        raise ValidationError.field("household_id", "name a household or a resident")
    if resident_id is None and not await sql.household_exists(tx, household):
        raise NotFoundError(f"no household {household}", code="household_not_found")
    item = await current(tx, item_id)
    if supporting:
        if item.status in _DECIDED:
            raise ConflictError(
                f"item {item.code} is decided already; support is closed",
                code="item_decided",
            )
        changed = await sql.add_support(tx, item_id, household, resident_id, via, now)
    else:
        changed = await sql.remove_support(tx, item_id, household)
    count = await sql.support_count(tx, item_id)
    if changed:
        after = await current(tx, item_id)
        action = "supported" if supporting else "withdrawn"
        await subscriptions.emit(tx, [item_changed(after, action, now)], now)
    return SupportOutcome(
        item_id=item_id,
        household_id=household,
        supporting=supporting,
        support_count=count,
        support_threshold=item.support_threshold,
        changed=changed,
    )


async def set_support(
    store: Store,
    item_id: int,
    *,
    supporting: bool,
    resident_id: int | None = None,
    household_id: int | None = None,
    via: str,
    now: datetime,
) -> SupportOutcome:
    """A household's support or withdrawal (see support_in), in its own write job."""

    async def txn(tx: Tx) -> SupportOutcome:
        return await support_in(
            tx,
            item_id,
            supporting=supporting,
            resident_id=resident_id,
            household_id=household_id,
            via=via,
            now=now,
        )

    return await store.write(txn, rerunnable=True)

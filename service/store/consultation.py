"""SQL for the consultation list: needs, items, their steps and support."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.consultation import (
    Category,
    Decision,
    Item,
    ItemStatus,
    ItemStep,
    Need,
    NeedVia,
    item_code,
)
from .core import Db, Row, Tx

_ITEM = (
    "SELECT i.*,"
    " (SELECT COUNT(*) FROM item_supports s WHERE s.item_id = i.id) AS support_count,"
    " (SELECT COUNT(*) FROM needs n WHERE n.item_id = i.id) AS need_count"
    " FROM consultation_items i"
)
_NEED = "SELECT n.*, h.unit AS unit FROM needs n LEFT JOIN households h ON h.id = n.household_id"


def _need(row: Row) -> Need:
    return Need(
        id=row["id"],
        text=row["text"],
        category=Category(row["category"]) if row["category"] else None,
        building=row["building"],
        resident_id=row["resident_id"],
        household_id=row["household_id"],
        unit=row["unit"],
        via=NeedVia(row["via"]),
        actor=row["actor"],
        item_id=row["item_id"],
        created_at=from_db(row["created_at"]),
    )


def _item(row: Row, needs: Sequence[Need] = (), steps: Sequence[ItemStep] = ()) -> Item:
    count, threshold = int(row["support_count"]), int(row["support_threshold"])
    return Item(
        id=row["id"],
        code=item_code(row["id"]),
        title=row["title"],
        description=row["description"],
        category=Category(row["category"]) if row["category"] else None,
        status=ItemStatus(row["status"]),
        decision=Decision(row["decision"]) if row["decision"] else None,
        outcome=row["outcome"],
        support_count=count,
        support_threshold=threshold,
        ready_for_meeting=count >= threshold,
        review_on=row["review_on"],
        published_at=from_db(row["published_at"]) if row["published_at"] else None,
        published_outcome=row["published_outcome"],
        need_count=int(row["need_count"]),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        needs=tuple(needs),
        steps=tuple(steps),
    )


# Needs


async def insert_need(
    tx: Tx,
    *,
    text: str,
    category: str | None,
    building: str,
    resident_id: int | None,
    household_id: int | None,
    via: str,
    actor: str,
    request_key: str | None,
    now: datetime,
) -> int:
    """A new need; returns its id."""
    return await tx.execute(
        "INSERT INTO needs (text, category, building, resident_id, household_id, via, actor,"
        " request_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (text, category, building, resident_id, household_id, via, actor, request_key, to_db(now)),
    )


async def get_need(db: Db, need_id: int) -> Need | None:
    """One need by id."""
    row = await db.fetchone(f"{_NEED} WHERE n.id = ?", (need_id,))
    return None if row is None else _need(row)


async def need_by_key(db: Db, request_key: str) -> Need | None:
    """The need a request key made, if any."""
    row = await db.fetchone(f"{_NEED} WHERE n.request_key = ?", (request_key,))
    return None if row is None else _need(row)


async def list_needs(db: Db, *, unmerged: bool, limit: int, offset: int) -> tuple[list[Need], int]:
    """Needs, newest first (only those not yet on an item when `unmerged`), and the total."""
    where = " WHERE n.item_id IS NULL" if unmerged else ""
    rows = await db.fetchall(f"{_NEED}{where} ORDER BY n.id DESC LIMIT ? OFFSET ?", (limit, offset))
    total = await db.fetchone(f"SELECT COUNT(*) FROM needs n{where}")
    return [_need(r) for r in rows], int(total[0]) if total else 0


async def link_need(tx: Tx, need_id: int, item_id: int) -> None:
    """Put a need on an item (its raiser becomes one of the item's raisers)."""
    await tx.execute("UPDATE needs SET item_id = ? WHERE id = ?", (item_id, need_id))


# Items


async def insert_item(
    tx: Tx,
    *,
    title: str,
    description: str,
    category: str | None,
    support_threshold: int,
    review_on: str | None,
    now: datetime,
) -> int:
    """A new item, collected; returns its id."""
    return await tx.execute(
        "INSERT INTO consultation_items (title, description, category, support_threshold,"
        " review_on, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (title, description, category, support_threshold, review_on, to_db(now), to_db(now)),
    )


async def get_item(db: Db, item_id: int, *, detail: bool = False) -> Item | None:
    """One item; with its needs and steps when `detail`."""
    row = await db.fetchone(f"{_ITEM} WHERE i.id = ?", (item_id,))
    if row is None:
        return None
    if not detail:
        return _item(row)
    return _item(row, await item_needs(db, item_id), await item_steps(db, item_id))


async def list_items(
    db: Db,
    *,
    statuses: Sequence[str] = (),
    published_only: bool = False,
    limit: int,
    offset: int,
) -> tuple[list[Item], int]:
    """Items by id (of `statuses` when given; published ones only when asked), and the
    total."""
    clauses, params = [], list(statuses)
    if statuses:
        clauses.append(f"i.status IN ({', '.join('?' * len(statuses))})")
    if published_only:
        clauses.append("i.published_at IS NOT NULL")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(
        f"{_ITEM}{where} ORDER BY i.id LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    total = await db.fetchone(f"SELECT COUNT(*) FROM consultation_items i{where}", params)
    return [_item(r) for r in rows], int(total[0]) if total else 0


async def reviews_due(db: Db, today: str) -> list[Item]:
    """Items whose review date has come, not yet done."""
    rows = await db.fetchall(
        f"{_ITEM} WHERE i.review_on IS NOT NULL AND i.review_on <= ? AND i.status != 'done'"
        " ORDER BY i.review_on, i.id",
        (today,),
    )
    return [_item(r) for r in rows]


async def item_needs(db: Db, item_id: int) -> list[Need]:
    """The needs on an item, oldest first."""
    rows = await db.fetchall(f"{_NEED} WHERE n.item_id = ? ORDER BY n.id", (item_id,))
    return [_need(r) for r in rows]


async def item_steps(db: Db, item_id: int) -> list[ItemStep]:
    """An item's audit trail, oldest first."""
    rows = await db.fetchall(
        "SELECT at, actor, action, from_status, to_status, reason, decision FROM item_steps"
        " WHERE item_id = ? ORDER BY id",
        (item_id,),
    )
    return [
        ItemStep(
            at=from_db(r["at"]),
            actor=r["actor"],
            action=r["action"],
            from_status=r["from_status"],
            to_status=r["to_status"],
            reason=r["reason"],
            decision=r["decision"],
        )
        for r in rows
    ]


async def add_step(
    tx: Tx,
    item_id: int,
    *,
    actor: str,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str = "",
    decision: str | None = None,
) -> None:
    """Append a step to an item's audit trail."""
    await tx.execute(
        "INSERT INTO item_steps (item_id, at, actor, action, from_status, to_status, reason,"
        " decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (item_id, to_db(now), actor, action, from_status, to_status, reason, decision),
    )


async def update_item(
    tx: Tx,
    item_id: int,
    *,
    title: str,
    description: str,
    category: str | None,
    support_threshold: int,
    review_on: str | None,
    outcome: str,
    now: datetime,
) -> None:
    """Change an item's words, threshold, review date or (unpublished) outcome."""
    await tx.execute(
        "UPDATE consultation_items SET title = ?, description = ?, category = ?,"
        " support_threshold = ?, review_on = ?, outcome = ?, updated_at = ? WHERE id = ?",
        (title, description, category, support_threshold, review_on, outcome, to_db(now), item_id),
    )


async def set_status(
    tx: Tx,
    item_id: int,
    status: str,
    decision: str | None,
    outcome: str,
    now: datetime,
) -> None:
    """Move an item (the schema's trigger refuses a step back)."""
    await tx.execute(
        "UPDATE consultation_items SET status = ?, decision = ?, outcome = ?, updated_at = ?"
        " WHERE id = ?",
        (status, decision, outcome, to_db(now), item_id),
    )


async def mark_published(tx: Tx, item_id: int, outcome: str, now: datetime) -> None:
    """Record that an item's outcome is published as `outcome`."""
    await tx.execute(
        "UPDATE consultation_items SET published_at = ?, published_outcome = ?, updated_at = ?"
        " WHERE id = ?",
        (to_db(now), outcome, to_db(now), item_id),
    )


# Support


async def add_support(
    tx: Tx, item_id: int, household_id: int, resident_id: int | None, via: str, now: datetime
) -> bool:
    """A household's support of an item; False when it supported it already."""
    changed = await tx.execute_count(
        "INSERT INTO item_supports (item_id, household_id, resident_id, via, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (item_id, household_id) DO NOTHING",
        (item_id, household_id, resident_id, via, to_db(now)),
    )
    return changed == 1


async def remove_support(tx: Tx, item_id: int, household_id: int) -> bool:
    """Withdraw a household's support; False when it was not supporting."""
    changed = await tx.execute_count(
        "DELETE FROM item_supports WHERE item_id = ? AND household_id = ?",
        (item_id, household_id),
    )
    return changed == 1


async def supporting(db: Db, household_id: int) -> set[int]:
    """The items a household supports."""
    rows = await db.fetchall(
        "SELECT item_id FROM item_supports WHERE household_id = ?", (household_id,)
    )
    return {int(r["item_id"]) for r in rows}


async def support_count(db: Db, item_id: int) -> int:
    """How many households support an item."""
    row = await db.fetchone("SELECT COUNT(*) FROM item_supports WHERE item_id = ?", (item_id,))
    return int(row[0]) if row else 0


async def household_of(db: Db, resident_id: int) -> int | None:
    """A resident's household."""
    row = await db.fetchone("SELECT household_id FROM residents WHERE id = ?", (resident_id,))
    return None if row is None else int(row["household_id"])


async def household_by_unit(db: Db, unit: str) -> int | None:
    """The household of a unit label."""
    row = await db.fetchone("SELECT id FROM households WHERE unit = ?", (unit,))
    return None if row is None else int(row["id"])


async def household_exists(db: Db, household_id: int) -> bool:
    """Whether a household exists."""
    row = await db.fetchone("SELECT 1 FROM households WHERE id = ?", (household_id,))
    return row is not None


async def people_to_tell(db: Db, item_id: int) -> list[int]:
    """The residents an item's outcome is owed to: its raisers, and for each supporting
    household the resident who supported (or, if gone, the household's first resident)."""
    rows = await db.fetchall(
        "SELECT resident_id FROM needs WHERE item_id = ? AND resident_id IS NOT NULL"
        " UNION"
        " SELECT COALESCE(s.resident_id,"
        "   (SELECT MIN(r.id) FROM residents r WHERE r.household_id = s.household_id))"
        " FROM item_supports s WHERE s.item_id = ?"
        " UNION"
        " SELECT MIN(r.id) FROM needs n JOIN residents r ON r.household_id = n.household_id"
        " WHERE n.item_id = ? AND n.resident_id IS NULL GROUP BY n.household_id",
        (item_id, item_id, item_id),
    )
    return sorted({int(r[0]) for r in rows if r[0] is not None})


async def claim_notice(tx: Tx, item_id: int, resident_id: int, now: datetime) -> bool:
    """Mark the outcome of an item as told to a resident; False when it was already."""
    changed = await tx.execute_count(
        "INSERT INTO outcome_notices (item_id, resident_id, at) VALUES (?, ?, ?)"
        " ON CONFLICT (item_id, resident_id) DO NOTHING",
        (item_id, resident_id, to_db(now)),
    )
    return changed == 1


async def note_notice_uid(tx: Tx, item_id: int, resident_id: int, uid: str) -> None:
    """The message that told a resident an item's outcome."""
    await tx.execute(
        "UPDATE outcome_notices SET message_uid = ? WHERE item_id = ? AND resident_id = ?",
        (uid, item_id, resident_id),
    )


async def needs_of(db: Db, resident_id: int, limit: int = 50) -> list[Need]:
    """The needs a resident raised, newest first."""
    rows = await db.fetchall(
        f"{_NEED} WHERE n.resident_id = ? ORDER BY n.id DESC LIMIT ?", (resident_id, limit)
    )
    return [_need(r) for r in rows]


async def raiser_names(db: Db, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of each item's raisers (residents, or for a household's need its first
    resident), for masking on public pages."""
    found: dict[int, list[str]] = {item_id: [] for item_id in item_ids}
    if not item_ids:
        return found
    marks = ", ".join("?" * len(item_ids))
    rows = await db.fetchall(
        "SELECT DISTINCT n.item_id, COALESCE(r.name, (SELECT r2.name FROM residents r2"
        "  WHERE r2.household_id = n.household_id ORDER BY r2.id LIMIT 1)) AS name"
        f" FROM needs n LEFT JOIN residents r ON r.id = n.resident_id WHERE n.item_id IN ({marks})"
        " ORDER BY n.item_id, n.id",
        list(item_ids),
    )
    for row in rows:
        if row["name"] and row["name"] not in found[row["item_id"]]:
            found[row["item_id"]].append(row["name"])
    return found

"""SQL for the group page's one-time codes: who lives at a unit, and the codes sent to
them (kept as HMACs), with their tries and use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import to_db
from .core import Db, Tx, marks


@dataclass(frozen=True)
class Household:
    """A resident of a unit as the group page needs them."""

    id: int
    name: str
    language: str


async def residents_at(db: Db, unit: str, tags: Sequence[str]) -> list[Household]:
    """The residents of `unit` in an audience (any of `tags`; everyone when none)."""
    tag_filter = ""
    if tags:
        tag_filter = (
            " AND EXISTS (SELECT 1 FROM resident_tags t WHERE t.resident_id = r.id"
            f" AND t.tag IN ({marks(len(tags))}))"
        )
    rows = await db.fetchall(
        "SELECT r.id, r.name, r.language FROM residents r"
        f" JOIN households h ON h.id = r.household_id WHERE h.unit = ?{tag_filter}"
        " ORDER BY r.id",
        (unit, *tags),
    )
    return [Household(row["id"], row["name"], row["language"]) for row in rows]


async def sent_since(tx: Tx, event_id: int, resident_ids: Sequence[int], since: datetime) -> int:
    """How many codes went to these residents for this event since `since`."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n FROM group_page_codes WHERE event_id = ? AND created_at >= ?"
        f" AND resident_id IN ({marks(len(resident_ids))})",
        (event_id, to_db(since), *resident_ids),
    )
    return int(row["n"]) if row else 0


async def insert(
    tx: Tx, event_id: int, resident_id: int, code_mac: str, now: datetime, expires_at: datetime
) -> None:
    """Keep a code sent to a resident."""
    await tx.execute(
        "INSERT INTO group_page_codes (event_id, resident_id, code_mac, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (event_id, resident_id, code_mac, to_db(now), to_db(expires_at)),
    )


@dataclass(frozen=True)
class Pending:
    """A code still usable: unused, unexpired, tries left."""

    id: int
    resident_id: int
    code_mac: str


async def pending(
    tx: Tx, event_id: int, resident_ids: Sequence[int], now: datetime, max_tries: int
) -> list[Pending]:
    """The usable codes of these residents for this event, newest first."""
    rows = await tx.fetchall(
        "SELECT id, resident_id, code_mac FROM group_page_codes WHERE event_id = ?"
        f" AND resident_id IN ({marks(len(resident_ids))}) AND used_at IS NULL"
        " AND expires_at > ? AND tries < ? ORDER BY id DESC",
        (event_id, *resident_ids, to_db(now), max_tries),
    )
    return [Pending(row["id"], row["resident_id"], row["code_mac"]) for row in rows]


async def tried(tx: Tx, code_ids: Sequence[int]) -> None:
    """Count a wrong try against each of these codes."""
    for code_id in code_ids:
        await tx.execute("UPDATE group_page_codes SET tries = tries + 1 WHERE id = ?", (code_id,))


async def use(tx: Tx, code_id: int, now: datetime) -> None:
    """Spend a code."""
    await tx.execute("UPDATE group_page_codes SET used_at = ? WHERE id = ?", (to_db(now), code_id))

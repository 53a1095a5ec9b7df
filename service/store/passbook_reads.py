"""SQL for what people read of the passbook beyond the journal's own rows: a household's
history with its events' titles, and the journal's lines for the CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db
from .core import Db


@dataclass(frozen=True)
class ExportLine:
    """One household line of the journal, as the CSV export writes it."""

    line_id: int
    posting_id: int
    at: datetime
    kind: str
    unit: str
    household_id: int
    amount: int
    reason: str
    operator: str
    event_id: int | None


async def export_lines(db: Db, after_id: int, limit: int) -> list[ExportLine]:
    """Household lines after line `after_id`, in order, at most `limit`."""
    rows = await db.fetchall(
        "SELECT l.id, l.posting_id, p.at, p.kind, coalesce(h.unit, '') AS unit,"
        " a.household_id, l.amount, p.reason, p.operator, p.event_id"
        " FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id"
        " JOIN ledger_postings p ON p.id = l.posting_id"
        " LEFT JOIN households h ON h.id = a.household_id"
        " WHERE a.kind = 'household' AND l.id > ? ORDER BY l.id LIMIT ?",
        (after_id, limit),
    )
    return [
        ExportLine(r[0], r[1], from_db(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9])
        for r in rows
    ]


@dataclass(frozen=True)
class HistoryLine:
    """One entry of a household's passbook: when, what kind, how many points, from where."""

    posting_id: int
    at: datetime
    kind: str
    points: int
    reason: str
    event_title: str | None
    redemption_id: int | None


async def household_history(db: Db, household_id: int, limit: int) -> list[HistoryLine]:
    """A household's lines, newest first, with the event's title where there is one."""
    rows = await db.fetchall(
        "SELECT p.id, p.at, p.kind, l.amount, p.reason, e.title, p.redemption_id"
        " FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id"
        " JOIN ledger_postings p ON p.id = l.posting_id"
        " LEFT JOIN events e ON e.id = p.event_id"
        " WHERE a.household_id = ? ORDER BY l.id DESC LIMIT ?",
        (household_id, limit),
    )
    return [HistoryLine(r[0], from_db(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]


@dataclass(frozen=True)
class Standing:
    """A household on the leaderboard: its building, first resident's name, points earned."""

    household_id: int
    building: str
    name: str
    points: int


async def leaderboard(db: Db, limit: int) -> list[Standing]:
    """Households by points earned (earn and bonus, net of their reversals), most first."""
    rows = await db.fetchall(
        "SELECT a.household_id, coalesce(h.building, ''),"
        " coalesce((SELECT r.name FROM residents r WHERE r.household_id = a.household_id"
        " ORDER BY r.id LIMIT 1), ''), sum(l.amount) AS earned"
        " FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id"
        " JOIN ledger_postings p ON p.id = l.posting_id"
        " LEFT JOIN ledger_postings o ON o.id = p.reverses_id"
        " LEFT JOIN households h ON h.id = a.household_id"
        " WHERE a.kind = 'household' AND (p.kind IN ('earn', 'bonus')"
        " OR (p.kind = 'reversal' AND o.kind IN ('earn', 'bonus')))"
        " GROUP BY a.household_id HAVING earned > 0 ORDER BY earned DESC, a.household_id"
        " LIMIT ?",
        (limit,),
    )
    return [Standing(r[0], r[1], r[2], r[3]) for r in rows]


async def household_of_chat(db: Db, chat_id: str) -> int | None:
    """The household of the resident whose Telegram contact is this chat."""
    row = await db.fetchone(
        "SELECT r.household_id FROM contacts c JOIN residents r ON r.id = c.resident_id"
        " WHERE c.channel = 'telegram' AND c.address = ? ORDER BY c.id LIMIT 1",
        (chat_id,),
    )
    return None if row is None else int(row[0])

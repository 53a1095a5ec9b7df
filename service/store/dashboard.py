"""SQL for the console's dashboard: the outbox's recent health and the rooms' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.models import MessageStatus
from .core import Db


@dataclass(frozen=True)
class RecentAttempt:
    """One delivery attempt, newest first, for judging whether a channel keeps failing."""

    channel: str
    at: datetime
    outcome: str
    error: str | None


async def messages_by_status(db: Db, since: datetime) -> dict[str, int]:
    """How many messages made since `since` are in each status now."""
    rows = await db.fetchall(
        "SELECT status, COUNT(*) AS n FROM messages WHERE created_at >= ? GROUP BY status",
        (to_db(since),),
    )
    return {row["status"]: int(row["n"]) for row in rows}


async def queued_now(db: Db) -> int:
    """Messages waiting in the outbox, however old."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM messages WHERE status IN (?, ?)",
        (MessageStatus.QUEUED, MessageStatus.SENDING),
    )
    return int(row["n"]) if row else 0


async def recent_attempts(db: Db, since: datetime, limit: int = 2000) -> list[RecentAttempt]:
    """Attempts since `since`, newest first, with their message's channel."""
    rows = await db.fetchall(
        "SELECT m.channel, a.at, a.outcome, a.error FROM attempts a"
        " JOIN messages m ON m.id = a.message_id WHERE a.at >= ?"
        " ORDER BY a.at DESC, a.id DESC LIMIT ?",
        (to_db(since), limit),
    )
    return [
        RecentAttempt(row["channel"], from_db(row["at"]), row["outcome"], row["error"])
        for row in rows
    ]


async def room_names(db: Db) -> dict[int, str]:
    """Every room's name by id."""
    rows = await db.fetchall("SELECT id, name FROM rooms")
    return {int(row["id"]): row["name"] for row in rows}

"""SQL for the console's dashboard and the operator's probes: the outbox's recent health,
the queue's depth and oldest due message, and the rooms' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.models import Channel, MessageStatus
from .core import Db

# Written into the SQL text so the partial indexes (messages_due, messages_leased, see 0002)
# serve these counts: SQLite uses such an index only for the literal value, never a "?".
_IS_QUEUED = f"status = '{MessageStatus.QUEUED.value}'"
_IS_SENDING = f"status = '{MessageStatus.SENDING.value}'"


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


async def waiting_by_channel(db: Db) -> dict[tuple[str, str], int]:
    """Messages queued and being sent, by (channel, status): two counts over the partial
    indexes, never a scan of the whole outbox."""
    counts: dict[tuple[str, str], int] = {}
    for status, where in ((MessageStatus.QUEUED, _IS_QUEUED), (MessageStatus.SENDING, _IS_SENDING)):
        rows = await db.fetchall(
            f"SELECT channel, COUNT(*) AS n FROM messages WHERE {where} GROUP BY channel"
        )
        for row in rows:
            counts[(row["channel"], status.value)] = int(row["n"])
    return counts


async def first_queued_by_channel(db: Db) -> dict[str, datetime]:
    """The earliest `send_after` of each channel's queued messages: one index seek per
    channel (messages_due is ordered by channel, then send_after)."""
    first: dict[str, datetime] = {}
    for channel in Channel:
        row = await db.fetchone(
            f"SELECT MIN(send_after) AS at FROM messages WHERE {_IS_QUEUED} AND channel = ?",
            (channel.value,),
        )
        if row is not None and row["at"] is not None:
            first[channel.value] = from_db(row["at"])
    return first


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

"""SQL the delivery log reads: pages of messages with their attempts, and tallies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..core.clock import from_db
from ..core.models import Attempt, Message
from .core import Db, marks
from .outbox import MESSAGE_COLUMNS, MESSAGE_FROM, message_of
from .residents import THEIR_MESSAGES

# Attempts are read for this many messages at a time, well under SQLite's bound parameters.
_CHUNK: Final = 500


async def counts(db: Db, event_id: int, kind: str | None = None) -> list[tuple[str, str, int]]:
    """(status, channel, count) for an event's messages (of one kind, if given)."""
    rows = await db.fetchall(
        "SELECT status, channel, COUNT(*) AS n FROM messages WHERE event_id = ?"
        " AND (? IS NULL OR kind = ?) GROUP BY status, channel",
        (event_id, kind, kind),
    )
    return [(row["status"], row["channel"], row["n"]) for row in rows]


async def list_messages(
    db: Db,
    *,
    event_id: int | None,
    status: str | None,
    channel: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Message], int]:
    """A page of messages, newest first, each with its attempts."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("event_id", event_id), ("status", status), ("channel", channel)):
        if value is not None:
            where.append(f"m.{column} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total_row = await db.fetchone(f"SELECT COUNT(*) AS n FROM messages m{clause}", params)
    rows = await db.fetchall(
        f"SELECT {MESSAGE_COLUMNS}{MESSAGE_FROM}{clause} ORDER BY m.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    attempts = await _attempts_of(db, [row["id"] for row in rows])
    items = [message_of(row, attempts.get(row["id"], ())) for row in rows]
    return items, int(total_row["n"]) if total_row else 0


async def message_with_attempts(db: Db, message_id: int) -> Message | None:
    """One message with its attempts (the console's message page)."""
    row = await db.fetchone(f"SELECT {MESSAGE_COLUMNS}{MESSAGE_FROM} WHERE m.id = ?", (message_id,))
    if row is None:
        return None
    attempts = await _attempts_of(db, [message_id])
    return message_of(row, attempts.get(message_id, ()))


async def resident_messages(db: Db, resident_id: int) -> list[Message]:
    """Every message that reached one resident (see residents.THEIR_MESSAGES), oldest
    first, each with its attempts."""
    rows = await db.fetchall(
        f"SELECT {MESSAGE_COLUMNS}{MESSAGE_FROM} WHERE m.id IN ({THEIR_MESSAGES}) ORDER BY m.id",
        (resident_id,),
    )
    attempts: dict[int, list[Attempt]] = {}
    ids = [int(row["id"]) for row in rows]
    for start in range(0, len(ids), _CHUNK):
        attempts.update(await _attempts_of(db, ids[start : start + _CHUNK]))
    return [message_of(row, attempts.get(row["id"], ())) for row in rows]


async def _attempts_of(db: Db, message_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {}
    if not message_ids:
        return found
    rows = await db.fetchall(
        "SELECT message_id, number, at, duration_ms, outcome, provider_id, error FROM attempts"
        f" WHERE message_id IN ({marks(len(message_ids))}) ORDER BY message_id, id",
        list(message_ids),
    )
    for row in rows:
        found.setdefault(row["message_id"], []).append(
            Attempt(
                number=row["number"],
                at=from_db(row["at"]),
                duration_ms=row["duration_ms"],
                outcome=row["outcome"],
                provider_id=row["provider_id"],
                error=row["error"],
            )
        )
    return found

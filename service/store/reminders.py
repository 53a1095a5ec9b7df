"""SQL for reminders and nudges: upcoming events' offsets and what has fired (whom they go
to is outbox.invitees_batch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import EventStatus
from .core import Db, Tx


@dataclass(frozen=True)
class Schedule:
    """An upcoming published event's start and offsets (seconds before the start)."""

    event_id: int
    starts_at: datetime
    reminder_offsets: tuple[int, ...]
    nudge_offset: int | None
    rsvp_deadline: datetime | None


async def upcoming(db: Db, now: datetime, until: datetime) -> list[Schedule]:
    """Published events starting after `now` and no later than `until`, soonest first."""
    rows = await db.fetchall(
        "SELECT id, starts_at, reminder_offsets, nudge_offset, rsvp_deadline FROM events"
        " WHERE status = ? AND starts_at > ? AND starts_at <= ? ORDER BY starts_at, id",
        (EventStatus.PUBLISHED, to_db(now), to_db(until)),
    )
    return [
        Schedule(
            row["id"],
            from_db(row["starts_at"]),
            tuple(int(s) for s in json.loads(row["reminder_offsets"])),
            row["nudge_offset"],
            opt_from_db(row["rsvp_deadline"]),
        )
        for row in rows
    ]


async def fired(db: Db, event_ids: Sequence[int]) -> set[tuple[int, str, int]]:
    """(event_id, kind, offset_s) of every reminder and nudge of these events that fired."""
    if not event_ids:
        return set()
    marks = ", ".join("?" * len(event_ids))
    rows = await db.fetchall(
        f"SELECT event_id, kind, offset_s FROM reminders_fired WHERE event_id IN ({marks})",
        list(event_ids),
    )
    return {(row["event_id"], row["kind"], row["offset_s"]) for row in rows}


async def still_upcoming(db: Db, event_id: int, starts_at: datetime, now: datetime) -> bool:
    """Whether the event is still published, still starts at `starts_at`, and has not."""
    row = await db.fetchone(
        "SELECT 1 FROM events WHERE id = ? AND status = ? AND starts_at = ? AND starts_at > ?",
        (event_id, EventStatus.PUBLISHED, to_db(starts_at), to_db(now)),
    )
    return row is not None


async def mark_fired(
    tx: Tx, event_id: int, kind: str, offset_s: int, now: datetime, skipped: Sequence[int] = ()
) -> bool:
    """Record that a reminder or nudge fired, and the larger offsets it stood in for as
    spent; False when it had already fired."""
    sql = (
        "INSERT INTO reminders_fired (event_id, kind, offset_s, fired_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (event_id, kind, offset_s) DO NOTHING"
    )
    await tx.execute(sql, (event_id, kind, offset_s, to_db(now)))
    if await tx.changes() != 1:
        return False
    await tx.executemany(sql, [(event_id, kind, spent, to_db(now)) for spent in skipped])
    return True


async def rearm(tx: Tx, event_id: int, starts_at: datetime, now: datetime) -> None:
    """After the event's start moved: forget the reminders and nudges whose new due time is
    still ahead, so they fire again then (starts_at − offset > now ⇔ offset < starts_at − now)."""
    ahead = int((starts_at - now).total_seconds())
    await tx.execute(
        "DELETE FROM reminders_fired WHERE event_id = ? AND offset_s < ?", (event_id, ahead)
    )

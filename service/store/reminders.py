"""SQL for reminders and nudges: upcoming events' offsets, who gets them, what has fired."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..clock import from_db, to_db
from ..models import EventStatus
from .core import Db, Tx
from .outbox import Recipient


@dataclass(frozen=True)
class Schedule:
    """An upcoming published event's start and offsets (seconds before the start)."""

    event_id: int
    starts_at: datetime
    reminder_offsets: tuple[int, ...]
    nudge_offset: int | None


async def upcoming(db: Db, now: datetime, until: datetime) -> list[Schedule]:
    """Published events starting after `now` and no later than `until`, soonest first."""
    rows = await db.fetchall(
        "SELECT id, starts_at, reminder_offsets, nudge_offset FROM events"
        " WHERE status = ? AND starts_at > ? AND starts_at <= ? ORDER BY starts_at, id",
        (EventStatus.PUBLISHED, to_db(now), to_db(until)),
    )
    return [
        Schedule(
            row["id"],
            from_db(row["starts_at"]),
            tuple(int(s) for s in json.loads(row["reminder_offsets"])),
            row["nudge_offset"],
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


async def recipients_batch(
    db: Db, event_id: int, *, answer: str, invited_by: datetime, after_id: int, limit: int
) -> list[Recipient]:
    """The next invitations by id after `after_id` with this answer, made by `invited_by`."""
    rows = await db.fetchall(
        "SELECT i.id AS invitation_id, i.answer, i.party_size, r.id, r.name, r.language, h.unit"
        " FROM invitations i JOIN residents r ON r.id = i.resident_id"
        " JOIN households h ON h.id = r.household_id"
        " WHERE i.event_id = ? AND i.answer = ? AND i.created_at <= ? AND i.id > ?"
        " ORDER BY i.id LIMIT ?",
        (event_id, answer, to_db(invited_by), after_id, limit),
    )
    return [
        Recipient(
            row["id"],
            row["name"],
            row["language"],
            row["unit"],
            invitation_id=row["invitation_id"],
            answer=row["answer"],
            party_size=row["party_size"],
        )
        for row in rows
    ]


async def still_upcoming(db: Db, event_id: int, now: datetime) -> bool:
    """Whether the event is still published and not started."""
    row = await db.fetchone(
        "SELECT 1 FROM events WHERE id = ? AND status = ? AND starts_at > ?",
        (event_id, EventStatus.PUBLISHED, to_db(now)),
    )
    return row is not None


async def mark_fired(tx: Tx, event_id: int, kind: str, offset_s: int, now: datetime) -> bool:
    """Record that a reminder or nudge fired; False when it already had."""
    await tx.execute(
        "INSERT INTO reminders_fired (event_id, kind, offset_s, fired_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (event_id, kind, offset_s) DO NOTHING",
        (event_id, kind, offset_s, to_db(now)),
    )
    return await tx.changes() == 1

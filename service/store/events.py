"""SQL for events and their audience tags."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, opt_to_db, to_db
from ..core.models import Event, EventKind, EventStatus
from .core import Db, Row, Tx

_INTEGER_MAX = 2**63 - 1
_COLUMNS = (
    "id, kind, title, description, location, room_id, starts_at, ends_at, capacity,"
    " max_party_size, rsvp_deadline, status, created_at, updated_at, published_at, cancelled_at,"
    " sequence, reminder_offsets, nudge_offset, channels"
)
# The store keeps reminder times in seconds before the start; the model shows hours.
_HOUR = 3600


def _event(row: Row, tags: Sequence[str], agenda: Sequence[str] = ()) -> Event:
    return Event(
        id=row["id"],
        kind=EventKind(row["kind"]),
        title=row["title"],
        description=row["description"],
        location=row["location"],
        room_id=row["room_id"],
        starts_at=from_db(row["starts_at"]),
        ends_at=from_db(row["ends_at"]),
        capacity=row["capacity"],
        max_party_size=row["max_party_size"],
        rsvp_deadline=opt_from_db(row["rsvp_deadline"]),
        status=EventStatus(row["status"]),
        audience_tags=tuple(tags),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        published_at=opt_from_db(row["published_at"]),
        cancelled_at=opt_from_db(row["cancelled_at"]),
        sequence=row["sequence"],
        reminder_hours=tuple(s // _HOUR for s in json.loads(row["reminder_offsets"])),
        nudge_hours=None if row["nudge_offset"] is None else row["nudge_offset"] // _HOUR,
        channels=tuple(json.loads(row["channels"])),
        agenda=tuple(agenda),
    )


def _marks(count: int) -> str:
    """`?, ?, ?` for an IN list: values still go in as parameters."""
    return ", ".join("?" * count)


async def _tags_of(db: Db, event_ids: Sequence[int]) -> dict[int, list[str]]:
    """Audience tags of several events in one query (not one per event)."""
    tags: dict[int, list[str]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return tags
    rows = await db.fetchall(
        "SELECT event_id, tag FROM event_audience_tags"
        f" WHERE event_id IN ({_marks(len(event_ids))}) ORDER BY event_id, tag",
        list(event_ids),
    )
    for row in rows:
        tags[row["event_id"]].append(row["tag"])
    return tags


async def get_event(db: Db, event_id: int) -> Event | None:
    """One event with its audience tags."""
    # One statement, tags folded in: every answer reads its event. Tags are checked text,
    # so the unit separator (U+001F) never occurs in one.
    row = await db.fetchone(
        f"SELECT {_COLUMNS}, (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM"
        " event_audience_tags WHERE event_id = events.id ORDER BY tag)) AS tags,"
        # A meeting's agenda (see consultation.py): only meetings look it up.
        " CASE WHEN kind = 'meeting' THEN (SELECT json_group_array(line) FROM"
        " (SELECT 'A' || a.item_id || ' ' || i.title AS line FROM meeting_agenda a"
        " JOIN consultation_items i ON i.id = a.item_id WHERE a.event_id = events.id"
        " ORDER BY a.position)) END AS agenda"
        " FROM events WHERE id = ?",
        (event_id,),
    )
    if row is None:
        return None
    agenda = json.loads(row["agenda"]) if row["agenda"] else []
    return _event(row, row["tags"].split("\x1f") if row["tags"] else [], agenda)


async def search_events(
    db: Db,
    *,
    statuses: Iterable[EventStatus],
    starts_from: datetime | None,
    starts_before: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Event], int]:
    """Events in these statuses (all when empty) starting in [starts_from, starts_before),
    soonest first; a page and the total."""
    where, params = ["1 = 1"], []
    wanted = sorted({str(s) for s in statuses})
    if wanted:
        where.append(f"status IN ({_marks(len(wanted))})")
        params += wanted
    if starts_from is not None:
        where.append("starts_at >= ?")
        params.append(to_db(starts_from))
    if starts_before is not None:
        where.append("starts_at < ?")
        params.append(to_db(starts_before))
    clause = " AND ".join(where)
    total_row = await db.fetchone(f"SELECT count(*) FROM events WHERE {clause}", params)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM events WHERE {clause} ORDER BY starts_at, id LIMIT ? OFFSET ?",
        # An offset past SQLite's integers cannot match anything; clamp it so it binds.
        [*params, limit, min(offset, _INTEGER_MAX)],
    )
    tags = await _tags_of(db, [r["id"] for r in rows])
    events = [_event(r, tags[r["id"]]) for r in rows]
    return events, int(total_row[0]) if total_row else 0


@dataclass(frozen=True)
class EventRow:
    """An event's own columns, as the domain has checked them (status aside)."""

    kind: EventKind
    title: str
    description: str
    location: str
    room_id: int | None
    starts_at: datetime
    ends_at: datetime
    capacity: int | None
    max_party_size: int
    rsvp_deadline: datetime | None
    reminder_hours: tuple[int, ...] = (24, 2)
    nudge_hours: int | None = 48
    channels: tuple[str, ...] = ()


def _offsets(row: EventRow) -> tuple[str, int | None]:
    """reminder_offsets (a JSON list of seconds) and nudge_offset (seconds or NULL)."""
    offsets = json.dumps([h * _HOUR for h in row.reminder_hours])
    return offsets, None if row.nudge_hours is None else row.nudge_hours * _HOUR


def _values(row: EventRow) -> tuple[object, ...]:
    return (
        row.kind,
        row.title,
        row.description,
        row.location,
        row.room_id,
        to_db(row.starts_at),
        to_db(row.ends_at),
        row.capacity,
        row.max_party_size,
        opt_to_db(row.rsvp_deadline),
    )


async def insert_event(tx: Tx, row: EventRow, now: datetime) -> int:
    """A new draft event; returns its id."""
    return await tx.execute(
        "INSERT INTO events (kind, title, description, location, room_id, starts_at, ends_at,"
        " capacity, max_party_size, rsvp_deadline, status, created_at, updated_at,"
        " reminder_offsets, nudge_offset, channels)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *_values(row),
            EventStatus.DRAFT,
            to_db(now),
            to_db(now),
            *_offsets(row),
            json.dumps(list(row.channels)),
        ),
    )


async def update_event(tx: Tx, event_id: int, row: EventRow, now: datetime) -> None:
    """Change an event's columns (not its status)."""
    await tx.execute(
        # iCalendar SEQUENCE goes up when the time or place changes, so calendar clients
        # replace the invitation they hold (RFC 5546); the CASE sees the old values.
        "UPDATE events SET sequence = sequence + (CASE WHEN starts_at IS NOT ?3"
        " OR ends_at IS NOT ?4 OR location IS NOT ?1 OR room_id IS NOT ?2 THEN 1 ELSE 0 END),"
        " kind = ?5, title = ?6, description = ?7, location = ?1, room_id = ?2,"
        " starts_at = ?3, ends_at = ?4, capacity = ?8, max_party_size = ?9, rsvp_deadline = ?10,"
        " updated_at = ?11, reminder_offsets = ?13, nudge_offset = ?14, channels = ?15"
        " WHERE id = ?12",
        (
            row.location,
            row.room_id,
            to_db(row.starts_at),
            to_db(row.ends_at),
            row.kind,
            row.title,
            row.description,
            row.capacity,
            row.max_party_size,
            opt_to_db(row.rsvp_deadline),
            to_db(now),
            event_id,
            *_offsets(row),
            json.dumps(list(row.channels)),
        ),
    )


async def replace_audience_tags(tx: Tx, event_id: int, tags: Iterable[str]) -> None:
    """Set an event's audience tags to exactly `tags`."""
    await tx.execute("DELETE FROM event_audience_tags WHERE event_id = ?", (event_id,))
    await tx.executemany(
        "INSERT INTO event_audience_tags (event_id, tag) VALUES (?, ?)",
        [(event_id, tag) for tag in tags],
    )


async def mark_published(tx: Tx, event_id: int, now: datetime) -> None:
    """Move an event to published."""
    await tx.execute(
        "UPDATE events SET status = ?, published_at = ?, updated_at = ? WHERE id = ?",
        (EventStatus.PUBLISHED, to_db(now), to_db(now), event_id),
    )


async def mark_cancelled(tx: Tx, event_id: int, now: datetime) -> None:
    """Move an event to cancelled."""
    await tx.execute(
        "UPDATE events SET status = ?, cancelled_at = ?, updated_at = ? WHERE id = ?",
        (EventStatus.CANCELLED, to_db(now), to_db(now), event_id),
    )


async def finish_ended(tx: Tx, now: datetime) -> int:
    """Move published events whose end has passed to finished; returns how many."""
    await tx.execute(
        "UPDATE events SET status = ?, updated_at = ? WHERE status = ? AND ends_at <= ?",
        (EventStatus.FINISHED, to_db(now), EventStatus.PUBLISHED, to_db(now)),
    )
    return await tx.changes()


async def largest_capacity_in_room(db: Db, room_id: int) -> int | None:
    """The largest capacity among the room's draft and published events (None: none)."""
    row = await db.fetchone(
        "SELECT max(capacity) FROM events WHERE room_id = ? AND status IN (?, ?)",
        (room_id, EventStatus.DRAFT, EventStatus.PUBLISHED),
    )
    return None if row is None or row[0] is None else int(row[0])

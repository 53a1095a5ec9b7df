"""SQL for meetings of the consultation list: agendas, records, the printed roster and its
paper ticks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from ..core.consultation import AgendaEntry, Decision, ItemStatus, item_code
from .core import Db, Row, Tx


@dataclass(frozen=True)
class Record:
    """A closed meeting's record."""

    minutes: str
    attendees: int
    closed_by: str
    closed_at: datetime


@dataclass(frozen=True)
class RosterLine:
    """An invitation on the roster, before the domain picks one per household."""

    invitation_id: int
    household_id: int
    unit: str
    name: str
    answer: str
    party_size: int
    code: str | None
    via: str | None


async def agenda(db: Db, event_id: int) -> list[AgendaEntry]:
    """A meeting's agenda in order."""
    rows = await db.fetchall(
        "SELECT a.item_id, a.position, a.decision, i.title, i.status FROM meeting_agenda a"
        " JOIN consultation_items i ON i.id = a.item_id WHERE a.event_id = ? ORDER BY a.position",
        (event_id,),
    )
    return [
        AgendaEntry(
            item_id=r["item_id"],
            code=item_code(r["item_id"]),
            title=r["title"],
            status=ItemStatus(r["status"]),
            position=r["position"],
            decision=Decision(r["decision"]) if r["decision"] else None,
        )
        for r in rows
    ]


async def replace_agenda(tx: Tx, event_id: int, item_ids: Sequence[int]) -> None:
    """Set a meeting's agenda to these items, in this order."""
    await tx.execute("DELETE FROM meeting_agenda WHERE event_id = ?", (event_id,))
    await tx.executemany(
        "INSERT INTO meeting_agenda (event_id, item_id, position) VALUES (?, ?, ?)",
        [(event_id, item_id, n) for n, item_id in enumerate(item_ids, start=1)],
    )


async def set_decision(tx: Tx, event_id: int, item_id: int, decision: str) -> None:
    """What the meeting decided on an item of its agenda."""
    await tx.execute(
        "UPDATE meeting_agenda SET decision = ? WHERE event_id = ? AND item_id = ?",
        (decision, event_id, item_id),
    )


async def record(db: Db, event_id: int) -> Record | None:
    """A meeting's record, once closed."""
    row = await db.fetchone("SELECT * FROM meeting_records WHERE event_id = ?", (event_id,))
    if row is None:
        return None
    return Record(row["minutes"], row["attendees"], row["closed_by"], from_db(row["closed_at"]))


async def insert_record(
    tx: Tx, event_id: int, minutes: str, attendees: int, closed_by: str, now: datetime
) -> None:
    """Close a meeting with its minutes and head count."""
    await tx.execute(
        "INSERT INTO meeting_records (event_id, minutes, attendees, closed_by, closed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (event_id, minutes, attendees, closed_by, to_db(now)),
    )


async def attendees(db: Db, event_id: int) -> int:
    """People counted in at a meeting: every check-in's party and walk-ins, whatever the
    path (tablet, organiser, paper)."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(party_size + walk_ins), 0) FROM checkins WHERE event_id = ?",
        (event_id,),
    )
    return int(row[0]) if row else 0


def _line(row: Row) -> RosterLine:
    return RosterLine(
        invitation_id=row["invitation_id"],
        household_id=row["household_id"],
        unit=row["unit"],
        name=row["name"],
        answer=row["answer"],
        party_size=row["party_size"],
        code=row["code"],
        via=row["via"],
    )


_ROSTER = (
    "SELECT i.id AS invitation_id, h.id AS household_id, h.unit, r.name, i.answer,"
    " i.party_size, c.code, k.via FROM invitations i"
    " JOIN residents r ON r.id = i.resident_id JOIN households h ON h.id = r.household_id"
    " LEFT JOIN checkin_codes c ON c.invitation_id = i.id"
    " LEFT JOIN checkins k ON k.code = c.code"
    " WHERE i.event_id = ?"
)
# Within a household, the one who answered yes (and checked in) comes first.
_HOUSEHOLD_ORDER = " ORDER BY h.unit, k.via IS NULL, i.answer != 'yes', i.id"


async def roster_lines(db: Db, event_id: int) -> list[RosterLine]:
    """Every invitation of an event, by unit; within a unit the likeliest first."""
    rows = await db.fetchall(_ROSTER + _HOUSEHOLD_ORDER, (event_id,))
    return [_line(r) for r in rows]


async def lines_by_code(db: Db, event_id: int, code: str) -> list[RosterLine]:
    """The invitation of this event whose door code this is."""
    rows = await db.fetchall(_ROSTER + " AND c.code = ?", (event_id, code))
    return [_line(r) for r in rows]


async def lines_by_unit(db: Db, event_id: int, unit: str) -> list[RosterLine]:
    """The invitations of this event of a unit's household, the likeliest first."""
    rows = await db.fetchall(_ROSTER + " AND h.unit = ?" + _HOUSEHOLD_ORDER, (event_id, unit))
    return [_line(r) for r in rows]


async def paper_checkin(
    tx: Tx,
    *,
    code: str,
    room_id: int | None,
    event_id: int,
    party_size: int,
    device: str,
    now: datetime,
) -> bool:
    """A tick on the printed roster as a check-in (via 'paper'); False when the code was
    checked in already, on paper or at the door, so nobody is counted twice."""
    changed = await tx.execute_count(
        "INSERT INTO checkins (code, room_id, event_id, party_size, walk_ins, via, device, at)"
        " VALUES (?, ?, ?, ?, 0, 'paper', ?, ?) ON CONFLICT (code) DO NOTHING",
        (code, room_id, event_id, party_size, device, to_db(now)),
    )
    return changed == 1


@dataclass(frozen=True)
class MeetingLine:
    """A meeting as the console lists it."""

    event_id: int
    title: str
    starts_at: datetime
    status: str
    closed: bool


async def meeting_events(db: Db, limit: int = 50) -> list[MeetingLine]:
    """Meetings (events of kind meeting), latest first."""
    rows = await db.fetchall(
        "SELECT e.id, e.title, e.starts_at, e.status,"
        " EXISTS (SELECT 1 FROM meeting_records m WHERE m.event_id = e.id) AS closed"
        " FROM events e WHERE e.kind = 'meeting' ORDER BY e.starts_at DESC LIMIT ?",
        (limit,),
    )
    return [
        MeetingLine(r["id"], r["title"], from_db(r["starts_at"]), r["status"], bool(r["closed"]))
        for r in rows
    ]

"""SQL for check-in codes and check-ins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ..core.checkin_codes import new_code
from ..core.clock import from_db, opt_from_db, to_db
from .core import Db, Row, Tx
from .errors import DuplicateKey

# Codes are drawn from about 244 million; a clash is rare, ten in a row is a broken RNG.
_ATTEMPTS = 10


async def ensure_code(
    tx: Tx, *, invitation_id: int | None = None, booking_id: int | None = None, now: datetime
) -> str:
    """The check-in code of a yes invitation or a booking, made the first time it is asked
    for; asking again returns the same code."""
    if (invitation_id is None) == (booking_id is None):
        raise ValueError("a code belongs to exactly one invitation or booking")
    column = "invitation_id" if invitation_id is not None else "booking_id"
    owner = invitation_id if invitation_id is not None else booking_id
    for _ in range(_ATTEMPTS):
        # One statement in the common case (a first yes), and no RETURNING: a row inserted
        # holds the code just drawn. An owner that has its code already inserts nothing
        # and reads it back.
        code = new_code()
        try:
            inserted = await tx.execute_count(
                f"INSERT INTO checkin_codes (code, {column}, created_at) VALUES (?, ?, ?)"
                f" ON CONFLICT ({column}) DO NOTHING",
                (code, owner, to_db(now)),
            )
        except DuplicateKey:  # the random code is taken: draw another
            continue
        if inserted == 1:
            return code
        row = await tx.fetchone(f"SELECT code FROM checkin_codes WHERE {column} = ?", (owner,))
        assert row is not None
        return str(row["code"])
    raise RuntimeError("no free check-in code after several attempts")


@dataclass(frozen=True)
class CodeOwner:
    """What a code belongs to, as the door needs it: one row by the code's primary key."""

    code: str
    invitation_id: int | None
    booking_id: int | None
    event_id: int | None
    room_id: int | None
    title: str
    resident_name: str
    party_size: int
    # The invitation's answer or the booking's status, and the event's status if any.
    state: str
    event_status: str | None
    starts_at: datetime
    ends_at: datetime
    checked_in_at: datetime | None


@dataclass(frozen=True)
class CheckinRow:
    """One recorded check-in with what it concerns."""

    id: int
    code: str | None
    invitation_id: int | None
    booking_id: int | None
    event_id: int | None
    room_id: int | None
    title: str
    resident_name: str
    party_size: int
    walk_ins: int
    via: str
    device: str
    nonce: str | None
    at: datetime


_OWNER = """
SELECT c.code, c.invitation_id, c.booking_id,
       COALESCE(i.event_id, b.event_id) AS event_id,
       COALESCE(e.room_id, b.room_id) AS room_id,
       COALESCE(e.title, NULLIF(b.title, ''), m.name, '') AS title,
       COALESCE(r.name, '') AS resident_name,
       COALESCE(i.party_size, b.party_size) AS party_size,
       COALESCE(i.answer, b.status) AS state,
       e.status AS event_status,
       COALESCE(b.starts_at, e.starts_at) AS starts_at,
       COALESCE(b.ends_at, e.ends_at) AS ends_at,
       k.at AS checked_in_at
FROM checkin_codes c
LEFT JOIN invitations i ON i.id = c.invitation_id
LEFT JOIN bookings b ON b.id = c.booking_id
LEFT JOIN events e ON e.id = COALESCE(i.event_id, b.event_id)
LEFT JOIN rooms m ON m.id = b.room_id
LEFT JOIN residents r ON r.id = COALESCE(i.resident_id, b.resident_id)
LEFT JOIN checkins k ON k.code = c.code
WHERE c.code = ?
"""

_CHECKINS = """
SELECT k.id, k.code, c.invitation_id, k.booking_id, k.event_id, k.room_id,
       COALESCE(e.title, NULLIF(b.title, ''), m.name, '') AS title,
       COALESCE(r.name, '') AS resident_name,
       k.party_size, k.walk_ins, k.via, k.device, k.nonce, k.at
FROM checkins k
LEFT JOIN checkin_codes c ON c.code = k.code
LEFT JOIN invitations i ON i.id = c.invitation_id
LEFT JOIN bookings b ON b.id = k.booking_id
LEFT JOIN events e ON e.id = k.event_id
LEFT JOIN rooms m ON m.id = k.room_id
LEFT JOIN residents r ON r.id = COALESCE(i.resident_id, b.resident_id)
"""


async def invitation_code(db: Db, invitation_id: int) -> str | None:
    """An invitation's code, if it has one (it gets one when its answer turns yes)."""
    row = await db.fetchone(
        "SELECT code FROM checkin_codes WHERE invitation_id = ?", (invitation_id,)
    )
    return None if row is None else str(row["code"])


async def code_owner(db: Db, code: str) -> CodeOwner | None:
    """The invitation or booking `code` belongs to, and its check-in time if it came."""
    row = await db.fetchone(_OWNER, (code,))
    if row is None:
        return None
    return CodeOwner(
        code=row["code"],
        invitation_id=row["invitation_id"],
        booking_id=row["booking_id"],
        event_id=row["event_id"],
        room_id=row["room_id"],
        title=row["title"],
        resident_name=row["resident_name"],
        party_size=row["party_size"],
        state=row["state"],
        event_status=row["event_status"],
        starts_at=from_db(row["starts_at"]),
        ends_at=from_db(row["ends_at"]),
        checked_in_at=opt_from_db(row["checked_in_at"]),
    )


def _checkin(row: Row) -> CheckinRow:
    return CheckinRow(
        id=row["id"],
        code=row["code"],
        invitation_id=row["invitation_id"],
        booking_id=row["booking_id"],
        event_id=row["event_id"],
        room_id=row["room_id"],
        title=row["title"],
        resident_name=row["resident_name"],
        party_size=row["party_size"],
        walk_ins=row["walk_ins"],
        via=row["via"],
        device=row["device"],
        nonce=row["nonce"],
        at=from_db(row["at"]),
    )


async def checkin_by_nonce(db: Db, nonce: str) -> CheckinRow | None:
    """The check-in an earlier request with this nonce recorded."""
    row = await db.fetchone(_CHECKINS + "WHERE k.nonce = ?", (nonce,))
    return None if row is None else _checkin(row)


async def checkin_by_id(db: Db, checkin_id: int) -> CheckinRow | None:
    """One check-in by its id."""
    row = await db.fetchone(_CHECKINS + "WHERE k.id = ?", (checkin_id,))
    return None if row is None else _checkin(row)


async def event_checkins(db: Db, event_id: int) -> list[CheckinRow]:
    """Who came to an event (with walk-ins), in order of arrival."""
    rows = await db.fetchall(_CHECKINS + "WHERE k.event_id = ? ORDER BY k.at, k.id", (event_id,))
    return [_checkin(row) for row in rows]


async def resident_checkins(db: Db, resident_id: int) -> list[CheckinRow]:
    """The check-ins by one resident's codes (their invitations' and bookings'), in order."""
    rows = await db.fetchall(
        _CHECKINS + "WHERE COALESCE(i.resident_id, b.resident_id) = ? ORDER BY k.at, k.id",
        (resident_id,),
    )
    return [_checkin(row) for row in rows]


@dataclass(frozen=True)
class DoorCounts:
    """An event's door in numbers, for its attendance."""

    parties: int  # codes checked in
    people: int  # everyone counted at the door: the parties and the walk-ins
    no_shows: int  # confirmed parties marked as never having come


async def door_counts(db: Db, event_id: int) -> DoorCounts:
    """How many came to an event (by code and in all) and how many never did."""
    row = await db.fetchone(
        "SELECT (SELECT count(code) FROM checkins WHERE event_id = ?) AS parties,"
        " (SELECT COALESCE(sum(party_size + walk_ins), 0) FROM checkins"
        "  WHERE event_id = ?) AS people,"
        " (SELECT count(*) FROM invitations"
        "  WHERE event_id = ? AND no_show_at IS NOT NULL) AS no_shows",
        (event_id, event_id, event_id),
    )
    assert row is not None
    return DoorCounts(int(row["parties"]), int(row["people"]), int(row["no_shows"]))


@dataclass(frozen=True)
class NewCheckin:
    """A check-in to record."""

    code: str | None
    room_id: int | None
    event_id: int | None
    booking_id: int | None
    party_size: int
    walk_ins: int
    via: str
    device: str
    nonce: str | None
    at: datetime


async def insert_checkin(tx: Tx, new: NewCheckin) -> int:
    """Record a check-in; returns its id."""
    return await tx.execute(
        "INSERT INTO checkins (code, room_id, event_id, booking_id, party_size, walk_ins, via,"
        " device, nonce, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.code,
            new.room_id,
            new.event_id,
            new.booking_id,
            new.party_size,
            new.walk_ins,
            new.via,
            new.device,
            new.nonce,
            to_db(new.at),
        ),
    )


# No-shows are looked for among what started in this window only, so the chore reads a few
# days of events and bookings through their start indexes each minute, not all history.
NO_SHOW_LOOKBACK: Final = timedelta(days=30)


async def mark_no_shows(tx: Tx, now: datetime) -> tuple[int, int]:
    """Mark confirmed parties of events and bookings that have ended without anyone of
    them checking in; returns (invitations, bookings) newly marked. Marking twice adds
    nothing, since only unmarked rows are touched."""
    stamp, since = to_db(now), to_db(now - NO_SHOW_LOOKBACK)
    await tx.execute(
        # An erased resident's invitation (resident_id NULL) lost its code and check-in
        # with them: whether they came is no longer known, so it is never a no-show.
        "UPDATE invitations SET no_show_at = ? WHERE no_show_at IS NULL AND answer = 'yes'"
        " AND resident_id IS NOT NULL"
        " AND event_id IN (SELECT id FROM events WHERE starts_at >= ? AND ends_at <= ?"
        "                  AND status != 'cancelled')"
        " AND NOT EXISTS (SELECT 1 FROM checkin_codes c JOIN checkins k ON k.code = c.code"
        "                 WHERE c.invitation_id = invitations.id)",
        (stamp, since, stamp),
    )
    marked_invitations = await tx.changes()
    # By room and start (bookings_by_room); the unary + keeps the planner off the
    # event_id index, which would walk every booking not made for an event.
    await tx.execute(
        "UPDATE bookings SET no_show_at = ? WHERE room_id IN (SELECT id FROM rooms)"
        " AND starts_at >= ? AND ends_at <= ? AND no_show_at IS NULL"
        " AND status = 'confirmed' AND +event_id IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM checkins k WHERE k.booking_id = bookings.id)",
        (stamp, since, stamp),
    )
    return marked_invitations, await tx.changes()

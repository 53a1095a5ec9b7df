"""SQL for answers: invitations' current state, their history, the waitlist and the keys
of requests already applied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import AnswerChange, Invitation, RsvpState
from .checkin import ensure_code
from .core import Db, Row, Tx

_COLUMNS = (
    "i.id, i.event_id, i.resident_id, i.answer, i.party_size, i.answered_at, i.waitlist_seq,"
    " i.created_at, i.updated_at, r.name, r.language, h.unit"
)
_FROM = (
    " FROM invitations i JOIN residents r ON r.id = i.resident_id"
    " JOIN households h ON h.id = r.household_id"
)


def _invitation(row: Row) -> Invitation:
    return Invitation(
        id=row["id"],
        event_id=row["event_id"],
        resident_id=row["resident_id"],
        resident_name=row["name"],
        unit=row["unit"],
        language=row["language"],
        answer=RsvpState(row["answer"]),
        party_size=row["party_size"],
        answered_at=opt_from_db(row["answered_at"]),
        waitlist_position=None,
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


async def invitation(db: Db, event_id: int, resident_id: int) -> Invitation | None:
    """The invitation of one resident to one event."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS}{_FROM} WHERE i.event_id = ? AND i.resident_id = ?",
        (event_id, resident_id),
    )
    return None if row is None else _invitation(row)


async def invitation_by_id(db: Db, invitation_id: int) -> Invitation | None:
    """One invitation by its id."""
    row = await db.fetchone(f"SELECT {_COLUMNS}{_FROM} WHERE i.id = ?", (invitation_id,))
    return None if row is None else _invitation(row)


async def invitations_of_resident(db: Db, resident_id: int) -> list[Invitation]:
    """Every invitation of one resident, oldest first, each with its answer changes."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS}{_FROM} WHERE i.resident_id = ? ORDER BY i.id", (resident_id,)
    )
    found = [_invitation(row) for row in rows]
    changes = await history(db, [i.id for i in found])
    return [i.with_history(tuple(changes[i.id])) for i in found]


async def create_invitation(tx: Tx, event_id: int, resident_id: int, now: datetime) -> None:
    """Invite one resident (an organiser recording an answer for someone not yet invited);
    nothing happens when there is no such resident."""
    stamp = to_db(now)
    await tx.execute(
        "INSERT OR IGNORE INTO invitations (event_id, resident_id, created_at, updated_at)"
        " SELECT ?, id, ?, ? FROM residents WHERE id = ?",
        (event_id, stamp, stamp, resident_id),
    )


async def seats_taken(db: Db, event_id: int, *, besides: int = 0) -> int:
    """People confirmed (yes) for an event, leaving out invitation `besides`."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(party_size), 0) FROM invitations"
        " WHERE event_id = ? AND answer = 'yes' AND id != ?",
        (event_id, besides),
    )
    return int(row[0]) if row else 0


async def waitlist(db: Db, event_id: int) -> list[Invitation]:
    """The event's waitlisted invitations in arrival order."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS}{_FROM} WHERE i.event_id = ? AND i.answer = 'waitlisted'"
        " ORDER BY i.waitlist_seq, i.id",
        (event_id,),
    )
    return [_invitation(row) for row in rows]


async def set_answer(
    tx: Tx,
    invitation_id: int,
    answer: RsvpState,
    party_size: int,
    *,
    via: str,
    actor: str,
    now: datetime,
    keep_place: bool = False,
) -> None:
    """Record a new state and its history row. A party newly waitlisted takes the next
    place (the history row's id); `keep_place` leaves a waitlisted party where it was."""
    stamp = to_db(now)
    change = await tx.execute(
        "INSERT INTO answers (invitation_id, answer, party_size, via, actor, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (invitation_id, str(answer), party_size, via, actor, stamp),
    )
    if answer is not RsvpState.WAITLISTED:
        place = "NULL"
    elif keep_place:
        place = "waitlist_seq"
    else:
        place = str(int(change))  # the history row's id: arrival order
    # A promotion is the system's doing: the resident's own answer time stays.
    answered = "answered_at" if via == "system" else "?"
    params: list[object] = [str(answer), party_size]
    if via != "system":
        params.append(stamp)
    await tx.execute(
        f"UPDATE invitations SET answer = ?, party_size = ?, answered_at = {answered},"
        f" waitlist_seq = {place}, updated_at = ? WHERE id = ?",
        [*params, stamp, invitation_id],
    )
    if answer is RsvpState.YES:
        # A confirmed party is shown its door code at once, promotion included.
        await ensure_code(tx, invitation_id=invitation_id, now=now)


async def mark_seen(tx: Tx, key: str, now: datetime) -> bool:
    """Remember a request key; False when it was seen before (so nothing is to be done)."""
    inserted = await tx.execute_count(
        "INSERT INTO seen_requests (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (key, to_db(now)),
    )
    return inserted == 1


async def forget_seen_before(tx: Tx, cutoff: datetime) -> int:
    """Drop request keys older than `cutoff` (providers retry within hours, not weeks)."""
    await tx.execute("DELETE FROM seen_requests WHERE at < ?", (to_db(cutoff),))
    return await tx.changes()


async def history(db: Db, invitation_ids: Sequence[int]) -> dict[int, list[AnswerChange]]:
    """Each invitation's answer changes, oldest first."""
    found: dict[int, list[AnswerChange]] = {i: [] for i in invitation_ids}
    if not invitation_ids:
        return found
    marks = ", ".join("?" * len(invitation_ids))
    rows = await db.fetchall(
        "SELECT invitation_id, answer, party_size, via, actor, at FROM answers"
        f" WHERE invitation_id IN ({marks}) ORDER BY id",
        list(invitation_ids),
    )
    for row in rows:
        found[row["invitation_id"]].append(_change(row))
    return found


def _change(row: Row) -> AnswerChange:
    return AnswerChange(
        answer=RsvpState(row["answer"]),
        party_size=row["party_size"],
        via=row["via"],
        actor=row["actor"],
        at=from_db(row["at"]),
    )


@dataclass(frozen=True)
class RecentAnswer:
    """One answer as it arrived, with whose invitation it was."""

    invitation_id: int
    resident_name: str
    change: AnswerChange


async def latest_answers(db: Db, event_id: int, limit: int) -> list[RecentAnswer]:
    """The event's last `limit` answer changes, newest first."""
    rows = await db.fetchall(
        "SELECT a.invitation_id, a.answer, a.party_size, a.via, a.actor, a.at, r.name"
        " FROM answers a JOIN invitations i ON i.id = a.invitation_id"
        " JOIN residents r ON r.id = i.resident_id"
        " WHERE i.event_id = ? ORDER BY a.id DESC LIMIT ?",
        (event_id, limit),
    )
    return [RecentAnswer(row["invitation_id"], row["name"], _change(row)) for row in rows]


async def counts(db: Db, event_id: int) -> dict[str, tuple[int, int]]:
    """{answer: (invitations, people)} for an event."""
    return (await counts_of_events(db, [event_id]))[event_id]


async def counts_of_events(
    db: Db, event_ids: Sequence[int]
) -> dict[int, dict[str, tuple[int, int]]]:
    """`counts` for several events in one query: {event: {answer: (invitations, people)}}."""
    found: dict[int, dict[str, tuple[int, int]]] = {event_id: {} for event_id in event_ids}
    if not event_ids:
        return found
    marks = ", ".join("?" * len(event_ids))
    rows = await db.fetchall(
        "SELECT event_id, answer, COUNT(*), COALESCE(SUM(party_size), 0) FROM invitations"
        f" WHERE event_id IN ({marks}) GROUP BY event_id, answer",
        list(event_ids),
    )
    for row in rows:
        found[int(row[0])][row[1]] = (int(row[2]), int(row[3]))
    return found


async def change_mark(db: Db, event_id: int) -> tuple[int, int, int]:
    """What grows whenever an event's attendance changes: its invitations, its newest
    answer change and its newest check-in (cheap, for live pages to poll)."""
    row = await db.fetchone(
        "SELECT (SELECT COUNT(*) FROM invitations WHERE event_id = ?1),"
        " (SELECT COALESCE(MAX(a.id), 0) FROM answers a"
        "  JOIN invitations i ON i.id = a.invitation_id WHERE i.event_id = ?1),"
        " (SELECT COALESCE(MAX(id), 0) FROM checkins WHERE event_id = ?1)",
        (event_id,),
    )
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def invitations_page(
    db: Db, event_id: int, *, answer: str | None, after_id: int, limit: int
) -> list[Invitation]:
    """The event's invitations by id after `after_id`, optionally with one answer, with
    waitlist positions filled in."""
    where = " AND i.answer = ?" if answer else ""
    params: list[object] = [event_id, after_id]
    if answer:
        params.append(answer)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS},"
        " (SELECT COUNT(*) FROM invitations w WHERE w.event_id = i.event_id"
        "   AND w.answer = 'waitlisted' AND w.waitlist_seq <= i.waitlist_seq) AS place"
        f"{_FROM} WHERE i.event_id = ? AND i.id > ?{where} ORDER BY i.id LIMIT ?",
        [*params, limit],
    )
    found = []
    for row in rows:
        item = _invitation(row)
        if item.answer is RsvpState.WAITLISTED:
            item = item.placed(int(row["place"]))
        found.append(item)
    return found

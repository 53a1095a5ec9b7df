"""SQL for reconfirmation: each event's settings, the stages that have run, and who was
asked, who reconfirmed and what the deadline did (service/domain/reconfirm.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import EventStatus
from .core import Db, Tx, marks


@dataclass(frozen=True)
class ReconfirmRule:
    """An event's reconfirmation: asked `hours_before` its start, due
    `deadline_hours_before` it, and what happens to whoever has not ('release'/'flag')."""

    hours_before: int
    deadline_hours_before: int
    unconfirmed: str


@dataclass(frozen=True)
class Scheduled:
    """A published, unfinished event with reconfirmation, and how far it has got."""

    event_id: int
    starts_at: datetime
    ends_at: datetime
    rule: ReconfirmRule
    requested_at: datetime | None
    deadline_done: bool


@dataclass(frozen=True)
class ReconfirmState:
    """One invitation's reconfirmation."""

    requested_at: datetime
    reconfirmed_at: datetime | None
    outcome: str | None


async def rule(db: Db, event_id: int) -> ReconfirmRule | None:
    """The event's reconfirmation, or None when it asks for none."""
    row = await db.fetchone(
        "SELECT hours_before, deadline_hours_before, unconfirmed FROM event_reconfirm"
        " WHERE event_id = ?",
        (event_id,),
    )
    if row is None:
        return None
    return ReconfirmRule(row["hours_before"], row["deadline_hours_before"], row["unconfirmed"])


async def set_rule(tx: Tx, event_id: int, given: ReconfirmRule) -> None:
    """Turn reconfirmation on, or change it."""
    await tx.execute(
        "INSERT INTO event_reconfirm (event_id, hours_before, deadline_hours_before, unconfirmed)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET"
        " hours_before = excluded.hours_before,"
        " deadline_hours_before = excluded.deadline_hours_before,"
        " unconfirmed = excluded.unconfirmed",
        (event_id, given.hours_before, given.deadline_hours_before, given.unconfirmed),
    )


async def delete_rule(tx: Tx, event_id: int) -> bool:
    """Turn reconfirmation off; False when it was off."""
    return await tx.execute_count("DELETE FROM event_reconfirm WHERE event_id = ?", (event_id,)) > 0


async def scheduled(db: Db, now: datetime) -> list[Scheduled]:
    """Published events with reconfirmation that have not ended and whose deadline stage
    has not run."""
    rows = await db.fetchall(
        "SELECT e.id, e.starts_at, e.ends_at, r.hours_before, r.deadline_hours_before,"
        " r.unconfirmed, q.done_at AS requested_at, d.done_at AS deadline_at"
        " FROM event_reconfirm r JOIN events e ON e.id = r.event_id"
        " LEFT JOIN reconfirm_stages q ON q.event_id = e.id AND q.stage = 'request'"
        " LEFT JOIN reconfirm_stages d ON d.event_id = e.id AND d.stage = 'deadline'"
        " WHERE e.status = ? AND e.ends_at > ? AND d.done_at IS NULL ORDER BY e.starts_at, e.id",
        (EventStatus.PUBLISHED, to_db(now)),
    )
    return [
        Scheduled(
            row["id"],
            from_db(row["starts_at"]),
            from_db(row["ends_at"]),
            ReconfirmRule(row["hours_before"], row["deadline_hours_before"], row["unconfirmed"]),
            opt_from_db(row["requested_at"]),
            row["deadline_at"] is not None,
        )
        for row in rows
    ]


async def mark_stage(tx: Tx, event_id: int, stage: str, now: datetime) -> bool:
    """Record that a stage ran; False when it had run already (then nothing is to be done)."""
    inserted = await tx.execute_count(
        "INSERT INTO reconfirm_stages (event_id, stage, done_at) VALUES (?, ?, ?)"
        " ON CONFLICT (event_id, stage) DO NOTHING",
        (event_id, stage, to_db(now)),
    )
    return inserted == 1


async def add_requests(tx: Tx, event_id: int, invitation_ids: Sequence[int], now: datetime) -> None:
    """Remember who was asked to reconfirm."""
    await tx.executemany(
        "INSERT INTO reconfirmations (invitation_id, event_id, requested_at) VALUES (?, ?, ?)"
        " ON CONFLICT (invitation_id) DO NOTHING",
        [(invitation_id, event_id, to_db(now)) for invitation_id in invitation_ids],
    )


async def mark_reconfirmed(tx: Tx, invitation_id: int, now: datetime) -> bool:
    """The resident said they are still coming; True the first time, before the deadline."""
    return (
        await tx.execute_count(
            "UPDATE reconfirmations SET reconfirmed_at = ? WHERE invitation_id = ?"
            " AND reconfirmed_at IS NULL AND settled_at IS NULL",
            (to_db(now), invitation_id),
        )
        == 1
    )


async def unsettled(tx: Tx, event_id: int) -> list[int]:
    """The invitations asked and not reconfirmed, not yet settled by the deadline."""
    rows = await tx.fetchall(
        "SELECT invitation_id FROM reconfirmations WHERE event_id = ?"
        " AND reconfirmed_at IS NULL AND settled_at IS NULL ORDER BY invitation_id",
        (event_id,),
    )
    return [row["invitation_id"] for row in rows]


async def settle(tx: Tx, invitation_id: int, outcome: str | None, now: datetime) -> None:
    """What the deadline did: 'released', 'flagged', or None (they had said no already)."""
    await tx.execute(
        "UPDATE reconfirmations SET outcome = ?, settled_at = ? WHERE invitation_id = ?",
        (outcome, to_db(now), invitation_id),
    )


async def states(db: Db, invitation_ids: Sequence[int]) -> dict[int, ReconfirmState]:
    """The reconfirmation of each of these invitations that was asked for."""
    if not invitation_ids:
        return {}
    rows = await db.fetchall(
        "SELECT invitation_id, requested_at, reconfirmed_at, outcome FROM reconfirmations"
        f" WHERE invitation_id IN ({marks(len(invitation_ids))})",
        list(invitation_ids),
    )
    return {
        row["invitation_id"]: ReconfirmState(
            from_db(row["requested_at"]), opt_from_db(row["reconfirmed_at"]), row["outcome"]
        )
        for row in rows
    }

"""SQL for whom messages go to: residents with their invitations, and their contacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.clock import to_db
from ..core.secretbox import SecretBox
from .core import Db, Row, Tx, fetch_packed, marks
from .sealed import unseal


@dataclass(frozen=True)
class Recipient:
    """A resident as the outbox needs them."""

    id: int
    name: str
    language: str
    unit: str
    invitation_id: int | None = None
    answer: str | None = None
    party_size: int = 1
    # The invitation's check-in code, once it has one (a yes answer).
    checkin_code: str | None = None


@dataclass(frozen=True)
class Reach:
    """One contact of a resident, with what decides whether it may be used."""

    id: int
    resident_id: int
    channel: str
    address: str
    rank: int
    opted_out: bool
    disabled: bool
    secrets: tuple[str, ...]


async def audience_batch(
    db: Db,
    *,
    tags: Sequence[str],
    after_id: int,
    limit: int,
    only: Sequence[int] | None = None,
) -> list[Recipient]:
    """The next `limit` residents by id after `after_id`; with tags, those having any;
    with `only`, just those of these ids."""
    tag_filter = ""
    params: list[object] = [after_id]
    if tags:
        tag_filter = (
            " AND EXISTS (SELECT 1 FROM resident_tags t WHERE t.resident_id = r.id"
            f" AND t.tag IN ({marks(len(tags))}))"
        )
        params.extend(tags)
    if only is not None:
        tag_filter += f" AND r.id IN ({marks(len(only))})" if only else " AND 0"
        params.extend(only)
    params.append(limit)
    rows = await fetch_packed(
        db,
        "SELECT json_group_array(json_array(id, name, language, unit)) FROM"
        " (SELECT r.id, r.name, r.language, h.unit FROM residents r"
        " JOIN households h ON h.id = r.household_id"
        f" WHERE r.id > ?{tag_filter} ORDER BY r.id LIMIT ?)",
        params,
    )
    rows.sort()  # by id, whatever order the aggregate met them in
    return [Recipient(*row) for row in rows]


async def invitees_batch(
    db: Db,
    event_id: int,
    *,
    answers: Sequence[str] | None,
    after_id: int,
    limit: int,
    invited_by: datetime | None = None,
) -> list[Recipient]:
    """The next invitations of an event by id after `after_id`, optionally by answer and
    only those made by `invited_by`."""
    filters = ""
    params: list[object] = [event_id, after_id]
    if answers is not None:
        filters += f" AND i.answer IN ({marks(len(answers))})"
        params.extend(answers)
    if invited_by is not None:
        filters += " AND i.created_at <= ?"
        params.append(to_db(invited_by))
    params.append(limit)
    rows = await db.fetchall(
        "SELECT i.id AS invitation_id, i.answer, i.party_size, r.id, r.name, r.language, h.unit,"
        " c.code AS checkin_code"
        " FROM invitations i JOIN residents r ON r.id = i.resident_id"
        " JOIN households h ON h.id = r.household_id"
        " LEFT JOIN checkin_codes c ON c.invitation_id = i.id"
        f" WHERE i.event_id = ? AND i.id > ?{filters} ORDER BY i.id LIMIT ?",
        params,
    )
    return [_invitee(row) for row in rows]


def _invitee(row: Row) -> Recipient:
    """A resident with their invitation (its columns NULL when they have none)."""
    return Recipient(
        row["id"],
        row["name"],
        row["language"],
        row["unit"],
        invitation_id=row["invitation_id"],
        answer=row["answer"],
        party_size=row["party_size"] or 1,
        checkin_code=row["checkin_code"],
    )


async def recipient(db: Db, resident_id: int, event_id: int | None = None) -> Recipient | None:
    """One resident as a recipient; with `event_id`, with their invitation to that event
    (answer, party size, door code) when they have one, as invitees_batch gives them."""
    row = await db.fetchone(
        "SELECT r.id, r.name, r.language, h.unit, i.id AS invitation_id, i.answer,"
        " i.party_size, c.code AS checkin_code"
        " FROM residents r JOIN households h ON h.id = r.household_id"
        " LEFT JOIN invitations i ON i.resident_id = r.id AND i.event_id = ?"
        " LEFT JOIN checkin_codes c ON c.invitation_id = i.id WHERE r.id = ?",
        (event_id, resident_id),
    )
    return None if row is None else _invitee(row)


async def invited_residents(db: Db, event_id: int, resident_ids: Sequence[int]) -> set[int]:
    """Which of these residents already have an invitation to the event."""
    if not resident_ids:
        return set()
    found = await fetch_packed(
        db,
        "SELECT json_group_array(resident_id) FROM invitations"
        f" WHERE event_id = ? AND resident_id IN ({marks(len(resident_ids))})",
        [event_id, *resident_ids],
    )
    return set(found)


async def insert_invitations(
    tx: Tx, event_id: int, resident_ids: Sequence[int], now: datetime
) -> dict[int, int]:
    """Invite residents not invited yet; {resident id: new invitation id} for those."""
    if not resident_ids:
        return {}
    known = await invited_residents(tx, event_id, resident_ids)
    fresh = [rid for rid in resident_ids if rid not in known]
    if not fresh:
        return {}
    stamp = to_db(now)
    await tx.execute_rows(
        "INSERT INTO invitations (event_id, resident_id, created_at, updated_at) VALUES {rows}",
        [(event_id, rid, stamp, stamp) for rid in fresh],
    )
    rows = await fetch_packed(
        tx,
        "SELECT json_group_array(json_array(resident_id, id)) FROM invitations"
        f" WHERE event_id = ? AND resident_id IN ({marks(len(fresh))})",
        [event_id, *fresh],
    )
    return dict(rows)


# _reach unpacks rows in this order.
_REACH_COLUMNS = (
    "id, resident_id, channel, address, rank, opted_out_at, disabled_at,"
    " signing_secret, previous_secret, previous_secret_until"
)
_REACH = f"SELECT {_REACH_COLUMNS} FROM contacts"
_REACH_PACKED = f"SELECT json_group_array(json_array({_REACH_COLUMNS})) FROM contacts"


def _reach(row: Sequence[Any], now: datetime | None, box: SecretBox) -> Reach:
    id_, resident_id, channel, address, rank, opted_out_at, disabled_at, *keys = row
    secret = unseal(box, "contacts", "signing_secret", id_, keys[0])
    previous = unseal(box, "contacts", "previous_secret", id_, keys[1])
    until = keys[2]
    secrets: tuple[str, ...] = (secret,) if secret else ()
    # The previous secret signs too until its rotation window lapses.
    if previous and (now is None or until is None or until > to_db(now)):
        secrets += (previous,)
    return Reach(
        id=id_,
        resident_id=resident_id,
        channel=channel,
        address=address,
        rank=rank,
        opted_out=opted_out_at is not None,
        disabled=disabled_at is not None,
        secrets=secrets,
    )


async def contacts_of(db: Db, resident_ids: Sequence[int]) -> dict[int, list[Reach]]:
    """Each resident's contacts in preference order."""
    found: dict[int, list[Reach]] = {rid: [] for rid in resident_ids}
    if not resident_ids:
        return found
    rows = await fetch_packed(
        db, f"{_REACH_PACKED} WHERE resident_id IN ({marks(len(resident_ids))})", resident_ids
    )
    rows.sort(key=lambda row: (row[4], row[0]))  # by rank, then id: preference order
    for row in rows:
        found[row[1]].append(_reach(row, None, db.box))
    return found


async def contacts_by_id(db: Db, contact_ids: Sequence[int], now: datetime) -> dict[int, Reach]:
    """Contacts by id as they stand now, in one query."""
    if not contact_ids:
        return {}
    ids = sorted(set(contact_ids))
    rows = await fetch_packed(db, f"{_REACH_PACKED} WHERE id IN ({marks(len(ids))})", ids)
    return {row[0]: _reach(row, now, db.box) for row in rows}


async def contact(db: Db, contact_id: int, now: datetime) -> Reach | None:
    """One contact as it stands now (secrets whose rotation window has lapsed left out)."""
    row = await db.fetchone(f"{_REACH} WHERE id = ?", (contact_id,))
    return None if row is None else _reach(row, now, db.box)


async def disable_contact(tx: Tx, contact_id: int, reason: str, now: datetime) -> None:
    """Stop using an address the far end says is gone, noting why in its history."""
    await tx.execute(
        "UPDATE contacts SET disabled_at = ?, disabled_reason = ?"
        " WHERE id = ? AND disabled_at IS NULL",
        (to_db(now), reason, contact_id),
    )
    if await tx.changes():
        await _note_change(tx, contact_id, "disabled", reason, now)


async def reenable_contact(tx: Tx, contact_id: int, reason: str, now: datetime) -> bool:
    """Use a disabled address again (an organiser's word that it works now), noting why
    in its history; False when it was not disabled."""
    await tx.execute(
        "UPDATE contacts SET disabled_at = NULL, disabled_reason = NULL"
        " WHERE id = ? AND disabled_at IS NOT NULL",
        (contact_id,),
    )
    if not await tx.changes():
        return False
    await _note_change(tx, contact_id, "enabled", reason, now)
    return True


async def enable_contact(tx: Tx, contact_id: int, reason: str, now: datetime) -> None:
    """Use an address again, opted out or disabled before: its owner asked for it anew
    (a Telegram chat linked again from the RSVP page)."""
    await reenable_contact(tx, contact_id, reason, now)
    await tx.execute("UPDATE contacts SET opted_out_at = NULL WHERE id = ?", (contact_id,))


async def _note_change(tx: Tx, contact_id: int, change: str, reason: str, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO contact_changes (contact_id, at, change, reason) VALUES (?, ?, ?, ?)",
        (contact_id, to_db(now), change, reason),
    )


async def opt_out_contact(tx: Tx, contact_id: int, now: datetime) -> bool:
    """Opt an address out; False when it already was."""
    await tx.execute(
        "UPDATE contacts SET opted_out_at = ? WHERE id = ? AND opted_out_at IS NULL",
        (to_db(now), contact_id),
    )
    return await tx.changes() == 1

"""SQL for residents, their tags and their contacts."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import Channel, Contact, ContactChange, Language, Resident
from .core import Db, Row, Tx
from .households import like
from .sealed import seal

# A contact's row with its history, oldest first, packed as JSON (one query for both).
_CONTACTS: Final = (
    "SELECT c.*, (SELECT json_group_array(json_array(h.at, h.change, h.reason)) FROM"
    " (SELECT at, change, reason FROM contact_changes WHERE contact_id = c.id ORDER BY id) h)"
    " AS history FROM contacts c"
)
_SELECT: Final = (
    "SELECT r.*, h.unit AS unit FROM residents r JOIN households h ON h.id = r.household_id"
)
# Stay well under SQLite's limit on bound parameters in one statement.
_CHUNK: Final = 500


def _contact(row: Row) -> Contact:
    return Contact(
        id=row["id"],
        resident_id=row["resident_id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        rank=row["rank"],
        opted_out=row["opted_out_at"] is not None,
        opted_out_at=opt_from_db(row["opted_out_at"]),
        created_at=from_db(row["created_at"]),
        disabled_at=opt_from_db(row["disabled_at"]),
        disabled_reason=row["disabled_reason"],
        history=tuple(
            ContactChange(from_db(at), change, reason)
            for at, change, reason in json.loads(row["history"] or "[]")
        ),
    )


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(values: Sequence[Any]) -> str:
    """`?, ?, ?` for an IN list; only placeholders go into the SQL text."""
    return ", ".join("?" * len(values))


async def _residents(db: Db, rows: list[Row]) -> list[Resident]:
    """Residents for `rows`, their tags and contacts fetched in two queries per 500."""
    ids = [int(r["id"]) for r in rows]
    tags: dict[int, list[str]] = defaultdict(list)
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for chunk in _chunks(ids):
        for row in await db.fetchall(
            "SELECT resident_id, tag FROM resident_tags"
            f" WHERE resident_id IN ({_marks(chunk)}) ORDER BY resident_id, tag",
            chunk,
        ):
            tags[row["resident_id"]].append(row["tag"])
        for row in await db.fetchall(
            f"{_CONTACTS} WHERE c.resident_id IN ({_marks(chunk)})"
            " ORDER BY c.resident_id, c.rank, c.id",
            chunk,
        ):
            contacts[row["resident_id"]].append(_contact(row))
    return [
        Resident(
            id=row["id"],
            household_id=row["household_id"],
            unit=row["unit"],
            name=row["name"],
            language=Language(row["language"]),
            notes=row["notes"],
            tags=tuple(tags[row["id"]]),
            contacts=tuple(contacts[row["id"]]),
            created_at=from_db(row["created_at"]),
            updated_at=from_db(row["updated_at"]),
        )
        for row in rows
    ]


async def get_resident(db: Db, resident_id: int) -> Resident | None:
    """One resident by id, with unit, tags and contacts."""
    row = await db.fetchone(f"{_SELECT} WHERE r.id = ?", (resident_id,))
    return (await _residents(db, [row]))[0] if row else None


async def find_resident(db: Db, household_id: int, name: str) -> Resident | None:
    """The resident of this household with this name."""
    row = await db.fetchone(
        f"{_SELECT} WHERE r.household_id = ? AND r.name = ?", (household_id, name)
    )
    return (await _residents(db, [row]))[0] if row else None


async def search_residents(
    db: Db,
    *,
    text: str | None,
    unit_prefix: str | None,
    phone: str | None,
    phone_digits: str | None,
    tags: Sequence[str],
    household_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Resident], int]:
    """Residents matching every given filter, ordered by unit and name; a page and the total.

    `text` is a substring of name or unit, `phone` an exact E.164 sms address,
    `phone_digits` a substring of one, `tags` any of them."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if text:
        where.append("(r.name LIKE ? ESCAPE '\\' OR h.unit LIKE ? ESCAPE '\\')")
        params += [like(text)] * 2
    if unit_prefix:
        where.append("h.unit LIKE ? ESCAPE '\\'")
        params.append(like(unit_prefix)[1:])  # drop the leading % so only a prefix matches
    if household_id is not None:
        where.append("r.household_id = ?")
        params.append(household_id)
    if phone:
        where.append(
            "EXISTS (SELECT 1 FROM contacts c"
            " WHERE c.resident_id = r.id AND c.channel = 'sms' AND c.address = ?)"
        )
        params.append(phone)
    if phone_digits:
        where.append(
            "EXISTS (SELECT 1 FROM contacts c WHERE c.resident_id = r.id"
            " AND c.channel = 'sms' AND c.address LIKE ? ESCAPE '\\')"
        )
        params.append(like(phone_digits))
    if tags:
        where.append(
            "EXISTS (SELECT 1 FROM resident_tags t"
            f" WHERE t.resident_id = r.id AND t.tag IN ({_marks(tags)}))"
        )
        params += list(tags)
    clause = " AND ".join(where)
    total_row = await db.fetchone(
        "SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id"
        f" WHERE {clause}",
        params,
    )
    rows = await db.fetchall(
        f"{_SELECT} WHERE {clause} ORDER BY h.unit, r.name, r.id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return await _residents(db, rows), int(total_row[0]) if total_row else 0


async def insert_resident(
    tx: Tx, household_id: int, name: str, language: Language, notes: str, now: datetime
) -> int:
    """A new resident; returns its id."""
    return await tx.execute(
        "INSERT INTO residents (household_id, name, language, notes, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (household_id, name, language.value, notes, to_db(now), to_db(now)),
    )


async def update_resident(
    tx: Tx,
    resident_id: int,
    *,
    household_id: int,
    name: str,
    language: Language,
    notes: str,
    now: datetime,
) -> None:
    """Change a resident's own fields."""
    await tx.execute(
        "UPDATE residents SET household_id = ?, name = ?, language = ?, notes = ?,"
        " updated_at = ? WHERE id = ?",
        (household_id, name, language.value, notes, to_db(now), resident_id),
    )


async def touch_resident(tx: Tx, resident_id: int, now: datetime) -> None:
    """Mark a resident changed (their tags or contacts changed)."""
    await tx.execute("UPDATE residents SET updated_at = ? WHERE id = ?", (to_db(now), resident_id))


async def delete_resident(tx: Tx, resident_id: int) -> None:
    """Remove a resident; their tags and contacts go with them (ON DELETE CASCADE)."""
    await tx.execute("DELETE FROM residents WHERE id = ?", (resident_id,))


# The messages that reached a resident: theirs by id or by contact, and those with no
# resident (replies to an SMS) to one of their addresses that no other resident still has.
THEIR_MESSAGES: Final = """
SELECT m.id FROM messages m WHERE m.resident_id = ?1
   OR m.contact_id IN (SELECT id FROM contacts WHERE resident_id = ?1)
UNION
SELECT m.id FROM messages m JOIN contacts c ON c.channel = m.channel AND c.address = m.address
 WHERE c.resident_id = ?1 AND m.resident_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.channel = c.channel
                   AND o.address = c.address AND o.resident_id != ?1)
"""


# Why a waiting message to an erased resident was let go (read by core/failures.py).
ERASED_REASON: Final = "cancelled: resident erased"


@dataclass(frozen=True)
class Erasure:
    """What erasing a resident changed besides the resident row."""

    # Messages whose address and text were blanked (those still waiting were cancelled).
    blanked: int
    # Events not yet started whose seats the resident held: their waitlists may move up.
    freed_events: tuple[int, ...]
    # Their bookings still to come, now cancelled (the room is free again).
    cancelled_bookings: int


async def erase_resident(tx: Tx, resident_id: int, now: datetime) -> Erasure:
    """Remove a resident and every address and text of theirs, keeping the counts.

    Messages that reached them keep kind, channel and status but lose address, text,
    extras, note and errors (of the message and of its attempts); those still waiting are
    cancelled; the mail they sent to the reply address goes. Their answers to events
    already started stay (the invitation outlives its
    resident, whose id becomes NULL), so yes/no/maybe counts and headcounts do not change;
    their invitations to events not yet started go, freeing the seats. Their check-ins
    become people counted at the door, without a code. Their bookings still to come are
    cancelled; past ones stay the household's, without their note."""
    stamp = to_db(now)
    ids = [int(row["id"]) for row in await tx.fetchall(THEIR_MESSAGES, (resident_id,))]
    for chunk in _chunks(ids):
        marks = _marks(chunk)
        # A message being sent is let go too: its send's result then changes nothing
        # (settle only moves queued or sending messages).
        await tx.execute(
            "UPDATE messages SET status = 'suppressed', lease_until = NULL,"
            f" last_error = ?, updated_at = ? WHERE id IN ({marks})"
            " AND status IN ('queued', 'sending')",
            [ERASED_REASON, stamp, *chunk],
        )
        await tx.execute(
            "UPDATE messages SET address = '', note = '', provider_id = NULL,"
            " last_error = CASE WHEN last_error = ? THEN last_error END"
            f" WHERE id IN ({marks})",
            [ERASED_REASON, *chunk],
        )
        await tx.execute(
            "UPDATE message_bodies SET subject = '', body_text = '', body_html = NULL,"
            f" extra = '{{}}' WHERE message_id IN ({marks})",
            chunk,
        )
        await tx.execute(
            f"UPDATE attempts SET error = NULL, provider_id = NULL WHERE message_id IN ({marks})",
            chunk,
        )
    # Events not yet started are not statistics yet: the invitation goes with its seats,
    # unless they already checked in for it (early, at the door), which is a count.
    upcoming = await tx.fetchall(
        "SELECT i.id, i.event_id, i.answer FROM invitations i JOIN events e ON e.id = i.event_id"
        " WHERE i.resident_id = ? AND e.starts_at > ? AND NOT EXISTS (SELECT 1"
        " FROM checkin_codes c JOIN checkins k ON k.code = c.code WHERE c.invitation_id = i.id)",
        (resident_id, stamp),
    )
    # Their check-ins at events, kept as people counted at the door (walk-ins, with no
    # code), so an event's headcount stays; then their codes go.
    await tx.execute(
        "UPDATE checkins SET walk_ins = walk_ins + party_size, party_size = 0, code = NULL"
        " WHERE party_size + walk_ins > 0 AND code IN (SELECT c.code FROM checkin_codes c"
        " JOIN invitations i ON i.id = c.invitation_id WHERE i.resident_id = ?)",
        (resident_id,),
    )
    await tx.execute(
        "DELETE FROM checkin_codes WHERE invitation_id IN"
        " (SELECT id FROM invitations WHERE resident_id = ?)",
        (resident_id,),
    )
    for chunk in _chunks([int(row["id"]) for row in upcoming]):
        await tx.execute(f"DELETE FROM invitations WHERE id IN ({_marks(chunk)})", chunk)
    freed = tuple(sorted({int(row["event_id"]) for row in upcoming if row["answer"] == "yes"}))
    # Their bookings still to come would hold the room for someone who is gone.
    await tx.execute(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = ?1, updated_at = ?1"
        " WHERE resident_id = ?2 AND event_id IS NULL AND starts_at > ?1"
        " AND status IN ('pending', 'confirmed')",
        (stamp, resident_id),
    )
    cancelled = await tx.changes()
    # Mail they sent to the reply address: the inbox keeps it by resident when its
    # address named them, else only by the sender's address (a reply without a token).
    await tx.execute(
        "DELETE FROM mail_inbox WHERE resident_id = ?1 OR sender IN"
        " (SELECT lower(address) FROM contacts WHERE resident_id = ?1 AND channel = 'email')",
        (resident_id,),
    )
    # What they wrote on a booking request; the booking itself stays the household's.
    await tx.execute("UPDATE bookings SET note = '' WHERE resident_id = ?", (resident_id,))
    await delete_resident(tx, resident_id)
    return Erasure(len(ids), freed, cancelled)


async def add_tags(tx: Tx, resident_id: int, tags: Iterable[str]) -> int:
    """Give a resident these tags (those they have stay); returns how many were new."""
    added = 0
    for tag in tags:
        await tx.execute(
            "INSERT OR IGNORE INTO resident_tags (resident_id, tag) VALUES (?, ?)",
            (resident_id, tag),
        )
        added += await tx.changes()
    return added


async def replace_tags(tx: Tx, resident_id: int, tags: Iterable[str]) -> None:
    """Set a resident's tags to exactly these."""
    await tx.execute("DELETE FROM resident_tags WHERE resident_id = ?", (resident_id,))
    await add_tags(tx, resident_id, tags)


async def tag_counts(db: Db) -> list[tuple[str, int]]:
    """Every tag in use with how many residents have it, alphabetically."""
    rows = await db.fetchall(
        "SELECT tag, count(*) AS n FROM resident_tags GROUP BY tag ORDER BY tag"
    )
    return [(row["tag"], int(row["n"])) for row in rows]


async def get_contact(db: Db, resident_id: int, contact_id: int) -> Contact | None:
    """One of a resident's contacts."""
    row = await db.fetchone(
        f"{_CONTACTS} WHERE c.id = ? AND c.resident_id = ?", (contact_id, resident_id)
    )
    return _contact(row) if row else None


async def find_contact(db: Db, resident_id: int, channel: Channel, address: str) -> Contact | None:
    """A resident's contact with this canonical address on this channel."""
    row = await db.fetchone(
        f"{_CONTACTS} WHERE c.resident_id = ? AND c.channel = ? AND c.address = ?",
        (resident_id, channel.value, address),
    )
    return _contact(row) if row else None


async def list_contacts(db: Db, resident_id: int) -> list[Contact]:
    """A resident's contacts in preference order."""
    rows = await db.fetchall(
        f"{_CONTACTS} WHERE c.resident_id = ? ORDER BY c.rank, c.id", (resident_id,)
    )
    return [_contact(r) for r in rows]


async def insert_contact(
    tx: Tx,
    resident_id: int,
    channel: Channel,
    address: str,
    *,
    opted_out_at: datetime | None,
    now: datetime,
    signing_secret: str | None = None,
) -> Contact:
    """A new contact, last in the resident's preference order."""
    row = await tx.fetchone(
        "SELECT coalesce(max(rank) + 1, 0) FROM contacts WHERE resident_id = ?", (resident_id,)
    )
    rank = int(row[0]) if row else 0
    contact_id = await tx.execute(
        "INSERT INTO contacts (resident_id, channel, address, rank, opted_out_at, created_at,"
        " signing_secret) VALUES (?, ?, ?, ?, ?, ?, NULL)",
        (
            resident_id,
            channel.value,
            address,
            rank,
            to_db(opted_out_at) if opted_out_at else None,
            to_db(now),
        ),
    )
    if signing_secret is not None:
        # Sealed for its row, so its id first (see sealed.py).
        await tx.execute(
            "UPDATE contacts SET signing_secret = ? WHERE id = ?",
            (seal(tx.box, "contacts", "signing_secret", contact_id, signing_secret), contact_id),
        )
    return Contact(
        id=contact_id,
        resident_id=resident_id,
        channel=channel,
        address=address,
        rank=rank,
        opted_out=opted_out_at is not None,
        opted_out_at=opted_out_at,
        created_at=now,
        signing_secret=signing_secret,
    )


async def update_contact(
    tx: Tx, contact_id: int, *, address: str, opted_out_at: datetime | None
) -> None:
    """Change a contact's address and opt-out time."""
    await tx.execute(
        "UPDATE contacts SET address = ?, opted_out_at = ? WHERE id = ?",
        (address, to_db(opted_out_at) if opted_out_at else None, contact_id),
    )


async def delete_contact(tx: Tx, contact_id: int) -> None:
    """Remove one contact."""
    await tx.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))


async def set_contact_order(tx: Tx, resident_id: int, contact_ids: Sequence[int]) -> None:
    """Rank a resident's contacts 0, 1, 2… in the order of `contact_ids`."""
    await tx.executemany(
        "UPDATE contacts SET rank = ? WHERE id = ? AND resident_id = ?",
        [(rank, contact_id, resident_id) for rank, contact_id in enumerate(contact_ids)],
    )

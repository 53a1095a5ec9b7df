"""SQL for mail to the reply address: the newest calendar reply applied per invitation,
the organiser's inbox of mail no rule could apply, and the IMAP reader's place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, to_db
from .core import Db, Row, Tx


async def newer_reply(
    tx: Tx, invitation_id: int, sequence: int, dtstamp: datetime, partstat: str, now: datetime
) -> bool:
    """Remember this reply as the invitation's newest and say True, or say False when one
    already applied has a higher SEQUENCE, or the same SEQUENCE and a DTSTAMP as new."""
    row = await tx.fetchone(
        "SELECT sequence, dtstamp FROM calendar_replies WHERE invitation_id = ?",
        (invitation_id,),
    )
    stamp = to_db(dtstamp)
    if row is not None and (row["sequence"], row["dtstamp"]) >= (sequence, stamp):
        return False
    await tx.execute(
        "INSERT INTO calendar_replies (invitation_id, sequence, dtstamp, partstat, at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (invitation_id) DO UPDATE SET"
        " sequence = excluded.sequence, dtstamp = excluded.dtstamp,"
        " partstat = excluded.partstat, at = excluded.at",
        (invitation_id, sequence, stamp, partstat, to_db(now)),
    )
    return True


@dataclass(frozen=True)
class InboxItem:
    """A mail the organiser is to look at."""

    id: int
    kind: str  # plain | tentative | refused
    event_id: int | None
    event_title: str | None
    resident_id: int | None
    resident_name: str | None
    sender: str
    subject: str
    body: str
    reason: str
    suggested: str | None
    party_size: int | None
    received_at: datetime
    handled_at: datetime | None
    handled_as: str | None


@dataclass(frozen=True)
class NewInboxItem:
    """A mail to put in the inbox."""

    message_key: str
    kind: str
    event_id: int | None
    resident_id: int | None
    sender: str
    subject: str
    body: str
    reason: str = ""
    suggested: str | None = None
    party_size: int | None = None


async def add_to_inbox(tx: Tx, item: NewInboxItem, now: datetime) -> bool:
    """Put a mail in the inbox once (by its key); False when it is there already."""
    return (
        await tx.execute_count(
            "INSERT INTO mail_inbox (message_key, kind, event_id, resident_id, sender, subject,"
            " body, reason, suggested, party_size, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING",
            (
                item.message_key,
                item.kind,
                item.event_id,
                item.resident_id,
                item.sender,
                item.subject,
                item.body,
                item.reason,
                item.suggested,
                item.party_size,
                to_db(now),
            ),
        )
        == 1
    )


_ITEM = (
    "SELECT m.id, m.kind, m.event_id, e.title AS event_title, m.resident_id,"
    " r.name AS resident_name, m.sender, m.subject, m.body, m.reason, m.suggested,"
    " m.party_size, m.received_at, m.handled_at, m.handled_as FROM mail_inbox m"
    " LEFT JOIN events e ON e.id = m.event_id LEFT JOIN residents r ON r.id = m.resident_id"
)


def _item(row: Row) -> InboxItem:
    get = row.__getitem__
    handled = get("handled_at")
    return InboxItem(
        id=get("id"),
        kind=get("kind"),
        event_id=get("event_id"),
        event_title=get("event_title"),
        resident_id=get("resident_id"),
        resident_name=get("resident_name"),
        sender=get("sender"),
        subject=get("subject"),
        body=get("body"),
        reason=get("reason"),
        suggested=get("suggested"),
        party_size=get("party_size"),
        received_at=from_db(get("received_at")),
        handled_at=None if handled is None else from_db(handled),
        handled_as=get("handled_as"),
    )


async def inbox(db: Db, *, open_only: bool, limit: int = 200) -> list[InboxItem]:
    """The inbox, newest first; with `open_only` only what nobody has handled."""
    where = " WHERE m.handled_at IS NULL" if open_only else ""
    rows = await db.fetchall(f"{_ITEM}{where} ORDER BY m.id DESC LIMIT ?", (limit,))
    return [_item(row) for row in rows]


async def inbox_item(db: Db, item_id: int) -> InboxItem | None:
    """One inbox item."""
    row = await db.fetchone(f"{_ITEM} WHERE m.id = ?", (item_id,))
    return None if row is None else _item(row)


async def handle(tx: Tx, item_id: int, *, actor: str, handled_as: str, now: datetime) -> bool:
    """Mark an item handled; False when it was handled already (a second click)."""
    return (
        await tx.execute_count(
            "UPDATE mail_inbox SET handled_at = ?, handled_by = ?, handled_as = ?"
            " WHERE id = ? AND handled_at IS NULL",
            (to_db(now), actor, handled_as, item_id),
        )
        == 1
    )


async def cursor(db: Db, mailbox: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, last UID read) of a mailbox folder, or None before the first read."""
    row = await db.fetchone(
        "SELECT uidvalidity, last_uid FROM mail_cursors WHERE mailbox = ?", (mailbox,)
    )
    return None if row is None else (row["uidvalidity"], row["last_uid"])


async def set_cursor(tx: Tx, mailbox: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
    """Remember how far the reader has read."""
    await tx.execute(
        "INSERT INTO mail_cursors (mailbox, uidvalidity, last_uid, at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
        " last_uid = excluded.last_uid, at = excluded.at",
        (mailbox, uidvalidity, last_uid, to_db(now)),
    )

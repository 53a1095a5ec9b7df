"""SQL for SMS that residents send us: who has a number, and which invitation a reply
without (or with) an event code answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.clock import to_db
from ..core.models import MessageStatus
from .core import Db
from .recipients import Reach

# An invitation SMS counts as sent to a number once the provider has it.
_SENT: Final = "({})".format(
    ", ".join(
        f"'{s}'" for s in (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED)
    )
)


@dataclass(frozen=True)
class Sender:
    """A resident's contact with this address, and the language to answer them in."""

    contact: Reach
    language: str


def _marks(count: int) -> str:
    return ", ".join("?" * count)


async def senders(db: Db, address: str, channel: str = "sms") -> list[Sender]:
    """The contacts on `channel` with this address (an E.164 number a household may
    share, a Telegram chat id), oldest first."""
    rows = await db.fetchall(
        "SELECT c.id, c.resident_id, c.address, c.rank, c.opted_out_at, c.disabled_at,"
        " r.language FROM contacts c JOIN residents r ON r.id = c.resident_id"
        " WHERE c.channel = ? AND c.address = ? ORDER BY c.id",
        (channel, address),
    )
    return [
        Sender(
            Reach(
                id=row["id"],
                resident_id=row["resident_id"],
                channel=channel,
                address=row["address"],
                rank=row["rank"],
                opted_out=row["opted_out_at"] is not None,
                disabled=row["disabled_at"] is not None,
                secrets=(),
            ),
            row["language"],
        )
        for row in rows
    ]


def _filters(event_id: int | None, open_at: datetime | None) -> tuple[str, list[object]]:
    where = ""
    params: list[object] = []
    if event_id is not None:
        where += " AND i.event_id = ?"
        params.append(event_id)
    if open_at is not None:
        where += " AND e.status = 'published' AND e.ends_at > ?"
        params.append(to_db(open_at))
    return where, params


async def latest_invitation(
    db: Db,
    resident_ids: Sequence[int],
    address: str,
    *,
    event_id: int | None = None,
    open_at: datetime | None = None,
) -> tuple[int, int] | None:
    """(event id, resident id) of the newest invitation (or reconfirmation request: it
    asks for an answer just the same) SMS sent to `address` for one of these residents;
    only for `event_id` if given, only for events still open (published, not ended) at
    `open_at` if given."""
    if not resident_ids:
        return None
    where, params = _filters(event_id, open_at)
    # From the residents' invitations to their messages: both steps have an index, where
    # messages by address alone have none.
    row = await db.fetchone(
        "SELECT i.event_id, i.resident_id FROM invitations i"
        " JOIN events e ON e.id = i.event_id"
        " JOIN messages m ON m.event_id = i.event_id AND m.invitation_id = i.id"
        f" WHERE i.resident_id IN ({_marks(len(resident_ids))})"
        " AND m.kind IN ('invitation', 'reconfirm') AND m.channel = 'sms' AND m.address = ?"
        f" AND m.status IN {_SENT}{where} ORDER BY m.id DESC LIMIT 1",
        [*resident_ids, address, *params],
    )
    return None if row is None else (int(row["event_id"]), int(row["resident_id"]))


async def invitations_of(
    db: Db,
    resident_ids: Sequence[int],
    *,
    event_id: int | None = None,
    open_at: datetime | None = None,
    limit: int = 2,
) -> list[tuple[int, int]]:
    """(event id, resident id) of these residents' invitations, newest first, however
    they were sent; filtered as in `latest_invitation`."""
    if not resident_ids:
        return []
    where, params = _filters(event_id, open_at)
    rows = await db.fetchall(
        "SELECT i.event_id, i.resident_id FROM invitations i JOIN events e ON e.id = i.event_id"
        f" WHERE i.resident_id IN ({_marks(len(resident_ids))}){where}"
        " ORDER BY i.id DESC LIMIT ?",
        [*resident_ids, *params, limit],
    )
    return [(int(row["event_id"]), int(row["resident_id"])) for row in rows]


async def replied_since(db: Db, address: str, text: str, since: datetime) -> bool:
    """Whether this very reply text went (or is going) to this SMS number since `since`."""
    row = await db.fetchone(
        "SELECT 1 FROM messages m JOIN message_bodies b ON b.message_id = m.id"
        " WHERE m.created_at >= ? AND m.kind = 'reply' AND m.channel = 'sms'"
        " AND m.address = ? AND b.body_text = ? LIMIT 1",
        (to_db(since), address, text),
    )
    return row is not None

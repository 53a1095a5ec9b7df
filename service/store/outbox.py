"""SQL for the outbox: queuing, claiming, settling and requeueing messages; workers' beats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.clock import from_db, opt_from_db, to_db
from ..core.extras import Extras
from ..core.models import (
    Attempt,
    Channel,
    GroupChannel,
    Language,
    Message,
    MessageKind,
    MessageStatus,
)
from .core import Db, Row, Tx, fetch_packed

# message_of unpacks rows in this order; the text is in message_bodies (see 0009).
MESSAGE_COLUMNS = (
    "m.id, m.uid, m.group_uid, m.event_id, m.invitation_id, m.resident_id, m.contact_id,"
    " m.kind, m.channel, m.address, m.language, b.subject, b.body_text, b.body_html, b.extra,"
    " m.note, m.urgent, m.status, m.attempts, m.send_after, m.expires_at, m.provider_id,"
    " m.last_error, m.created_at, m.updated_at, m.subscription_id, m.chat_group_id"
)
MESSAGE_FROM = " FROM messages m JOIN message_bodies b ON b.message_id = m.id"
# The topic (Store.on_commit) a transaction notifies when it made messages due to send:
# new ones queued, failed ones retried, lapsed leases reclaimed. The delivery worker
# listens, so nothing that queues a message has to wake it. A retry put off until later
# (requeue) notifies nothing: waking now would find nothing due.
OUTBOX: Final = "outbox"
# Statuses named in SQL, as parameters from the one model of them (MessageStatus).
_QUEUED: Final = MessageStatus.QUEUED.value
_SENDING: Final = MessageStatus.SENDING.value
# ... written into the SQL text where a partial index (messages_due, messages_leased, see
# 0002) must match it: SQLite uses such an index only for the literal value, never a "?".
_IS_QUEUED: Final = f"status = '{_QUEUED}'"
_IS_SENDING: Final = f"status = '{_SENDING}'"
_RETRYABLE: Final = json.dumps(
    [s.value for s in MessageStatus if s.can_move_to(MessageStatus.QUEUED) and s.final]
)


# Enum members by value: a dict lookup costs a tenth of calling the enum, and a claim
# turns hundreds of rows into messages on the writer thread.
_KINDS: Final = {member.value: member for member in MessageKind}
_CHANNELS: Final[dict[str, Channel | GroupChannel]] = {
    member.value: member for member in (*Channel, *GroupChannel)
}
_LANGUAGES: Final = {member.value: member for member in Language}
_STATUSES: Final = {member.value: member for member in MessageStatus}


def message_of(row: Row, attempts: Sequence[Attempt] = ()) -> Message:
    """A message from a row of MESSAGE_COLUMNS, with its attempts when given."""
    # Unpacked by position, in MESSAGE_COLUMNS order: looking 26 columns up by name was most of
    # the writer's time turning a claim's rows into messages.
    (
        id_,
        uid,
        group_uid,
        event_id,
        invitation_id,
        resident_id,
        contact_id,
        kind,
        channel,
        address,
        language,
        subject,
        body_text,
        body_html,
        extra,
        note,
        urgent,
        status,
        tries,
        send_after,
        expires_at,
        provider_id,
        last_error,
        created_at,
        updated_at,
        subscription_id,
        chat_group_id,
    ) = row
    return Message(
        id=id_,
        uid=uid,
        group_uid=group_uid,
        event_id=event_id,
        invitation_id=invitation_id,
        resident_id=resident_id,
        contact_id=contact_id,
        # An unknown value still raises what the enum raises.
        kind=_KINDS.get(kind) or MessageKind(kind),
        channel=_CHANNELS.get(channel) or Channel(channel),
        address=address,
        language=_LANGUAGES.get(language) or Language(language),
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        extra=Extras.from_json(json.loads(extra)),
        note=note,
        urgent=bool(urgent),
        status=_STATUSES.get(status) or MessageStatus(status),
        attempts=tries,
        send_after=from_db(send_after),
        expires_at=opt_from_db(expires_at),
        provider_id=provider_id,
        last_error=last_error,
        created_at=from_db(created_at),
        updated_at=from_db(updated_at),
        attempt_log=tuple(attempts),
        subscription_id=subscription_id,
        chat_group_id=chat_group_id,
    )


@dataclass(frozen=True)
class NewMessage:
    """An outbox row to insert."""

    uid: str
    group_uid: str
    event_id: int | None
    invitation_id: int | None
    resident_id: int | None
    contact_id: int | None
    kind: str
    channel: str
    address: str
    language: str
    subject: str
    body_text: str
    body_html: str | None
    # Built by service/messages/compose.py, the one place outbox rows are made.
    extra: Extras
    note: str
    urgent: bool
    status: MessageStatus
    send_after: datetime
    expires_at: datetime | None
    # An integrator's event: the subscription it goes to (contact_id is then None).
    subscription_id: int | None = None
    # A room booking's message: the booking it is about.
    booking_id: int | None = None
    # A post to a group chat: the group destination (contact_id is then None).
    chat_group_id: int | None = None


async def insert_messages(
    tx: Tx,
    messages: Iterable[NewMessage],
    now: datetime,
    *,
    skip_known: bool = False,
    invitation_ids: Sequence[int] | None = None,
) -> None:
    """Queue messages; with `skip_known`, a message whose uid is already queued is left
    out rather than refused (deterministic uids make a repeated run queue nothing twice).
    `invitation_ids`, one per message, replace the messages' own (a send's new ones)."""
    messages = list(messages)
    if not messages:
        return
    tx.notify(OUTBOX)
    if invitation_ids is not None and len(invitation_ids) != len(messages):
        raise ValueError("one invitation id per message")
    stamp = to_db(now)
    # A batch's messages share a few send_after and expires_at moments: each is written
    # out once.
    texts: dict[datetime, str] = {}

    def db_time(moment: datetime) -> str:
        text = texts.get(moment)
        if text is None:
            text = texts[moment] = to_db(moment)
        return text

    conflict = " ON CONFLICT (uid) DO NOTHING" if skip_known else ""
    await tx.execute_rows(
        "INSERT INTO messages (uid, group_uid, event_id, invitation_id, resident_id, contact_id,"
        " kind, channel, address, language, note, urgent, status, send_after, expires_at,"
        " created_at, updated_at, subscription_id, booking_id, chat_group_id)"
        f" VALUES {{rows}}{conflict}",
        [
            (
                m.uid,
                m.group_uid,
                m.event_id,
                m.invitation_id if invitation_ids is None else invitation_ids[n],
                m.resident_id,
                m.contact_id,
                m.kind,
                m.channel,
                m.address,
                m.language,
                m.note,
                int(m.urgent),
                m.status,
                db_time(m.send_after),
                None if m.expires_at is None else db_time(m.expires_at),
                stamp,
                stamp,
                m.subscription_id,
                m.booking_id,
                m.chat_group_id,
            )
            for n, m in enumerate(messages)
        ],
    )
    # By uid: a message left out as already queued keeps the text it was queued with.
    await tx.execute_rows(
        "WITH v (subject, body_text, body_html, extra, uid) AS (VALUES {rows})"
        " INSERT INTO message_bodies (message_id, subject, body_text, body_html, extra)"
        " SELECT m.id, v.subject, v.body_text, v.body_html, v.extra"
        " FROM v JOIN messages m ON m.uid = v.uid WHERE true"
        " ON CONFLICT (message_id) DO NOTHING",
        [
            (
                m.subject,
                m.body_text,
                m.body_html,
                json.dumps(m.extra.to_json(), ensure_ascii=False, separators=(",", ":")),
                m.uid,
            )
            for m in messages
        ],
    )


async def claim_due(
    tx: Tx, channel: str, *, now: datetime, lease_until: datetime, limit: int, claimer: str = ""
) -> list[Message]:
    """Lease up to `limit` due messages of one channel, oldest due first, to `claimer` (a
    worker's identity: delivery/claimer.py)."""
    # Packed, and no RETURNING: each returned row would be a step of its own.
    due = await fetch_packed(
        tx,
        f"SELECT json_group_array(id) FROM (SELECT id FROM messages WHERE {_IS_QUEUED}"
        " AND channel = ? AND send_after <= ? ORDER BY send_after, id LIMIT ?)",
        (channel, to_db(now), limit),
    )
    if not due:
        return []
    # json_each: one parameter for the whole batch, however many are leased.
    ids = json.dumps(due)
    await tx.execute_count(
        "UPDATE messages SET status = ?, lease_until = ?, attempts = attempts + 1,"
        " updated_at = ?, claimed_by = ? WHERE id IN (SELECT value FROM json_each(?))",
        (_SENDING, to_db(lease_until), to_db(now), claimer or None, ids),
    )
    rows = await fetch_packed(
        tx,
        f"SELECT json_group_array(json_array({MESSAGE_COLUMNS})){MESSAGE_FROM}"
        " WHERE m.id IN (SELECT value FROM json_each(?))",
        (ids,),
    )
    order = {id_: n for n, id_ in enumerate(due)}  # oldest due first, as chosen
    rows.sort(key=lambda row: order[row[0]])
    return [message_of(row) for row in rows]


async def reclaim_expired_leases(tx: Tx, now: datetime) -> int:
    """Messages whose worker died holding them go back to the queue; returns how many."""
    await tx.execute(
        "UPDATE messages SET status = ?, lease_until = NULL, updated_at = ?"
        f" WHERE {_IS_SENDING} AND lease_until <= ?",
        (_QUEUED, to_db(now), to_db(now)),
    )
    reclaimed = await tx.changes()
    if reclaimed:
        tx.notify(OUTBOX)
    return reclaimed


async def claimers(db: Db) -> list[str]:
    """The workers holding leases now."""
    rows = await db.fetchall(
        f"SELECT DISTINCT claimed_by FROM messages WHERE {_IS_SENDING} AND claimed_by IS NOT NULL"
    )
    return [str(row["claimed_by"]) for row in rows]


async def reclaim_claims_of(tx: Tx, gone: Sequence[str], now: datetime) -> int:
    """Messages leased by workers known to be dead go back to the queue at once, their
    leases not waited out; returns how many."""
    await tx.execute(
        "UPDATE messages SET status = ?, lease_until = NULL, claimed_by = NULL, updated_at = ?"
        f" WHERE {_IS_SENDING} AND claimed_by IN (SELECT value FROM json_each(?))",
        (_QUEUED, to_db(now), json.dumps(list(gone))),
    )
    reclaimed = await tx.changes()
    if reclaimed:
        tx.notify(OUTBOX)
    return reclaimed


async def get_message(db: Db, message_id: int) -> Message | None:
    """One message."""
    row = await db.fetchone(f"SELECT {MESSAGE_COLUMNS}{MESSAGE_FROM} WHERE m.id = ?", (message_id,))
    return None if row is None else message_of(row)


async def record_attempts(
    tx: Tx,
    attempts: Iterable[tuple[Message, datetime, int | None, str, str | None, str | None]],
) -> None:
    """Log tries: (message, at, duration_ms, outcome, provider_id, error) each."""
    # A message can vanish while it is being sent (its subscription deleted, cascading):
    # its try is then not logged, rather than failing the whole batch on the foreign key.
    # By id and uid: a message queued since may have been given the vanished one's id.
    await tx.execute_rows(
        "WITH v (message_id, number, at, duration_ms, outcome, provider_id, error, uid)"
        " AS (VALUES {rows})"
        " INSERT INTO attempts (message_id, number, at, duration_ms, outcome, provider_id, error)"
        " SELECT message_id, number, at, duration_ms, outcome, provider_id, error FROM v"
        " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = v.message_id AND m.uid = v.uid)",
        [
            (m.id, m.attempts, to_db(at), duration or 0, outcome, provider_id, error, m.uid)
            for m, at, duration, outcome, provider_id, error in attempts
        ],
    )


async def settle(
    tx: Tx,
    message_id: int,
    status: str,
    now: datetime,
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> bool:
    """Give a leased (or queued) message its final status; False if it had one already."""
    await tx.execute(
        "UPDATE messages SET status = ?, lease_until = NULL, updated_at = ?,"
        " provider_id = COALESCE(?, provider_id), last_error = COALESCE(?, last_error)"
        " WHERE id = ? AND status IN (?, ?)",
        (status, to_db(now), provider_id, error, message_id, _QUEUED, _SENDING),
    )
    return await tx.changes() == 1


async def settle_many(
    tx: Tx, settled: Iterable[tuple[str, datetime, str | None, str | None, int, str]]
) -> None:
    """`settle` for many: (status, now, provider_id, error, message id, uid) each. By id
    and uid, so a message that vanished while being sent settles no newer one that was
    given its id."""
    await tx.execute_rows(
        "WITH v (status, at, provider_id, error, id, uid) AS (VALUES {rows})"
        " UPDATE messages SET status = v.status, lease_until = NULL, updated_at = v.at,"
        " provider_id = COALESCE(v.provider_id, messages.provider_id),"
        " last_error = COALESCE(v.error, messages.last_error)"
        " FROM v WHERE messages.id = v.id AND messages.uid = v.uid"
        # Literal: the rows' VALUES leave no room for shared parameters.
        f" AND messages.status IN ('{_QUEUED}', '{_SENDING}')",
        [
            (status, to_db(now), pid, error, mid, uid)
            for status, now, pid, error, mid, uid in settled
        ],
    )


async def known_uids(db: Db, uids: Sequence[str]) -> set[str]:
    """Which of `uids` are queued already (a repeated send's deterministic uids)."""
    if not uids:
        return set()
    rows = await db.fetchall(
        f"SELECT uid FROM messages WHERE uid IN ({', '.join('?' * len(uids))})", list(uids)
    )
    return {row["uid"] for row in rows}


async def still_open(tx: Tx, messages: Sequence[Message]) -> set[int]:
    """The ids of `messages` still queued or being sent (by id and uid, as settle_many):
    one a provider's report has settled meanwhile is not."""
    if not messages:
        return set()
    ids = await fetch_packed(
        tx,
        "SELECT json_group_array(m.id) FROM json_each(?) AS v JOIN messages m"
        " ON m.id = v.value ->> '$[0]' AND m.uid = v.value ->> '$[1]' WHERE m.status IN (?, ?)",
        (json.dumps([[m.id, m.uid] for m in messages]), _QUEUED, _SENDING),
    )
    return set(ids)


async def requeue(
    tx: Tx, message: Message, send_after: datetime, error: str, now: datetime
) -> None:
    """Put a leased message back in the queue until `send_after` (by id and uid, as
    settle_many)."""
    await tx.execute(
        "UPDATE messages SET status = ?, lease_until = NULL, send_after = ?,"
        " last_error = ?, updated_at = ? WHERE id = ? AND uid = ? AND status = ?",
        (_QUEUED, to_db(send_after), error, to_db(now), message.id, message.uid, _SENDING),
    )


async def release(tx: Tx, message: Message, send_after: datetime, now: datetime) -> None:
    """Put a leased message back unsent, due at `send_after`, its claim not counted as an
    attempt (by id and uid, as settle_many)."""
    await tx.execute(
        "UPDATE messages SET status = ?, lease_until = NULL, send_after = ?,"
        " attempts = MAX(attempts - 1, 0), updated_at = ? WHERE id = ? AND uid = ? AND status = ?",
        (_QUEUED, to_db(send_after), to_db(now), message.id, message.uid, _SENDING),
    )


async def retry_failed(tx: Tx, message_id: int, now: datetime) -> bool:
    """Queue a failed or expired message again, now; False if it is in another state, or
    its address or text is gone (its resident erased, its body past retention)."""
    await tx.execute(
        "UPDATE messages SET status = ?, send_after = ?, updated_at = ?, expires_at = NULL"
        " WHERE id = ? AND status IN (SELECT value FROM json_each(?)) AND address != ''"
        " AND EXISTS (SELECT 1 FROM message_bodies b"
        " WHERE b.message_id = messages.id AND b.body_text != '')",
        (_QUEUED, to_db(now), to_db(now), message_id, _RETRYABLE),
    )
    if await tx.changes() != 1:
        return False
    tx.notify(OUTBOX)
    return True


async def group_channels(db: Db, group_uid: str) -> set[str]:
    """The channels a message and its fallbacks have used."""
    rows = await db.fetchall(
        "SELECT DISTINCT channel FROM messages WHERE group_uid = ?", (group_uid,)
    )
    return {row["channel"] for row in rows}


async def by_provider_id(db: Db, channel: str, provider_id: str) -> tuple[int, str] | None:
    """(id, status) of the message a provider knows by `provider_id`: as recorded, or,
    before the send is recorded, our own id when we gave the provider that (the
    android gateway's report can beat the gateway's answer to us)."""
    row = await db.fetchone(
        "SELECT id, status FROM messages WHERE channel = ?"
        " AND (provider_id = ? OR (provider_id IS NULL AND uid = ?))",
        (channel, provider_id, provider_id),
    )
    return None if row is None else (int(row["id"]), str(row["status"]))


async def set_status(
    tx: Tx, message_id: int, status: str, error: str | None, now: datetime
) -> None:
    """Move a message to `status` (the caller has checked the move goes forward); a
    message still being sent leaves its lease (its send's result then changes nothing)."""
    await tx.execute(
        "UPDATE messages SET status = ?, last_error = COALESCE(?, last_error), updated_at = ?,"
        " lease_until = NULL WHERE id = ?",
        (status, error, to_db(now), message_id),
    )


async def beat(tx: Tx, name: str, now: datetime) -> None:
    """Note that a worker is alive."""
    await tx.execute(
        "INSERT INTO worker_beats (name, beat_at) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET beat_at = excluded.beat_at",
        (name, to_db(now)),
    )


async def last_beat(db: Db) -> datetime | None:
    """When any worker last looked at the outbox."""
    row = await db.fetchone("SELECT MAX(beat_at) AS at FROM worker_beats")
    return None if row is None else opt_from_db(row["at"])

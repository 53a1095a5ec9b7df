"""SQL for invitations, the outbox, delivery attempts and per-event template overrides."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..core.clock import from_db, opt_from_db, to_db
from ..core.extras import Extras
from ..core.models import Attempt, Channel, Language, Message, MessageKind, MessageStatus
from ..core.secretbox import SecretBox
from .core import Db, Row, Tx, fetch_packed
from .sealed import unseal

# _message unpacks rows in this order; the text is in message_bodies (see 0009).
_COLUMNS = (
    "m.id, m.uid, m.group_uid, m.event_id, m.invitation_id, m.resident_id, m.contact_id,"
    " m.kind, m.channel, m.address, m.language, b.subject, b.body_text, b.body_html, b.extra,"
    " m.note, m.urgent, m.status, m.attempts, m.send_after, m.expires_at, m.provider_id,"
    " m.last_error, m.created_at, m.updated_at, m.subscription_id"
)
_FROM = " FROM messages m JOIN message_bodies b ON b.message_id = m.id"
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


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# Enum members by value: a dict lookup costs a tenth of calling the enum, and a claim
# turns hundreds of rows into messages on the writer thread.
_KINDS: Final = {member.value: member for member in MessageKind}
_CHANNELS: Final = {member.value: member for member in Channel}
_LANGUAGES: Final = {member.value: member for member in Language}
_STATUSES: Final = {member.value: member for member in MessageStatus}


def _message(row: Row, attempts: Sequence[Attempt] = ()) -> Message:
    # Unpacked by position, in _COLUMNS order: looking 26 columns up by name was most of
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
    )


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


async def audience_batch(
    db: Db, *, tags: Sequence[str], after_id: int, limit: int
) -> list[Recipient]:
    """The next `limit` residents by id after `after_id`; with tags, those having any."""
    tag_filter = ""
    params: list[object] = [after_id]
    if tags:
        tag_filter = (
            " AND EXISTS (SELECT 1 FROM resident_tags t WHERE t.resident_id = r.id"
            f" AND t.tag IN ({_marks(len(tags))}))"
        )
        params.extend(tags)
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
        filters += f" AND i.answer IN ({_marks(len(answers))})"
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
        f" WHERE event_id = ? AND resident_id IN ({_marks(len(resident_ids))})",
        [event_id, *resident_ids],
    )
    return set(found)


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
        db, f"{_REACH_PACKED} WHERE resident_id IN ({_marks(len(resident_ids))})", resident_ids
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
    rows = await fetch_packed(db, f"{_REACH_PACKED} WHERE id IN ({_marks(len(ids))})", ids)
    return {row[0]: _reach(row, now, db.box) for row in rows}


async def contact(db: Db, contact_id: int, now: datetime) -> Reach | None:
    """One contact as it stands now (secrets whose rotation window has lapsed left out)."""
    row = await db.fetchone(f"{_REACH} WHERE id = ?", (contact_id,))
    return None if row is None else _reach(row, now, db.box)


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
        f" WHERE event_id = ? AND resident_id IN ({_marks(len(fresh))})",
        [event_id, *fresh],
    )
    return dict(rows)


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
        f" created_at, updated_at, subscription_id, booking_id) VALUES {{rows}}{conflict}",
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
    tx: Tx, channel: str, *, now: datetime, lease_until: datetime, limit: int
) -> list[Message]:
    """Lease up to `limit` due messages of one channel, oldest due first."""
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
        " updated_at = ? WHERE id IN (SELECT value FROM json_each(?))",
        (_SENDING, to_db(lease_until), to_db(now), ids),
    )
    rows = await fetch_packed(
        tx,
        f"SELECT json_group_array(json_array({_COLUMNS})){_FROM}"
        " WHERE m.id IN (SELECT value FROM json_each(?))",
        (ids,),
    )
    order = {id_: n for n, id_ in enumerate(due)}  # oldest due first, as chosen
    rows.sort(key=lambda row: order[row[0]])
    return [_message(row) for row in rows]


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


async def get_message(db: Db, message_id: int) -> Message | None:
    """One message."""
    row = await db.fetchone(f"SELECT {_COLUMNS}{_FROM} WHERE m.id = ?", (message_id,))
    return None if row is None else _message(row)


async def message_with_attempts(db: Db, message_id: int) -> Message | None:
    """One message with its attempts (the console's message page)."""
    row = await db.fetchone(f"SELECT {_COLUMNS}{_FROM} WHERE m.id = ?", (message_id,))
    if row is None:
        return None
    attempts = await _attempts_of(db, [message_id])
    return _message(row, attempts.get(message_id, ()))


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


async def retry_failed(tx: Tx, message_id: int, now: datetime) -> bool:
    """Queue a failed or expired message again, now; False if it is in another state."""
    await tx.execute(
        "UPDATE messages SET status = ?, send_after = ?, updated_at = ?, expires_at = NULL"
        " WHERE id = ? AND status IN (SELECT value FROM json_each(?))",
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


async def disable_contact(tx: Tx, contact_id: int, reason: str, now: datetime) -> None:
    """Stop using an address the far end says is gone."""
    await tx.execute(
        "UPDATE contacts SET disabled_at = ?, disabled_reason = ?"
        " WHERE id = ? AND disabled_at IS NULL",
        (to_db(now), reason, contact_id),
    )


async def enable_contact(tx: Tx, contact_id: int) -> None:
    """Use an address again, opted out or disabled before: its owner asked for it anew
    (a Telegram chat linked again from the RSVP page)."""
    await tx.execute(
        "UPDATE contacts SET opted_out_at = NULL, disabled_at = NULL, disabled_reason = NULL"
        " WHERE id = ?",
        (contact_id,),
    )


async def opt_out_contact(tx: Tx, contact_id: int, now: datetime) -> bool:
    """Opt an address out; False when it already was."""
    await tx.execute(
        "UPDATE contacts SET opted_out_at = ? WHERE id = ? AND opted_out_at IS NULL",
        (to_db(now), contact_id),
    )
    return await tx.changes() == 1


async def counts(db: Db, event_id: int, kind: str | None = None) -> list[tuple[str, str, int]]:
    """(status, channel, count) for an event's messages (of one kind, if given)."""
    rows = await db.fetchall(
        "SELECT status, channel, COUNT(*) AS n FROM messages WHERE event_id = ?"
        " AND (? IS NULL OR kind = ?) GROUP BY status, channel",
        (event_id, kind, kind),
    )
    return [(row["status"], row["channel"], row["n"]) for row in rows]


async def list_messages(
    db: Db,
    *,
    event_id: int | None,
    status: str | None,
    channel: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Message], int]:
    """A page of messages, newest first, each with its attempts."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("event_id", event_id), ("status", status), ("channel", channel)):
        if value is not None:
            where.append(f"m.{column} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total_row = await db.fetchone(f"SELECT COUNT(*) AS n FROM messages m{clause}", params)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS}{_FROM}{clause} ORDER BY m.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    attempts = await _attempts_of(db, [row["id"] for row in rows])
    items = [_message(row, attempts.get(row["id"], ())) for row in rows]
    return items, int(total_row["n"]) if total_row else 0


async def _attempts_of(db: Db, message_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {}
    if not message_ids:
        return found
    rows = await db.fetchall(
        "SELECT message_id, number, at, duration_ms, outcome, provider_id, error FROM attempts"
        f" WHERE message_id IN ({_marks(len(message_ids))}) ORDER BY message_id, id",
        list(message_ids),
    )
    for row in rows:
        found.setdefault(row["message_id"], []).append(
            Attempt(
                number=row["number"],
                at=from_db(row["at"]),
                duration_ms=row["duration_ms"],
                outcome=row["outcome"],
                provider_id=row["provider_id"],
                error=row["error"],
            )
        )
    return found


async def template_override(
    db: Db, event_id: int, kind: str, channel: str, language: str
) -> str | None:
    """An organiser's template for one event, kind, channel and language, if any."""
    row = await db.fetchone(
        "SELECT source FROM event_templates WHERE event_id = ? AND kind = ? AND channel = ?"
        " AND language = ?",
        (event_id, kind, channel, language),
    )
    return None if row is None else str(row["source"])


async def template_overrides(db: Db, event_id: int) -> list[tuple[str, str, str, str, datetime]]:
    """(kind, channel, language, source, updated_at) of an event's overrides."""
    rows = await db.fetchall(
        "SELECT kind, channel, language, source, updated_at FROM event_templates"
        " WHERE event_id = ? ORDER BY kind, channel, language",
        (event_id,),
    )
    return [
        (r["kind"], r["channel"], r["language"], r["source"], from_db(r["updated_at"]))
        for r in rows
    ]


async def put_template(
    tx: Tx, event_id: int, kind: str, channel: str, language: str, source: str, now: datetime
) -> None:
    """Save (or replace) an override."""
    await tx.execute(
        "INSERT INTO event_templates (event_id, kind, channel, language, source, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, kind, channel, language)"
        " DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
        (event_id, kind, channel, language, source, to_db(now)),
    )


async def delete_template(tx: Tx, event_id: int, kind: str, channel: str, language: str) -> bool:
    """Drop an override; False when there was none."""
    await tx.execute(
        "DELETE FROM event_templates WHERE event_id = ? AND kind = ? AND channel = ?"
        " AND language = ?",
        (event_id, kind, channel, language),
    )
    return await tx.changes() == 1


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

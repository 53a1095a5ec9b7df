"""The delivery log: an event's messages counted and listed, a send's progress, the
console's message log, one message with its attempts, and the organiser's retry. Errors
are shown in the organiser's words beside the technical reason (core/failures.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ..core.errors import ConflictError, EventNotFoundError, NotFoundError
from ..core.failures import explain
from ..core.models import Attempt, Message, MessageKind, MessageStatus, Page
from ..store import Db, Store, Tx
from ..store import events as event_sql
from ..store import message_log as log_sql
from ..store import outbox as sql


@dataclass(frozen=True)
class Deliveries:
    """An event's messages: counts by status and channel, and a page of them."""

    event_id: int
    by_status: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    messages: Page[Message]


async def deliveries(
    store: Store,
    event_id: int,
    *,
    status: str | None,
    channel: str | None,
    limit: int,
    offset: int,
    lang: str,
) -> Deliveries:
    """Counts and a page of an event's messages, newest first, with their attempts (their
    errors explained in `lang`)."""
    await _existing(store, event_id)
    by_status, by_channel = await _tally(store.reader, event_id)
    items, total = await log_sql.list_messages(
        store.reader, event_id=event_id, status=status, channel=channel, limit=limit, offset=offset
    )
    return Deliveries(
        event_id=event_id,
        by_status=by_status,
        by_channel=by_channel,
        messages=Page(items=_explained(items, lang), total=total, limit=limit, offset=offset),
    )


def _attempt_explained(attempt: Attempt, lang: str) -> Attempt:
    said = explain(attempt.error, lang)
    if said is None:
        return attempt
    return replace(attempt, error_code=said.code, error_text=said.text)


def explained(message: Message, lang: str) -> Message:
    """The message with its last error and its attempts' errors read for an organiser in
    `lang`: a code and a plain sentence beside the technical reason."""
    said = explain(message.last_error, lang)
    return replace(
        message,
        last_error_code=None if said is None else said.code,
        last_error_text=None if said is None else said.text,
        attempt_log=tuple(_attempt_explained(a, lang) for a in message.attempt_log),
    )


def _explained(messages: list[Message], lang: str) -> tuple[Message, ...]:
    return tuple(explained(m, lang) for m in messages)


@dataclass(frozen=True)
class SendProgress:
    """How far an event's messages of one kind have got: counts by status, overall and by
    channel. Done when none is queued or sending any more (a failure counts as done)."""

    event_id: int
    kind: str
    by_status: dict[str, int]
    by_channel: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        """Messages of this kind, fallbacks included."""
        return sum(self.by_status.values())

    @property
    def waiting(self) -> int:
        """Messages not yet tried to the end (queued, or being sent now)."""
        return sum(n for s, n in self.by_status.items() if MessageStatus(s).waiting)

    @property
    def percent(self) -> int:
        """Share of messages done, rounded down (100 only when nothing waits)."""
        return 100 if not self.total else (self.total - self.waiting) * 100 // self.total


async def send_progress(
    store: Store, event_id: int, kind: MessageKind = MessageKind.INVITATION
) -> SendProgress:
    """Counts of an event's messages of one kind (its invitations, by default)."""
    await _existing(store, event_id)
    by_status, by_channel = await _tally(store.reader, event_id, str(kind))
    return SendProgress(event_id, str(kind), by_status, by_channel)


async def _existing(store: Store, event_id: int) -> None:
    """404 event_not_found unless the event exists."""
    if await event_sql.get_event(store.reader, event_id) is None:
        raise EventNotFoundError(event_id)


async def _tally(
    db: Db, event_id: int, kind: str | None = None
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """An event's messages (of one kind, if given) counted by status, and by channel."""
    by_status: dict[str, int] = {s.value: 0 for s in MessageStatus}
    by_channel: dict[str, dict[str, int]] = {}
    for st, ch, n in await log_sql.counts(db, event_id, kind):
        by_status[st] = by_status.get(st, 0) + n
        by_channel.setdefault(ch, {})[st] = n
    return by_status, by_channel


async def retry_message(store: Store, message_id: int, *, now: datetime) -> Message:
    """Queue a failed or expired message again, now (the organiser's retry button)."""

    async def txn(tx: Tx) -> Message:
        found = await sql.get_message(tx, message_id)
        if found is None:
            raise NotFoundError(f"no message {message_id}", code="message_not_found")
        if not await sql.retry_failed(tx, message_id, now):
            raise ConflictError(
                f"message {message_id} is {found.status}; only failed or expired ones retry"
                if found.address and found.body_text
                else f"message {message_id} has no address or text left to send again",
                code="message_not_retryable",
            )
        again = await sql.get_message(tx, message_id)
        assert again is not None
        return again

    return await store.write(txn)


async def message_log(
    store: Store,
    *,
    event_id: int | None,
    status: str | None,
    channel: str | None,
    limit: int,
    offset: int,
    lang: str,
) -> Page[Message]:
    """Every message (or one event's), newest first, with their attempts (the console's
    log), their errors explained in `lang`."""
    items, total = await log_sql.list_messages(
        store.reader, event_id=event_id, status=status, channel=channel, limit=limit, offset=offset
    )
    return Page(_explained(items, lang), total, limit, offset)


async def get_message(store: Store, message_id: int, lang: str) -> Message:
    """One message with its attempts, errors explained in `lang`; 404 message_not_found."""
    found = await log_sql.message_with_attempts(store.reader, message_id)
    if found is None:
        raise NotFoundError(f"no message {message_id}", code="message_not_found")
    return explained(found, lang)

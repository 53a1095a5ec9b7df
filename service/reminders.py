"""Reminders and nudges: each event's `reminder_hours` (to those who said yes) and
`nudge_hours` (to those who have not answered) fire once each, from the delivery process.

When an offset fires. Its due time is starts_at − offset. Of the offsets of one kind that
are due and not yet fired, only the smallest fires: an offset whose next smaller one is
also due is skipped for good, since its moment has passed and a later one now stands in
for it. And a message goes only to invitations made by the due time, so residents invited
after it are not reminded the moment they are invited. So an event published 3 h before
its start gets its 2 h reminder but not the 24 h one, one published 40 h before gets no
48 h nudge, and a worker that was down for a day sends only the reminder now due. Nothing
fires once the event has started (and a reminder expires then, unsent, should it wait in
the outbox that long), or for an event that is not published.

Exactly once. A reminder is recorded in reminders_fired only after all of its messages
are queued, each batch of recipients in its own transaction. Every message has a uid
derived from (event, kind, offset, resident) with the server secret, and is inserted
with ON CONFLICT (uid) DO NOTHING. A crash between batches leaves the reminder unrecorded,
so the next run goes through the recipients again and queues only what is missing; a
recorded reminder is never looked at again, whatever restarts, clock changes, second
workers or rescheduled events follow (moving an event does not repeat a reminder that
has fired: the update tells residents of the new time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from .clock import Clock
from .events import REMINDER_HOURS_MAX, get_event
from .housekeeping import every
from .models import MessageKind
from .notifications import Composer, overrides_of, pick_contact, room_name_of
from .store import Store, Tx
from .store import outbox as outbox_sql
from .store import reminders as sql
from .store.outbox import NewMessage
from .store.reminders import Schedule

log = logging.getLogger("linli.reminders")

REMINDER: Final = "reminder"
NUDGE: Final = "nudge"
# Whom each kind reaches: a reminder those coming, a nudge those who have not answered.
AUDIENCE: Final = {REMINDER: "yes", NUDGE: "pending"}
# No offset reaches further ahead than this, so later events need no look yet.
HORIZON: Final = timedelta(hours=REMINDER_HOURS_MAX)


@dataclass(frozen=True)
class Due:
    """A reminder or nudge of one event that is due now and has not fired."""

    event_id: int
    kind: str  # REMINDER or NUDGE
    offset_s: int
    due_at: datetime


def smallest_due(starts_at: datetime, offsets: Iterable[int], now: datetime) -> int | None:
    """The offset that may fire now: the smallest whose due time has come, None when none
    has or the event has started."""
    if now >= starts_at:
        return None
    due = [offset for offset in offsets if starts_at - timedelta(seconds=offset) <= now]
    return min(due, default=None)


def due_now(schedule: Schedule, fired: set[tuple[int, str, int]], now: datetime) -> list[Due]:
    """What of one event fires now (see the module's docstring for the rule)."""
    nudges = () if schedule.nudge_offset is None else (schedule.nudge_offset,)
    found: list[Due] = []
    for kind, offsets in ((REMINDER, schedule.reminder_offsets), (NUDGE, nudges)):
        offset = smallest_due(schedule.starts_at, offsets, now)
        if offset is not None and (schedule.event_id, kind, offset) not in fired:
            at = schedule.starts_at - timedelta(seconds=offset)
            found.append(Due(schedule.event_id, kind, offset, at))
    return found


def message_uid(key: bytes, due: Due, resident_id: int) -> str:
    """The one uid of a reminder's message to a resident, shaped like notifications.new_uid.
    Keyed with the server secret, so two servers never make the same id for a receiver
    that drops repeats."""
    value = f"{due.event_id}:{due.kind}:{due.offset_s}:{resident_id}"
    digest = hmac.new(key, f"reminder\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"msg_{digest[:24]}"


async def fire_due(store: Store, composer: Composer, *, now: datetime, batch: int = 500) -> int:
    """Queue every reminder and nudge due at `now` and not fired yet; returns how many
    fired. Safe to run at any time, as often as wanted, in several processes at once."""
    schedules = await sql.upcoming(store.reader, now, now + HORIZON)
    fired = await sql.fired(store.reader, [s.event_id for s in schedules])
    count = 0
    for schedule in schedules:
        for due in due_now(schedule, fired, now):
            if await _fire(store, composer, due, now=now, batch=batch):
                count += 1
    return count


async def _fire(store: Store, composer: Composer, due: Due, *, now: datetime, batch: int) -> bool:
    """Queue one reminder or nudge batch by batch, then record it; False when the event
    stopped being upcoming meanwhile or another process recorded it first."""
    event = await get_event(store, due.event_id)
    room = await room_name_of(store.reader, event)
    overrides = await overrides_of(store.reader, event.id)
    kind = MessageKind.REMINDER  # a nudge is a reminder to someone still pending
    queued, after = 0, 0
    while True:
        people = await sql.recipients_batch(
            store.reader,
            event.id,
            answer=AUDIENCE[due.kind],
            invited_by=due.due_at,
            after_id=after,
            limit=batch,
        )
        if not people:
            break
        after = people[-1].invitation_id or after
        contacts = await outbox_sql.contacts_of(store.reader, [p.id for p in people])
        rows: list[NewMessage] = []
        for person in people:
            contact, suppressed = pick_contact(contacts[person.id], composer.usable)
            if contact is None:
                continue
            message = composer.message(
                event,
                room,
                person,
                kind,
                contact,
                group_uid=None,
                invitation_id=person.invitation_id,
                note="",
                urgent=False,
                override=overrides.get((str(kind), contact.channel, person.language)),
                suppressed=suppressed,
                now=now,
            )
            uid = message_uid(composer.links.key, due, person.id)
            rows.append(replace(message, uid=uid, group_uid=uid))
        if not await store.write(partial(_queue, due=due, rows=rows, now=now)):
            return False
        queued += len(rows)
    recorded = await store.write(
        lambda tx: sql.mark_fired(tx, due.event_id, due.kind, due.offset_s, now)
    )
    if recorded:
        log.info(
            "event %d: %s %d h before the start queued for %d resident(s)",
            due.event_id,
            due.kind,
            due.offset_s // 3600,
            queued,
        )
    return recorded


async def _queue(tx: Tx, due: Due, rows: list[NewMessage], now: datetime) -> bool:
    # Checked in the writing transaction: a cancellation or a new start time committed
    # after the recipients were read stops the rest of the reminder.
    if not await sql.still_upcoming(tx, due.event_id, now):
        return False
    if (due.event_id, due.kind, due.offset_s) in await sql.fired(tx, [due.event_id]):
        return False
    await outbox_sql.insert_messages(tx, rows, now, skip_known=True)
    return True


@contextlib.asynccontextmanager
async def running(
    store: Store,
    composer: Composer,
    clock: Clock,
    *,
    interval_s: float,
    wake: Callable[[], None],
) -> AsyncIterator[None]:
    """Look for due reminders every `interval_s` seconds while open; `wake` tells the
    worker when some were queued."""

    async def chore() -> None:
        if await fire_due(store, composer, now=clock()):
            wake()

    task = asyncio.create_task(every(interval_s, "reminders", chore), name="linli-reminders")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

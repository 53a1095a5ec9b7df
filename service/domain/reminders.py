"""Reminders and nudges: each event's `reminder_hours` (to those who said yes) and
`nudge_hours` (to those who have not answered) fire once each, from the delivery process.

When an offset fires. Its due time is starts_at − offset. Of the offsets of one kind that
are due and not yet fired, only the smallest fires, and the larger ones are recorded as
spent with it: their moment has passed and a later one now stands in for them, so they
never go out after it (not even when the clock is set back). And a message goes only to
invitations made by the due time, so residents invited after it are not reminded the
moment they are invited. So an event published 3 h before its start gets its 2 h reminder
but not the 24 h one, one published 40 h before gets no 48 h nudge, and a worker that was
down for a day sends only the reminder now due. Nothing fires once the event has started
(and a reminder expires then, unsent, should it wait in the outbox that long), or for an
event that is not published. A nudge asks for an answer, so none goes once the RSVP
deadline has passed, and a nudge waiting in the outbox (quiet hours) expires then; it is
not recorded as fired, so a deadline moved later lets it go after all.

Exactly once. A reminder is recorded in reminders_fired only after all of its messages
are queued, each batch of recipients in its own transaction. Every message has a uid
derived from (event, kind, offset, due time, resident) with the server secret, and is
inserted with ON CONFLICT (uid) DO NOTHING. A crash between batches leaves the reminder
unrecorded, so the next run goes through the recipients again and queues only what is
missing; a recorded reminder is never looked at again, whatever restarts, clock changes
or second workers follow.

A moved event. When an event's start changes, the reminders and nudges whose new due time
is still ahead are forgotten (events.update_event) and fire again before the new start,
with new uids since their due time changed; those whose new due time has already passed
stay fired, so moving an event by half an hour does not repeat the reminder just sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from ..core.clock import Clock
from ..core.models import MessageKind
from ..messages.compose import Composer
from ..store import Store, Tx
from ..store import outbox as outbox_sql
from ..store import reminders as sql
from ..store.outbox import NewMessage
from ..store.reminders import Schedule
from .events import REMINDER_HOURS_MAX, get_event
from .housekeeping import in_background
from .sending import messages_to_invitees

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
    # Larger offsets of the same kind, also due, that this one stands in for.
    skipped: tuple[int, ...] = ()

    @property
    def starts_at(self) -> datetime:
        """The event's start this was worked out from."""
        return self.due_at + timedelta(seconds=self.offset_s)


def due_offsets(starts_at: datetime, offsets: Iterable[int], now: datetime) -> list[int]:
    """The offsets whose due time has come, smallest first; none once the event has
    started. Only the first may fire (see the module's docstring)."""
    if now >= starts_at:
        return []
    return sorted(offset for offset in offsets if starts_at - timedelta(seconds=offset) <= now)


def due_now(schedule: Schedule, fired: set[tuple[int, str, int]], now: datetime) -> list[Due]:
    """What of one event fires now (see the module's docstring for the rule)."""
    nudges: tuple[int, ...] = ()
    deadline = schedule.rsvp_deadline
    if schedule.nudge_offset is not None and (deadline is None or now < deadline):
        nudges = (schedule.nudge_offset,)
    found: list[Due] = []
    for kind, offsets in ((REMINDER, schedule.reminder_offsets), (NUDGE, nudges)):
        due = due_offsets(schedule.starts_at, offsets, now)
        if due and (schedule.event_id, kind, due[0]) not in fired:
            at = schedule.starts_at - timedelta(seconds=due[0])
            found.append(Due(schedule.event_id, kind, due[0], at, tuple(due[1:])))
    return found


def message_uid(key: bytes, due: Due, resident_id: int) -> str:
    """The one uid of a reminder's message to a resident, shaped like compose.new_uid.
    Keyed with the server secret, so two servers never make the same id for a receiver
    that drops repeats."""
    # The due time is in it so that a moved event's reminder is a new message.
    at = int(due.due_at.timestamp())
    value = f"{due.event_id}:{due.kind}:{due.offset_s}:{at}:{resident_id}"
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
    kind = MessageKind.REMINDER  # a nudge is a reminder to someone still pending
    expires_at = event.starts_at
    if due.kind == NUDGE and event.rsvp_deadline is not None:
        # An answer asked for after the deadline would be refused.
        expires_at = min(expires_at, event.rsvp_deadline)
    queued = 0
    async for composed in messages_to_invitees(
        store,
        composer,
        event,
        kind,
        answers=(AUDIENCE[due.kind],),
        note="",
        urgent=False,
        now=now,
        batch=batch,
        invited_by=due.due_at,
    ):
        rows: list[NewMessage] = []
        for message in composed:
            if message is None or message.resident_id is None:
                continue
            uid = message_uid(composer.links.key, due, message.resident_id)
            rows.append(replace(message, uid=uid, group_uid=uid, expires_at=expires_at))
        if not await store.write(partial(_queue, due=due, rows=rows, now=now)):
            return False
        queued += len(rows)
    recorded = await store.write(partial(_record, due=due, now=now))
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
    # after the recipients were read stops the rest of the reminder (the next run works
    # it out again from the new start).
    if not await sql.still_upcoming(tx, due.event_id, due.starts_at, now):
        return False
    if (due.event_id, due.kind, due.offset_s) in await sql.fired(tx, [due.event_id]):
        return False
    await outbox_sql.insert_messages(tx, rows, now, skip_known=True)
    return True


async def _record(tx: Tx, due: Due, now: datetime) -> bool:
    # Under the same check, so a reminder worked out from a start that has since moved
    # is not recorded against the new one (whose re-arming already ran).
    if not await sql.still_upcoming(tx, due.event_id, due.starts_at, now):
        return False
    return await sql.mark_fired(tx, due.event_id, due.kind, due.offset_s, now, due.skipped)


@contextlib.asynccontextmanager
async def running(
    store: Store,
    composer: Composer,
    clock: Clock,
    *,
    interval_s: float,
) -> AsyncIterator[None]:
    """Look for due reminders every `interval_s` seconds while open (the messages they
    queue wake the worker by themselves: see store/outbox.py's OUTBOX)."""

    async def chore() -> None:
        await fire_due(store, composer, now=clock())

    async with in_background(interval_s, "reminders", chore):
        yield

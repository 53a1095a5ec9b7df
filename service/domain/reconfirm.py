"""Reconfirmation: an event may ask those who said yes to say again that they are coming,
N hours before it starts (per event; off by default). Whoever has not by the deadline is
released (their seats freed, the waitlist moved up, both told) or flagged on the
attendance, as the event says.

Stages. The request goes when `hours_before` the start has come (and not once the event
has started): one reconfirm message per confirmed party, through the outbox, with the
link, Telegram's answer buttons and the SMS reply words of an invitation. The deadline
is `deadline_hours_before` the start, but never less than the window the event gives
(hours_before − deadline_hours_before) after the request actually went, so a server
that was down, or a clock that jumped, does not release people who were asked a moment
ago; and never after the start. Any answer of yes (the link, an SMS "1", a Telegram
button, a calendar ACCEPT, an organiser) after the request reconfirms
(followups.after_answer); a no frees the seats at once, as always.

Exactly once. Each stage does all its work in one transaction that also writes its row in
reconfirm_stages; a stage whose row exists is never run again, whatever restarts, second
processes or clock changes follow. A moved event keeps the stages it has run."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Final, Literal

from ..core.clock import Clock
from ..core.errors import NotFoundError, ValidationError
from ..core.models import Event, EventStatus, Invitation, MessageKind, RsvpState
from ..store import Store, Tx
from ..store import events as event_sql
from ..store import reconfirm as sql
from ..store import rsvp as rsvp_sql
from ..store.reconfirm import ReconfirmRule, Scheduled
from . import subscriptions
from .followups import Followups
from .housekeeping import in_background
from .rsvp import SYSTEM, promote

log = logging.getLogger("linli.reconfirm")

REQUEST: Final = "request"
DEADLINE: Final = "deadline"
HOURS_MAX: Final = 720
Unconfirmed = Literal["release", "flag"]


async def _event(db: Store, event_id: int) -> Event:
    event = await event_sql.get_event(db.reader, event_id)
    if event is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    return event


async def get_rule(store: Store, event_id: int) -> ReconfirmRule | None:
    """The event's reconfirmation, or None (404 event_not_found for no event)."""
    await _event(store, event_id)
    return await sql.rule(store.reader, event_id)


async def set_rule(store: Store, event_id: int, given: ReconfirmRule) -> ReconfirmRule:
    """Turn reconfirmation on or change it; the deadline must come after the request."""
    await _event(store, event_id)
    if not 1 <= given.hours_before <= HOURS_MAX:
        raise ValidationError.field(
            "hours_before", f"must be between 1 and {HOURS_MAX}", code="invalid_reconfirm"
        )
    if not 0 <= given.deadline_hours_before < given.hours_before:
        raise ValidationError.field(
            "deadline_hours_before",
            "must be at least 0 and less than hours_before (the deadline follows the request)",
            code="invalid_reconfirm",
        )

    async def txn(tx: Tx) -> None:
        await sql.set_rule(tx, event_id, given)

    await store.write(txn)
    return given


async def clear_rule(store: Store, event_id: int) -> None:
    """Turn reconfirmation off (requests already sent stay as they are)."""
    await _event(store, event_id)

    async def txn(tx: Tx) -> None:
        await sql.delete_rule(tx, event_id)

    await store.write(txn)


def deadline_of(item: Scheduled) -> datetime | None:
    """When the deadline stage is due, once the request has gone (see the docstring)."""
    if item.requested_at is None:
        return None
    rule = item.rule
    window = timedelta(hours=rule.hours_before - rule.deadline_hours_before)
    planned = item.starts_at - timedelta(hours=rule.deadline_hours_before)
    return min(item.starts_at, max(planned, item.requested_at + window))


async def run_due(store: Store, followups: Followups, *, now: datetime) -> int:
    """Run every stage that is due at `now` and has not run; how many ran. Safe to call at
    any time, as often as wanted, from several processes."""
    ran = 0
    for item in await sql.scheduled(store.reader, now):
        if item.requested_at is None:
            asked_from = item.starts_at - timedelta(hours=item.rule.hours_before)
            if asked_from <= now < item.starts_at:
                ran += await store.write(partial(_request, item=item, followups=followups, now=now))
            continue
        due = deadline_of(item)
        if due is not None and now >= due:
            ran += await store.write(partial(_deadline, item=item, followups=followups, now=now))
    return ran


async def _yes_parties(tx: Tx, event_id: int) -> list[Invitation]:
    found: list[Invitation] = []
    after = 0
    while True:
        page = await rsvp_sql.invitations_page(
            tx, event_id, answer=str(RsvpState.YES), after_id=after, limit=500
        )
        found.extend(page)
        if len(page) < 500:
            return found
        after = page[-1].id


async def _current(tx: Tx, item: Scheduled, now: datetime) -> Event | None:
    """The event, when it is still published, unfinished and starting when it did."""
    event = await event_sql.get_event(tx, item.event_id)
    if event is None or event.status is not EventStatus.PUBLISHED or event.ends_at <= now:
        return None
    return event


async def _request(tx: Tx, item: Scheduled, followups: Followups, now: datetime) -> int:
    event = await _current(tx, item, now)
    if event is None or event.starts_at <= now:
        return 0
    if not await sql.mark_stage(tx, event.id, REQUEST, now):
        return 0
    parties = await _yes_parties(tx, event.id)
    await sql.add_requests(tx, event.id, [p.id for p in parties], now)
    queued = await followups.queue(tx, event, parties, MessageKind.RECONFIRM, now)
    log.info("event %d: reconfirmation asked of %d part(ies)", event.id, queued)
    return 1


async def _deadline(tx: Tx, item: Scheduled, followups: Followups, now: datetime) -> int:
    event = await _current(tx, item, now)
    if event is None or not await sql.mark_stage(tx, event.id, DEADLINE, now):
        return 0
    release = item.rule.unconfirmed == "release" and now < event.starts_at
    released: list[Invitation] = []
    for invitation_id in await sql.unsettled(tx, event.id):
        party = await rsvp_sql.invitation_by_id(tx, invitation_id)
        if party is None or party.answer is not RsvpState.YES:
            await sql.settle(tx, invitation_id, None, now)  # said no meanwhile: nothing to do
            continue
        if release:
            await rsvp_sql.set_answer(
                tx, party.id, RsvpState.NO, party.party_size, via=SYSTEM, actor=SYSTEM, now=now
            )
            await sql.settle(tx, invitation_id, "released", now)
            moved = await rsvp_sql.invitation_by_id(tx, invitation_id)
            released.append(moved or party)
        else:
            await sql.settle(tx, invitation_id, "flagged", now)
    if released:
        promoted = await promote(tx, event, now)
        await followups.queue(tx, event, released, MessageKind.RECONFIRM_RELEASED, now)
        await subscriptions.parties_released(tx, released, now)
        await followups.after_promotion(tx, event, promoted, now)
        log.info(
            "event %d: %d part(ies) released at the reconfirmation deadline, %d moved up",
            event.id,
            len(released),
            len(promoted),
        )
    return 1


@contextlib.asynccontextmanager
async def running(
    store: Store, followups: Followups, clock: Clock, *, interval_s: float
) -> AsyncIterator[None]:
    """Run due stages every `interval_s` seconds while open."""

    async def chore() -> None:
        await run_due(store, followups, now=clock())

    async with in_background(interval_s, "reconfirm", chore):
        yield

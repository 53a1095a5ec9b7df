"""Events: what, when, where and for whom; their life is draft → published → finished,
or cancelled from draft or published."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Final, TypeVar

from ..core.clock import YEARS_TEXT, in_years
from ..core.errors import ConflictError, EventNotFoundError, NotFoundError, ValidationError
from ..core.models import Channel, Event, EventKind, EventStatus, Page, Room
from ..core.text import check_name, check_text
from ..store import Store, Tx
from ..store import bookings as booking_sql
from ..store import events as sql
from ..store import reminders as reminder_sql
from ..store import rooms as room_sql
from ..store.errors import SlotTaken
from .rsvp import AfterPromotion, promote

T = TypeVar("T")

TITLE_MAX: Final = 200
DESCRIPTION_MAX: Final = 5000
LOCATION_MAX: Final = 200
CAPACITY_MAX: Final = 100_000
PARTY_MAX: Final = 20
TAG_MAX: Final = 64
TAGS_MAX: Final = 50
EDITABLE: Final = frozenset({EventStatus.DRAFT, EventStatus.PUBLISHED})
# Reminders and the nudge: whole hours before the start, at most 30 days ahead.
REMINDERS_MAX: Final = 10
REMINDER_HOURS_MAX: Final = 30 * 24

# Runs inside the transaction that changed an event, with the event before and after (so
# integrators hear of exactly the changes committed): see subscriptions.event_changed.
AfterChange = Callable[[Tx, Event, Event, datetime], Awaitable[None]]


class Unset(Enum):
    """The type of UNSET: an EventChanges field that was not sent."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class EventInput:
    """A new event, as the organiser describes it; times are aware."""

    kind: EventKind
    title: str
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    location: str = ""
    room_id: int | None = None
    # People; None means no limit, or the room's capacity when the event is in a room.
    capacity: int | None = None
    max_party_size: int = 1
    rsvp_deadline: datetime | None = None
    # Residents having any of these tags; empty means everyone.
    audience_tags: tuple[str, ...] = ()
    # Hours before the start: reminders to those who said yes, a nudge to those who have
    # not answered (None: no nudge). See service/domain/reminders.py.
    reminder_hours: tuple[int, ...] = (24, 2)
    nudge_hours: int | None = 48
    # Channels its messages may use; empty means every channel.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventChanges:
    """Fields to change; UNSET leaves a field as it is, None clears a nullable one."""

    kind: EventKind | Unset = UNSET
    title: str | Unset = UNSET
    starts_at: datetime | Unset = UNSET
    ends_at: datetime | Unset = UNSET
    description: str | Unset = UNSET
    location: str | Unset = UNSET
    room_id: int | Unset | None = UNSET
    capacity: int | Unset | None = UNSET
    max_party_size: int | Unset = UNSET
    rsvp_deadline: datetime | Unset | None = UNSET
    audience_tags: tuple[str, ...] | Unset = UNSET
    reminder_hours: tuple[int, ...] | Unset = UNSET
    nudge_hours: int | Unset | None = UNSET
    channels: tuple[str, ...] | Unset = UNSET


def clean_channels(channels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Channel names checked, de-duplicated and in Channel's order."""
    known = [str(c) for c in Channel]
    unknown = sorted(set(channels) - set(known))
    if unknown:
        raise ValidationError.field(
            "channels", f"unknown channel {unknown[0]!r}; one of {', '.join(known)}"
        )
    return tuple(c for c in known if c in channels)


def check_time(name: str, moment: datetime) -> None:
    """Refuse a naive time, or one the store cannot keep, naming the field."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError.field(name, "must carry a time zone")
    if not in_years(moment):
        raise ValidationError.field(name, YEARS_TEXT)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError.field(name, "is out of range") from None
    if not in_years(utc):
        raise ValidationError.field(name, YEARS_TEXT)


# Control characters, line breaks included; a NUL in particular reads as the end of the
# text to SQLite's length() and trim().
def clean_tags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Audience tags trimmed, de-duplicated and sorted; an empty tag is refused, since
    dropping it could silently widen the audience to everyone."""
    cleaned: set[str] = set()
    for tag in tags:
        tag = check_text("audience_tags", tag, TAG_MAX)
        if not tag:
            raise ValidationError.field("audience_tags", "tags must not be empty")
        cleaned.add(tag)
    if len(cleaned) > TAGS_MAX:
        raise ValidationError.field("audience_tags", f"at most {TAGS_MAX} tags")
    return tuple(sorted(cleaned))


def _check_hours(name: str, hours: int) -> None:
    # bool is an int to Python, but `true` hours before the start is a mistake.
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ValidationError.field(name, "hours must be whole numbers")
    if not 1 <= hours <= REMINDER_HOURS_MAX:
        raise ValidationError.field(
            name, f"hours must be between 1 and {REMINDER_HOURS_MAX} (30 days)"
        )


def clean_reminder_hours(hours: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Reminder hours checked, de-duplicated and largest first; empty means no reminders."""
    for value in hours:
        _check_hours("reminder_hours", value)
    cleaned = tuple(sorted(set(hours), reverse=True))
    if len(cleaned) > REMINDERS_MAX:
        raise ValidationError.field("reminder_hours", f"at most {REMINDERS_MAX} reminders")
    return cleaned


def _clean(data: EventInput) -> EventInput:
    """`data` checked field by field, with text trimmed; raises a 400 naming the field."""
    try:
        kind = EventKind(data.kind)
    except ValueError:
        raise ValidationError.field("kind", f"unknown kind {data.kind!r}") from None
    title = check_name("title", data.title, TITLE_MAX)
    description = check_text("description", data.description, DESCRIPTION_MAX, multiline=True)
    location = check_text("location", data.location, LOCATION_MAX)
    check_time("starts_at", data.starts_at)
    check_time("ends_at", data.ends_at)
    if data.ends_at <= data.starts_at:
        raise ValidationError.field("ends_at", "must be after starts_at")
    if data.rsvp_deadline is not None:
        check_time("rsvp_deadline", data.rsvp_deadline)
        if data.rsvp_deadline > data.starts_at:
            raise ValidationError.field("rsvp_deadline", "must not be after starts_at")
    if data.capacity is not None and not 0 <= data.capacity <= CAPACITY_MAX:
        raise ValidationError.field("capacity", f"must be between 0 and {CAPACITY_MAX}")
    if not 1 <= data.max_party_size <= PARTY_MAX:
        raise ValidationError.field("max_party_size", f"must be between 1 and {PARTY_MAX}")
    if data.nudge_hours is not None:
        _check_hours("nudge_hours", data.nudge_hours)
    return replace(
        data,
        kind=kind,
        title=title,
        description=description,
        location=location,
        audience_tags=clean_tags(data.audience_tags),
        reminder_hours=clean_reminder_hours(data.reminder_hours),
        channels=clean_channels(data.channels),
    )


async def _room_capacity(tx: Tx, data: EventInput) -> int | None:
    """The event's capacity once its room is known: the room's own when none is given,
    and never more people than the room holds."""
    if data.room_id is None:
        return data.capacity
    room: Room | None = await room_sql.get_room(tx, data.room_id)
    if room is None:
        raise NotFoundError(
            f"room_id: no room {data.room_id}",
            code="room_not_found",
            fields={"room_id": "no such room"},
        )
    if data.capacity is None:
        return room.capacity
    if data.capacity > room.capacity:
        raise ValidationError.field(
            "capacity", f"must not exceed the room's capacity ({room.capacity})"
        )
    return data.capacity


async def _save(tx: Tx, event_id: int | None, data: EventInput, now: datetime) -> Event:
    """Insert (event_id None) or update an event from checked data, tags included."""
    row = sql.EventRow(
        kind=data.kind,
        title=data.title,
        description=data.description,
        location=data.location,
        room_id=data.room_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        capacity=await _room_capacity(tx, data),
        max_party_size=data.max_party_size,
        rsvp_deadline=data.rsvp_deadline,
        reminder_hours=data.reminder_hours,
        nudge_hours=data.nudge_hours,
        channels=data.channels,
    )
    if event_id is None:
        event_id = await sql.insert_event(tx, row, now)
    else:
        await sql.update_event(tx, event_id, row, now)
    await sql.replace_audience_tags(tx, event_id, data.audience_tags)
    saved = await sql.get_event(tx, event_id)
    assert saved is not None
    return saved


async def _hold_room(tx: Tx, event: Event, now: datetime) -> None:
    """Events held in a room reserve it: a published event keeps a confirmed booking over
    its time (in this transaction); a draft, cancelled or roomless one holds nothing. A
    room taken then (buffer included) is 409 slot_taken."""
    try:
        await booking_sql.hold_for_event(
            tx,
            event_id=event.id,
            room_id=event.room_id,
            title=event.title,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            live=event.status is EventStatus.PUBLISHED,
            booked_by="system",
            now=now,
        )
    except SlotTaken:
        raise ConflictError(
            "room_id: the room is booked at that time (buffer included)",
            code="slot_taken",
            fields={"room_id": "booked at that time"},
        ) from None


async def _current(tx: Tx, event_id: int) -> Event:
    found = await sql.get_event(tx, event_id)
    if found is None:
        raise EventNotFoundError(event_id)
    return found


async def create_event(store: Store, data: EventInput, *, now: datetime) -> Event:
    """A new event in draft; its capacity defaults to its room's."""
    checked = _clean(data)
    return await store.write(lambda tx: _save(tx, None, checked, now))


async def get_event(store: Store, event_id: int) -> Event:
    """One event, or 404 event_not_found."""
    found = await sql.get_event(store.reader, event_id)
    if found is None:
        raise EventNotFoundError(event_id)
    return found


async def list_events(
    store: Store,
    *,
    status: list[EventStatus],
    starts_from: datetime | None,
    starts_before: datetime | None,
    limit: int,
    offset: int,
) -> Page[Event]:
    """Events in any of `status` (all when empty) starting in [starts_from, starts_before),
    soonest first, a page at a time."""
    items, total = await sql.search_events(
        store.reader,
        statuses=status,
        starts_from=starts_from,
        starts_before=starts_before,
        limit=limit,
        offset=offset,
    )
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


def _pick(new: T | Unset, old: T) -> T:
    return old if isinstance(new, Unset) else new


def _merged(current: Event, changes: EventChanges) -> EventInput:
    # A capacity left as it is is checked against a new room like a sent one: moving a
    # 40-person event into a 20-person room is refused until a capacity that fits is sent.
    return EventInput(
        kind=_pick(changes.kind, current.kind),
        title=_pick(changes.title, current.title),
        starts_at=_pick(changes.starts_at, current.starts_at),
        ends_at=_pick(changes.ends_at, current.ends_at),
        description=_pick(changes.description, current.description),
        location=_pick(changes.location, current.location),
        room_id=_pick(changes.room_id, current.room_id),
        capacity=_pick(changes.capacity, current.capacity),
        max_party_size=_pick(changes.max_party_size, current.max_party_size),
        rsvp_deadline=_pick(changes.rsvp_deadline, current.rsvp_deadline),
        audience_tags=_pick(changes.audience_tags, current.audience_tags),
        reminder_hours=_pick(changes.reminder_hours, current.reminder_hours),
        nudge_hours=_pick(changes.nudge_hours, current.nudge_hours),
        channels=_pick(changes.channels, current.channels),
    )


async def update_event(
    store: Store,
    event_id: int,
    changes: EventChanges,
    *,
    now: datetime,
    after_promotion: AfterPromotion | None = None,
    after_change: AfterChange | None = None,
) -> Event:
    """Change a draft or published event; the result is checked as a new event would be.
    Seats that a raised (or removed) capacity frees go to the waitlist at once, and
    `after_promotion` queues the notices in the same transaction."""

    async def txn(tx: Tx) -> Event:
        current = await _current(tx, event_id)
        if current.status not in EDITABLE:
            raise ConflictError(
                f"event {event_id} is {current.status}; only draft and published events"
                " can be changed",
                code="event_not_editable",
            )
        saved = await _save(tx, event_id, _clean(_merged(current, changes)), now)
        await _hold_room(tx, saved, now)
        if saved.starts_at != current.starts_at:
            # A moved event is reminded again before its new start (service/domain/reminders.py).
            await reminder_sql.rearm(tx, event_id, saved.starts_at, now)
        # The change is told before the promotions it causes.
        if after_change is not None:
            await after_change(tx, current, saved, now)
        if saved.status is EventStatus.PUBLISHED:
            promoted = await promote(tx, saved, now)
            if promoted and after_promotion is not None:
                await after_promotion(tx, saved, promoted, now)
        return saved

    return await store.write(txn)


def _illegal(event: Event, action: str) -> ConflictError:
    return ConflictError(
        f"event {event.id} is {event.status} and cannot be {action}", code="illegal_transition"
    )


async def publish_event(
    store: Store, event_id: int, *, now: datetime, after_change: AfterChange | None = None
) -> Event:
    """Draft → published. Publishing a published event again returns it unchanged (a
    repeated command, e.g. a retried request, is not an error); cancelled and finished
    events are 409 illegal_transition, and an event that has started 409 event_started."""

    async def txn(tx: Tx) -> Event:
        current = await _current(tx, event_id)
        if current.status is EventStatus.PUBLISHED:
            return current
        if current.status is not EventStatus.DRAFT:
            raise _illegal(current, "published")
        if current.starts_at <= now:
            raise ConflictError(
                f"event {event_id} has already started; change its times before publishing",
                code="event_started",
            )
        await sql.mark_published(tx, event_id, now)
        published = await _current(tx, event_id)
        await _hold_room(tx, published, now)
        if after_change is not None:
            await after_change(tx, current, published, now)
        return published

    return await store.write(txn)


async def cancel_event(
    store: Store, event_id: int, *, now: datetime, after_change: AfterChange | None = None
) -> Event:
    """Draft or published → cancelled; cancelling again returns it unchanged; a finished
    event is 409 illegal_transition."""

    async def txn(tx: Tx) -> Event:
        current = await _current(tx, event_id)
        if current.status is EventStatus.CANCELLED:
            return current
        if current.status not in EDITABLE:
            raise _illegal(current, "cancelled")
        await sql.mark_cancelled(tx, event_id, now)
        cancelled = await _current(tx, event_id)
        await _hold_room(tx, cancelled, now)
        if after_change is not None:
            await after_change(tx, current, cancelled, now)
        return cancelled

    return await store.write(txn)


async def finish_ended_events(store: Store, *, now: datetime) -> int:
    """Published events that have ended become finished; returns how many. Drafts stay
    drafts: they never happened."""
    return await store.write(lambda tx: sql.finish_ended(tx, now))

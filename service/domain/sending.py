"""Sending an event's messages: invitations to its audience, updates, reminders and
cancellations to its invitees, and a preview of any one of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Final

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.extras import Extras
from ..core.models import (
    Channel,
    Event,
    EventStatus,
    GroupChannel,
    MessageKind,
    MessageStatus,
    SendReport,
)
from ..messages.compose import Composer
from ..messages.plan import Batch, invited_to, overrides_of, render, room_name_of
from ..messages.sms_length import SmsLength, sms_length
from ..messages.stencil import Stencils
from ..store import Store, Tx
from ..store import outbox as sql
from ..store import recipients as recipients_sql
from ..store import templates as templates_sql
from ..store.outbox import NewMessage
from ..store.recipients import Recipient
from . import events
from .chat_groups import post_to_groups
from .events import AfterChange, get_event

CHANNELS: Final = tuple(channel.value for channel in Channel)
# Every channel a message of an event may go on: residents' own, then group robots'.
ALL_CHANNELS: Final = (*CHANNELS, *(channel.value for channel in GroupChannel))
# Kinds an organiser sends with /notify; invitations go out with /send.
NOTIFY_KINDS: Final = (MessageKind.UPDATE, MessageKind.CANCELLATION, MessageKind.REMINDER)
# Which answers each /notify audience reaches.
AUDIENCES: Final[Mapping[str, tuple[str, ...] | None]] = {
    "invited": None,
    "yes": ("yes",),
    "attending": ("yes", "maybe", "waitlisted"),
}


async def send_event(
    store: Store,
    composer: Composer,
    event_id: int,
    *,
    now: datetime,
    batch: int = 500,
    only: Sequence[int] | None = None,
    groups: bool = False,
    personal: bool = True,
) -> SendReport:
    """Invite the event's audience: one invitation and one queued message per resident not
    invited before, on their first usable channel. Streams residents `batch` at a time,
    each batch one transaction, so memory stays flat however large the audience. `only`:
    of the audience, just these residents (a meeting's supporters, invited first). With
    `groups`, the audience's group chats get one post each (once, however often the event
    is sent); without `personal`, only they do, and nobody is invited personally."""
    event = await get_event(store, event_id)
    if event.status is not EventStatus.PUBLISHED:
        raise ConflictError(
            f"event {event_id} is {event.status}; only a published event can be sent",
            code="event_not_published",
        )
    counter = _Counter(event_id, MessageKind.INVITATION)
    if groups:
        counter.posted(
            await post_to_groups(
                store, composer, event, MessageKind.INVITATION, note="", urgent=False, now=now
            )
        )
    if not personal:
        return counter.report()
    room = await room_name_of(store.reader, event)
    overrides = await overrides_of(store.reader, event_id)
    batch_of = Batch(
        composer, event, room, MessageKind.INVITATION, overrides, note="", urgent=False, now=now
    )
    stencils = Stencils(composer.renderer)
    after = 0
    while True:
        people = await recipients_sql.audience_batch(
            store.reader, tags=event.audience_tags, after_id=after, limit=batch, only=only
        )
        if not people:
            break
        after = people[-1].id
        known = await recipients_sql.invited_residents(
            store.reader, event_id, [p.id for p in people]
        )
        fresh = [p for p in people if p.id not in known]
        counter.already_invited += len(people) - len(fresh)
        contacts = await recipients_sql.contacts_of(store.reader, [p.id for p in fresh])
        composed = await batch_of.to_invitees(
            [(person, contacts[person.id]) for person in fresh], stencils
        )
        planned = list(zip(fresh, composed, strict=True))
        await store.write(
            partial(_invite, event_id=event_id, planned=planned, counter=counter, now=now)
        )
    return counter.report()


@dataclass
class _Counter:
    event_id: int
    kind: MessageKind
    invited: int = 0
    already_invited: int = 0
    queued: int = 0
    suppressed: int = 0
    unreachable: int = 0

    def __post_init__(self) -> None:
        self.by_channel: dict[str, int] = {}
        self.group_posts = 0

    def posted(self, posts: Sequence[NewMessage]) -> None:
        self.group_posts += len(posts)
        for post in posts:
            self.by_channel[post.channel] = self.by_channel.get(post.channel, 0) + 1

    def count(self, message: NewMessage | None) -> None:
        if message is None:
            self.unreachable += 1
        elif message.status is MessageStatus.SUPPRESSED:
            self.suppressed += 1
        else:
            self.queued += 1
            self.by_channel[message.channel] = self.by_channel.get(message.channel, 0) + 1

    def report(self) -> SendReport:
        return SendReport(
            event_id=self.event_id,
            kind=self.kind,
            invited=self.invited,
            already_invited=self.already_invited,
            queued=self.queued,
            suppressed=self.suppressed,
            unreachable=self.unreachable,
            by_channel=dict(sorted(self.by_channel.items())),
            group_posts=self.group_posts,
        )


async def _invite(
    tx: Tx,
    event_id: int,
    planned: list[tuple[Recipient, NewMessage | None]],
    counter: _Counter,
    now: datetime,
) -> None:
    rows: list[NewMessage] = []
    invitation_ids: list[int] = []
    # The one writer runs this job alone, so the check and the insert cannot interleave
    # with a concurrent send of the same event.
    created = await recipients_sql.insert_invitations(tx, event_id, [p.id for p, _ in planned], now)
    for person, message in planned:
        invitation_id = created.get(person.id)
        if invitation_id is None:  # invited meanwhile by a concurrent send
            counter.already_invited += 1
            continue
        counter.invited += 1
        counter.count(message)
        if message is not None:
            rows.append(message)
            invitation_ids.append(invitation_id)
    # The ids go beside the rows: a copy of each frozen row cost more than its insert.
    await sql.insert_messages(tx, rows, now, invitation_ids=invitation_ids)


async def notify_event(
    store: Store,
    composer: Composer,
    event_id: int,
    *,
    kind: MessageKind,
    audience: str,
    note: str,
    urgent: bool,
    now: datetime,
    batch: int = 500,
    groups: bool = False,
    personal: bool = True,
) -> SendReport:
    """Send an update, reminder or cancellation to the event's invitees (all of them, or
    only those who said yes, or everyone still coming); with `groups`, post it to the
    audience's group chats too, and without `personal` only there."""
    if kind not in NOTIFY_KINDS:
        raise ValidationError.field("kind", f"must be one of {', '.join(NOTIFY_KINDS)}")
    if audience not in AUDIENCES:
        raise ValidationError.field("audience", f"must be one of {', '.join(AUDIENCES)}")
    event = await get_event(store, event_id)
    if kind is MessageKind.CANCELLATION and event.status is not EventStatus.CANCELLED:
        raise ConflictError(
            f"event {event_id} is {event.status}; cancel it before sending a cancellation",
            code="event_not_cancelled",
        )
    if kind is not MessageKind.CANCELLATION and event.status is not EventStatus.PUBLISHED:
        raise ConflictError(
            f"event {event_id} is {event.status}; only a published event takes {kind}s",
            code="event_not_published",
        )
    counter = _Counter(event_id, kind)
    if groups:
        counter.posted(
            await post_to_groups(store, composer, event, kind, note=note, urgent=urgent, now=now)
        )
    if not personal:
        return counter.report()
    async for composed in messages_to_invitees(
        store,
        composer,
        event,
        kind,
        answers=AUDIENCES[audience],
        note=note,
        urgent=urgent,
        now=now,
        batch=batch,
    ):
        rows: list[NewMessage] = []
        for message in composed:
            counter.invited += 1
            if message is not None:
                rows.append(message)
            counter.count(message)
        await store.write(partial(sql.insert_messages, messages=rows, now=now))
    return counter.report()


async def cancel_event(
    store: Store,
    composer: Composer,
    event_id: int,
    *,
    notify: bool,
    now: datetime,
    after_change: AfterChange | None = None,
    batch: int = 500,
    groups: bool = False,
) -> tuple[Event, SendReport | None]:
    """Cancel the event and, with `notify`, send everyone invited the cancellation message
    through the outbox. Only the call that cancels it notifies: cancelling again (a retried
    request) returns the event unchanged and tells no one twice."""
    before = await get_event(store, event_id)
    cancelled = await events.cancel_event(store, event_id, now=now, after_change=after_change)
    if not notify or before.status is EventStatus.CANCELLED:
        return cancelled, None
    report = await notify_event(
        store,
        composer,
        event_id,
        kind=MessageKind.CANCELLATION,
        audience="invited",
        note="",
        urgent=False,
        now=now,
        batch=batch,
        groups=groups,
    )
    return cancelled, report


async def messages_to_invitees(
    store: Store,
    composer: Composer,
    event: Event,
    kind: MessageKind,
    *,
    answers: Sequence[str] | None,
    note: str,
    urgent: bool,
    now: datetime,
    batch: int,
    invited_by: datetime | None = None,
) -> AsyncIterator[list[NewMessage | None]]:
    """The event's invitees (by answer, invited by a time) a batch at a time, each as the
    message composed for them, or None when they have no usable contact."""
    room = await room_name_of(store.reader, event)
    overrides = await overrides_of(store.reader, event.id)
    batch_of = Batch(composer, event, room, kind, overrides, note=note, urgent=urgent, now=now)
    stencils = Stencils(composer.renderer)
    after = 0
    while True:
        people = await recipients_sql.invitees_batch(
            store.reader,
            event.id,
            answers=answers,
            after_id=after,
            limit=batch,
            invited_by=invited_by,
        )
        if not people:
            return
        after = people[-1].invitation_id or after
        contacts = await recipients_sql.contacts_of(store.reader, [p.id for p in people])
        yield await batch_of.to_invitees(
            [(person, contacts[person.id]) for person in people], stencils
        )


@dataclass(frozen=True)
class Preview:
    """A message as it would be sent, without sending it."""

    kind: str
    channel: str
    language: str
    address: str | None
    subject: str
    text: str
    html: str | None
    payload: dict[str, Any] | None
    extra: Extras
    sms: SmsLength | None


async def preview(
    store: Store,
    composer: Composer,
    event_id: int,
    resident_id: int,
    *,
    kind: MessageKind,
    channel: str,
    note: str = "",
    urgent: bool = False,
) -> Preview:
    """Render a message for one resident exactly as sending would, writing nothing."""
    if channel not in CHANNELS:
        raise ValidationError.field("channel", f"must be one of {', '.join(CHANNELS)}")
    event = await get_event(store, event_id)
    if kind == MessageKind.BOOKING_CONFIRMATION and event.room_id is None:
        # It would say "your room is booked" for a booking that does not exist.
        raise ValidationError.field(
            "kind",
            "a booking confirmation is about a room, and this event books none",
            code="event_has_no_room",
        )
    person = await recipients_sql.recipient(store.reader, resident_id, invited_to(kind, event_id))
    if person is None:
        raise NotFoundError(f"no resident {resident_id}", code="resident_not_found")
    contacts = (await recipients_sql.contacts_of(store.reader, [resident_id]))[resident_id]
    contact = next((c for c in contacts if c.channel == channel), None)
    override = await templates_sql.template_override(
        store.reader, event_id, str(kind), channel, person.language
    )
    rendered, extra = await render(
        composer,
        event,
        await room_name_of(store.reader, event),
        person,
        kind,
        channel,
        contact=contact,
        note=note,
        urgent=urgent,
        override=override,
    )
    return Preview(
        kind=str(kind),
        channel=channel,
        language=person.language,
        address=None if contact is None else contact.address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        payload=rendered.payload,
        extra=extra,
        sms=sms_length(rendered.text) if channel == "sms" else None,
    )

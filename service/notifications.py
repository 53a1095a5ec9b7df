"""Notifications: turning an event and its audience into rendered outbox messages, and
what happens to them afterwards (delivery reports, retries, opt-outs)."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from . import calendar, render
from .core.phrases import Text
from .errors import ConflictError, NotFoundError, ValidationError
from .events import event_code, get_event
from .i18n import date_text, time_text
from .links import Links, button_data
from .models import (
    Event,
    EventStatus,
    Message,
    MessageKind,
    MessageStatus,
    Page,
    SendReport,
    TemplateOverride,
)
from .privacy import mask_address
from .quiet import QuietHours
from .render import Rendered, Renderer
from .sandbox import Job, TemplateSandbox
from .settings import Settings
from .sms_length import SmsLength, sms_length
from .stencil import Stencils
from .store import Db, Store, Tx
from .store import outbox as sql
from .store import rooms as room_sql
from .store.outbox import NewMessage, Reach, Recipient

CHANNELS: Final = render.CHANNELS
# Kinds an organiser sends with /notify; invitations go out with /send.
NOTIFY_KINDS: Final = (MessageKind.UPDATE, MessageKind.CANCELLATION, MessageKind.REMINDER)
# Which answers each /notify audience reaches.
AUDIENCES: Final[Mapping[str, tuple[str, ...] | None]] = {
    "invited": None,
    "yes": ("yes",),
    "attending": ("yes", "maybe", "waitlisted"),
}
# Final statuses a delivery report may still move a message between, and their order.
log = logging.getLogger("linli.notifications")
_REPORT_ORDER: Final = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3}
# Renders between two turns of the event loop while a batch is composed (see _breathe).
_RENDER_SLICE: Final = 25
# ... or once this long has passed since the loop last ran (see _breathe).
_RENDER_TURN_S: Final = 0.02
_turn: ContextVar[float] = ContextVar("render_turn", default=0.0)


@functools.lru_cache(maxsize=32)
def _invitation_frame(
    event: Event,
    room_name: str | None,
    method: str,
    organizer_email: str,
    organizer_name: str,
    uid_domain: str,
) -> calendar.InvitationFrame:
    """The calendar every invitation of one send shares; the event's `updated_at` is its
    DTSTAMP, so a changed event is a different key."""
    return calendar.invitation_frame(
        event,
        organizer_email=organizer_email,
        organizer_name=organizer_name,
        uid_domain=uid_domain,
        now=event.updated_at,
        method=method,
        room_name=room_name,
    )


@functools.lru_cache(maxsize=64)
def _event_part(event: Event, room_name: str | None, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """The context's "event" for one language: the same for every resident, so a send of
    thousands formats its dates once (a changed event is a different key)."""
    starts, ends = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    return {
        "id": event.id,
        "code": event_code(event.id),
        "title": event.title,
        "description": event.description,
        "kind": str(event.kind),
        "location": event.location or room_name or "",
        "starts_at": starts,
        "ends_at": ends,
        "start_text": date_text(starts, lang),
        "end_text": time_text(ends) if starts.date() == ends.date() else date_text(ends, lang),
        "date_text": date_text(starts, lang),
        "rsvp_deadline": None
        if event.rsvp_deadline is None
        else event.rsvp_deadline.astimezone(tz),
        "capacity": event.capacity,
        "max_party_size": event.max_party_size,
    }


def new_uid() -> str:
    """A message id: no dots (Standard Webhooks), 96 random bits."""
    return f"msg_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Composer:
    """Everything needed to render a message for one resident on one channel."""

    renderer: Renderer
    links: Links
    settings: Settings
    quiet: QuietHours
    usable: frozenset[str]
    # Where organisers' overrides render (service/sandbox.py); the shipped templates
    # render in-process with `renderer`. Without one, a message with an override fails.
    sandbox: TemplateSandbox | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        key: bytes,
        renderer: Renderer,
        usable: frozenset[str],
        stand_ins: frozenset[str] = frozenset(),
        sandbox: TemplateSandbox | None = None,
    ) -> Composer:
        """A composer for this server's settings and secret. Channels in `stand_ins` go to
        the file channel, which wakes nobody, so quiet hours do not hold them back."""
        delivery = settings.delivery
        quiet_channels = tuple(c for c in delivery.quiet_channels if c not in stand_ins)
        quiet = QuietHours.from_settings(
            delivery.quiet_start, delivery.quiet_end, quiet_channels, settings.tz
        )
        return cls(renderer, Links(key, settings.public_url), settings, quiet, usable, sandbox)

    def overrides(self) -> TemplateSandbox:
        """The sandbox that renders overrides; never the event loop."""
        if self.sandbox is None:
            raise RuntimeError("a template override needs the template sandbox")
        return self.sandbox

    def context(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        *,
        contact: Reach | None,
        note: str,
        urgent: bool,
    ) -> dict[str, Any]:
        """The template context (see service/render.py for its keys)."""
        lang = person.language
        page = self.links.rsvp(event.id, person.id)
        context: dict[str, Any] = {
            "community": {"name": self.settings.community.name},
            "resident": {
                "id": person.id,
                "name": person.name,
                "language": lang,
                "unit": person.unit,
            },
            # A copy: the part is shared by every message of the event in this language.
            "event": dict(_event_part(event, room_name, lang, self.settings.tz)),
            "links": {
                "rsvp": page,
                "unsubscribe": None if contact is None else self.links.unsubscribe(contact.id),
                "calendar": self.links.calendar(page),
                "actions": self.links.actions(page),
            },
            "message": {"kind": str(kind), "urgent": urgent, "note": note},
        }
        if person.answer is not None:
            context["rsvp"] = {"answer": person.answer, "party_size": person.party_size}
            if person.checkin_code is not None:
                context["rsvp"]["checkin_code"] = person.checkin_code
        return context

    async def render(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        channel: str,
        *,
        contact: Reach | None,
        note: str,
        urgent: bool,
        override: str | None,
    ) -> tuple[Rendered, dict[str, Any]]:
        """The rendered message and its channel extras (calendar, buttons …); an override
        renders in the sandbox."""
        context = self.context(
            event, room_name, person, kind, contact=contact, note=note, urgent=urgent
        )
        if override is None:
            rendered = self.renderer.render(str(kind), channel, person.language, context)
        else:
            rendered = await self.overrides().render(
                str(kind), channel, person.language, context, override
            )
        return rendered, self.extra(event, room_name, person, kind, channel, context, contact)

    def extra(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        channel: str,
        context: Mapping[str, Any],
        contact: Reach | None,
    ) -> dict[str, Any]:
        """A message's channel extras (calendar, buttons, links) beside its text."""
        extra = self.channel_extra(
            channel, context["links"]["rsvp"], context["links"]["unsubscribe"]
        )
        if channel == "email":
            if contact is not None:
                extra["ics"] = self._ics(event, room_name, person, kind, contact)
            # A yes confirmation's HTML shows the door code's QR; the channel attaches it.
            yes = kind is MessageKind.RSVP_CONFIRMATION and person.answer == "yes"
            if yes and person.checkin_code is not None:
                extra["checkin_qr"] = person.checkin_code
        elif channel == "telegram" and kind in (
            MessageKind.INVITATION,
            MessageKind.REMINDER,
            MessageKind.UPDATE,
        ):
            said = Text(person.language)
            key = self.links.key
            extra["buttons"] = [
                [
                    {
                        "text": said(f"telegram_bot.button_{a}"),
                        "callback_data": button_data(key, event.id, person.id, a),
                    }
                    for a in ("y", "n", "m")
                ],
                [
                    {
                        "text": said("telegram_bot.button_p"),
                        "callback_data": button_data(key, event.id, person.id, "p"),
                    }
                ],
            ]
        return extra

    def channel_extra(self, channel: str, page: str, unsubscribe_url: str | None) -> dict[str, Any]:
        """What every message's channel needs beside its text: the resident's page, the
        email's one-click unsubscribe, Twilio's status callback. (A webhook's body is its
        text, stored once.)"""
        extra: dict[str, Any] = {"rsvp_url": page}
        if channel == "email" and unsubscribe_url is not None:
            extra["unsubscribe_url"] = unsubscribe_url
        elif channel == "sms" and self.settings.channels.sms.provider == "twilio":
            extra["status_callback"] = self.links.sms_status_callback()
        return extra

    def _ics(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
    ) -> str:
        email = self.settings.channels.email
        cancelled = kind is MessageKind.CANCELLATION or event.status is EventStatus.CANCELLED
        frame = _invitation_frame(
            event,
            room_name,
            "CANCEL" if cancelled else "REQUEST",
            email.from_address,
            email.from_name or self.settings.community.name,
            urlsplit(self.settings.public_url).hostname or "localhost",
        )
        return frame.invitation(contact.address, person.name)

    async def message(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
        *,
        group_uid: str | None,
        invitation_id: int | None,
        note: str,
        urgent: bool,
        override: str | None,
        suppressed: bool,
        now: datetime,
    ) -> NewMessage:
        """An outbox row for `person` through `contact`."""
        rendered, extra = await self.render(
            event,
            room_name,
            person,
            kind,
            contact.channel,
            contact=contact,
            note=note,
            urgent=urgent,
            override=override,
        )
        return self.row(
            event,
            person,
            kind,
            contact,
            rendered,
            extra,
            group_uid=group_uid,
            invitation_id=invitation_id,
            note=note,
            urgent=urgent,
            suppressed=suppressed,
            now=now,
        )

    def row(
        self,
        event: Event,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
        rendered: Rendered,
        extra: dict[str, Any],
        *,
        group_uid: str | None,
        invitation_id: int | None,
        note: str,
        urgent: bool,
        suppressed: bool,
        now: datetime,
    ) -> NewMessage:
        """The outbox row of a rendered message."""
        uid = new_uid()
        return NewMessage(
            uid=uid,
            group_uid=group_uid or uid,
            event_id=event.id,
            invitation_id=invitation_id,
            resident_id=person.id,
            contact_id=contact.id,
            kind=str(kind),
            channel=contact.channel,
            address=contact.address,
            language=person.language,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            extra=extra,
            note=note,
            urgent=urgent,
            status="suppressed" if suppressed else "queued",
            send_after=self.quiet.next_allowed(now, contact.channel, urgent=urgent),
            expires_at=expiry(event, kind),
        )

    def usable_for(self, event: Event) -> frozenset[str]:
        """The channels this event's messages may go on: configured, and among the event's
        own channels when it names any."""
        return self.usable & frozenset(event.channels) if event.channels else self.usable

    def to_invitee_waiting(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        contacts: list[Reach],
        overrides: Mapping[tuple[str, str, str], str],
        *,
        note: str,
        urgent: bool,
        now: datetime,
    ) -> NewMessage | None:
        """An outbox row for an invitee on their first usable contact, with the event's
        template override; None when they have no usable contact. For a write job, which
        runs on the store's writer thread and cannot await: an override's round trip to
        the sandbox runs on the event loop while this thread waits."""
        plan = self._plan(event, room_name, person, contacts, kind, overrides, note, urgent)
        plans = [plan]
        jobs = _jobs(plans)
        if jobs:
            plans = _filled(plans, kind, self.overrides().render_waiting(jobs))
        (row,) = self._rows(event, room_name, kind, plans, note=note, urgent=urgent, now=now)
        return row

    async def to_invitees(
        self,
        event: Event,
        room_name: str | None,
        people: Sequence[tuple[Recipient, list[Reach]]],
        kind: MessageKind,
        overrides: Mapping[tuple[str, str, str], str],
        *,
        note: str,
        urgent: bool,
        now: datetime,
        stencils: Stencils | None = None,
    ) -> list[NewMessage | None]:
        """An outbox row for each invitee on their first usable contact (None when they
        have none), with the event's template overrides: the shipped templates render
        here through `stencils`, the overrides in the sandbox, a batch a round trip."""
        plans: list[_Plan | None] = []
        for n, (person, contacts) in enumerate(people, start=1):
            plans.append(
                self._plan(
                    event, room_name, person, contacts, kind, overrides, note, urgent, stencils
                )
            )
            await _breathe(n)
        jobs = _jobs(plans)
        if jobs:
            plans = _filled(plans, kind, await self.overrides().render_many(jobs))
        return self._rows(event, room_name, kind, plans, note=note, urgent=urgent, now=now)

    def _plan(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        contacts: list[Reach],
        kind: MessageKind,
        overrides: Mapping[tuple[str, str, str], str],
        note: str,
        urgent: bool,
        stencils: Stencils | None = None,
    ) -> _Plan | None:
        """A message's contact and context, rendered when it uses a shipped template, or
        its sandbox job when it uses an override; None without a usable contact."""
        contact, suppressed = pick_contact(contacts, self.usable_for(event))
        if contact is None:
            return None
        context = self.context(
            event, room_name, person, kind, contact=contact, note=note, urgent=urgent
        )
        override = overrides.get((str(kind), contact.channel, person.language))
        rendered: Rendered | Job
        if override is None:
            rendered = (stencils or self.renderer).render(
                str(kind), contact.channel, person.language, context
            )
        else:
            rendered = Job(str(kind), contact.channel, person.language, override, context)
        return _Plan(person, contact, suppressed, context, rendered)

    def _rows(
        self,
        event: Event,
        room_name: str | None,
        kind: MessageKind,
        plans: Sequence[_Plan | None],
        *,
        note: str,
        urgent: bool,
        now: datetime,
    ) -> list[NewMessage | None]:
        rows: list[NewMessage | None] = []
        for plan in plans:
            if plan is None:
                rows.append(None)
                continue
            assert isinstance(plan.rendered, Rendered)
            channel = plan.contact.channel
            extra = self.extra(
                event, room_name, plan.person, kind, channel, plan.context, plan.contact
            )
            rows.append(
                self.row(
                    event,
                    plan.person,
                    kind,
                    plan.contact,
                    plan.rendered,
                    extra,
                    group_uid=None,
                    invitation_id=plan.person.invitation_id,
                    note=note,
                    urgent=urgent,
                    suppressed=plan.suppressed,
                    now=now,
                )
            )
        return rows


@dataclass(frozen=True)
class _Plan:
    """One invitee's message before its row is made: rendered, or a job for the sandbox."""

    person: Recipient
    contact: Reach
    suppressed: bool
    context: dict[str, Any]
    rendered: Rendered | Job


def _jobs(plans: Sequence[_Plan | None]) -> list[Job]:
    return [p.rendered for p in plans if p is not None and isinstance(p.rendered, Job)]


def _filled(
    plans: Sequence[_Plan | None],
    kind: MessageKind,
    results: Sequence[Rendered | ValidationError],
) -> list[_Plan | None]:
    """The plans with the sandbox's results in place of their jobs, in order; the first
    error raised, saying whose message it was."""
    found = iter(results)
    filled: list[_Plan | None] = []
    for plan in plans:
        if plan is None or not isinstance(plan.rendered, Job):
            filled.append(plan)
            continue
        result = next(found)
        if isinstance(result, ValidationError):
            # The override passed its check on sample values and failed on this
            # resident's own (a name too short to divide by): say whose, so the
            # organiser can find it.
            where = f" (the {kind} {plan.contact.channel} {plan.person.language} template,"
            raise type(result)(
                f"{result.message}{where} for resident {plan.person.id})",
                code=result.code,
                fields=result.fields,
            )
        filled.append(replace(plan, rendered=result))
    return filled


def expiry(event: Event, kind: MessageKind) -> datetime | None:
    """When a message stops being worth sending: an invitation once its event starts."""
    if kind in (MessageKind.INVITATION, MessageKind.REMINDER, MessageKind.CANCELLATION):
        return event.starts_at
    if kind is MessageKind.UPDATE:
        return event.ends_at
    return None


def pick_contact(
    contacts: list[Reach], usable: frozenset[str], tried: frozenset[str] | set[str] = frozenset()
) -> tuple[Reach | None, bool]:
    """The first contact in the resident's order on a usable channel not tried yet, and
    whether it is only there to record a suppression (every such contact opted out)."""
    blocked: Reach | None = None
    for contact in contacts:
        if contact.channel not in usable or contact.channel in tried:
            continue
        if contact.opted_out or contact.disabled:
            blocked = blocked or contact
            continue
        return contact, False
    return blocked, blocked is not None


async def room_name_of(db: Db, event: Event) -> str | None:
    if event.room_id is None:
        return None
    room = await room_sql.get_room(db, event.room_id)
    return None if room is None else room.name


async def overrides_of(db: Db, event_id: int) -> dict[tuple[str, str, str], str]:
    return {
        (kind, channel, language): source
        for kind, channel, language, source, _ in await sql.template_overrides(db, event_id)
    }


async def _breathe(rendered: int) -> None:
    """Let the event loop run after every _RENDER_SLICE renders of a batch, or sooner
    once _RENDER_TURN_S has passed since it last ran."""
    # A batch of 500 renders holds the loop for about 50 ms: without a pause the worker's
    # connections sit idle that long, each waiting for its reply to be read. (Overrides
    # render in the sandbox process, off the loop.)
    now = time.monotonic()
    if rendered % _RENDER_SLICE == 0 or now - _turn.get() > _RENDER_TURN_S:
        await asyncio.sleep(0)
        _turn.set(time.monotonic())


async def send_event(
    store: Store, composer: Composer, event_id: int, *, now: datetime, batch: int = 500
) -> SendReport:
    """Invite the event's audience: one invitation and one queued message per resident not
    invited before, on their first usable channel. Streams residents `batch` at a time,
    each batch one transaction, so memory stays flat however large the audience."""
    event = await get_event(store, event_id)
    if event.status is not EventStatus.PUBLISHED:
        raise ConflictError(
            f"event {event_id} is {event.status}; only a published event can be sent",
            code="event_not_published",
        )
    room = await room_name_of(store.reader, event)
    overrides = await overrides_of(store.reader, event_id)
    counter = _Counter(event_id, MessageKind.INVITATION)
    stencils = Stencils(composer.renderer)
    after = 0
    while True:
        people = await sql.audience_batch(
            store.reader, tags=event.audience_tags, after_id=after, limit=batch
        )
        if not people:
            break
        after = people[-1].id
        known = await sql.invited_residents(store.reader, event_id, [p.id for p in people])
        fresh = [p for p in people if p.id not in known]
        counter.already_invited += len(people) - len(fresh)
        contacts = await sql.contacts_of(store.reader, [p.id for p in fresh])
        composed = await composer.to_invitees(
            event,
            room,
            [(person, contacts[person.id]) for person in fresh],
            MessageKind.INVITATION,
            overrides,
            note="",
            urgent=False,
            now=now,
            stencils=stencils,
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

    def count(self, message: NewMessage | None) -> None:
        if message is None:
            self.unreachable += 1
        elif message.status == "suppressed":
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
    created = await sql.insert_invitations(tx, event_id, [p.id for p, _ in planned], now)
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
) -> SendReport:
    """Send an update, reminder or cancellation to the event's invitees (all of them, or
    only those who said yes, or everyone still coming)."""
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
    stencils = Stencils(composer.renderer)
    after = 0
    while True:
        people = await sql.invitees_batch(
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
        contacts = await sql.contacts_of(store.reader, [p.id for p in people])
        yield await composer.to_invitees(
            event,
            room,
            [(person, contacts[person.id]) for person in people],
            kind,
            overrides,
            note=note,
            urgent=urgent,
            now=now,
            stencils=stencils,
        )


async def fallback(
    store: Store, composer: Composer, message: Message, *, now: datetime
) -> NewMessage | None:
    """The same notification on the resident's next usable channel not tried yet (each
    channel once), rendered afresh for that channel; None when none is left."""
    if message.resident_id is None or message.event_id is None:
        return None
    event = await get_event(store, message.event_id)
    # Built as the send built it: a reminder falling back keeps its party and door code.
    person = await sql.recipient(
        store.reader, message.resident_id, _invited_to(message.kind, message.event_id)
    )
    if person is None:
        return None
    tried = await sql.group_channels(store.reader, message.group_uid)
    contacts = (await sql.contacts_of(store.reader, [person.id]))[person.id]
    contact, suppressed = pick_contact(contacts, composer.usable_for(event), tried)
    if contact is None or suppressed:
        return None
    overrides = await overrides_of(store.reader, event.id)
    return await composer.message(
        event,
        await room_name_of(store.reader, event),
        person,
        message.kind,
        contact,
        group_uid=message.group_uid,
        invitation_id=message.invitation_id,
        note=message.note,
        urgent=message.urgent,
        override=overrides.get((str(message.kind), contact.channel, person.language)),
        suppressed=False,
        now=now,
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
    extra: dict[str, Any]
    sms: SmsLength | None


def _invited_to(kind: MessageKind, event_id: int | None) -> int | None:
    """The event whose invitation shapes the recipient of a `kind` message, as a send
    builds it: none for an invitation, which goes out before any answer; the others carry
    the resident's answer, party size and door code."""
    return None if kind is MessageKind.INVITATION else event_id


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
    person = await sql.recipient(store.reader, resident_id, _invited_to(kind, event_id))
    if person is None:
        raise NotFoundError(f"no resident {resident_id}", code="resident_not_found")
    contacts = (await sql.contacts_of(store.reader, [resident_id]))[resident_id]
    contact = next((c for c in contacts if c.channel == channel), None)
    override = await sql.template_override(
        store.reader, event_id, str(kind), channel, person.language
    )
    rendered, extra = await composer.render(
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
        extra={k: v for k, v in extra.items() if k != "payload"},
        sms=sms_length(rendered.text) if channel == "sms" else None,
    )


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
) -> Deliveries:
    """Counts and a page of an event's messages, newest first, with their attempts."""
    await get_event(store, event_id)
    by_status, by_channel = await _tally(store.reader, event_id)
    items, total = await sql.list_messages(
        store.reader, event_id=event_id, status=status, channel=channel, limit=limit, offset=offset
    )
    return Deliveries(
        event_id=event_id,
        by_status=by_status,
        by_channel=by_channel,
        messages=Page(items=tuple(items), total=total, limit=limit, offset=offset),
    )


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
        return self.by_status["queued"] + self.by_status["sending"]

    @property
    def percent(self) -> int:
        """Share of messages done, rounded down (100 only when nothing waits)."""
        return 100 if not self.total else (self.total - self.waiting) * 100 // self.total


async def send_progress(
    store: Store, event_id: int, kind: MessageKind = MessageKind.INVITATION
) -> SendProgress:
    """Counts of an event's messages of one kind (its invitations, by default)."""
    await get_event(store, event_id)
    by_status, by_channel = await _tally(store.reader, event_id, str(kind))
    return SendProgress(event_id, str(kind), by_status, by_channel)


async def _tally(
    db: Db, event_id: int, kind: str | None = None
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """An event's messages (of one kind, if given) counted by status, and by channel."""
    by_status: dict[str, int] = {s.value: 0 for s in MessageStatus}
    by_channel: dict[str, dict[str, int]] = {}
    for st, ch, n in await sql.counts(db, event_id, kind):
        by_status[st] = by_status.get(st, 0) + n
        by_channel.setdefault(ch, {})[st] = n
    return by_status, by_channel


async def record_report(
    store: Store,
    channel: str,
    provider_id: str,
    status: str,
    *,
    error: str | None,
    now: datetime,
    composer: Composer | None = None,
) -> bool:
    """Apply a provider's delivery report; reports arrive out of order and twice, so a
    message only ever moves forward, and never out of delivered or failed. A report of
    failure is a permanent failure told late: with a `composer`, the message falls back to
    the resident's next channel, as the worker does when a send fails. True when the
    report moved a message."""

    async def txn(tx: Tx) -> int | None:
        found = await sql.by_provider_id(tx, channel, provider_id)
        if found is None:
            return None
        message_id, current = found
        if current in ("delivered", "failed", "suppressed", "expired"):
            return None
        if _REPORT_ORDER.get(status, -1) <= _REPORT_ORDER.get(current, 99):
            return None
        await sql.set_status(tx, message_id, status, error, now)
        return message_id

    moved = await store.write(txn)
    if moved is None:
        return False
    if status == "failed" and composer is not None:
        # Only the report that moved it here gets this far: a repeat falls back no more.
        message = await sql.get_message(store.reader, moved)
        try:
            backup = None if message is None else await fallback(store, composer, message, now=now)
        except ValidationError as exc:  # an override failing on this resident's values
            log.warning("message %s failed; no fallback: %s", moved, exc.message)
            return True
        if backup is not None:
            await store.write(partial(_queue_backup, backup=backup, now=now))
    return True


async def _queue_backup(tx: Tx, *, backup: NewMessage, now: datetime) -> None:
    await sql.insert_messages(tx, [backup], now)


async def retry_message(store: Store, message_id: int, *, now: datetime) -> Message:
    """Queue a failed or expired message again, now (the organiser's retry button)."""

    async def txn(tx: Tx) -> Message:
        found = await sql.get_message(tx, message_id)
        if found is None:
            raise NotFoundError(f"no message {message_id}", code="message_not_found")
        if not await sql.retry_failed(tx, message_id, now):
            raise ConflictError(
                f"message {message_id} is {found.status}; only failed or expired ones retry",
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
) -> Page[Message]:
    """Every message (or one event's), newest first, with their attempts (the console's log)."""
    items, total = await sql.list_messages(
        store.reader, event_id=event_id, status=status, channel=channel, limit=limit, offset=offset
    )
    return Page(tuple(items), total, limit, offset)


async def get_message(store: Store, message_id: int) -> Message:
    """One message with its attempts; 404 message_not_found."""
    found = await sql.message_with_attempts(store.reader, message_id)
    if found is None:
        raise NotFoundError(f"no message {message_id}", code="message_not_found")
    return found


async def unsubscribe(store: Store, contact_id: int, *, now: datetime) -> bool:
    """Opt a contact out (idempotent); False when it no longer exists."""

    async def txn(tx: Tx) -> bool:
        if await sql.contact(tx, contact_id, now) is None:
            return False
        await sql.opt_out_contact(tx, contact_id, now)
        return True

    return await store.write(txn)


async def save_template(
    store: Store,
    sandbox: TemplateSandbox,
    event_id: int,
    kind: str,
    channel: str,
    language: str,
    source: str,
    *,
    now: datetime,
) -> TemplateOverride:
    """Check an override against sample data (syntax, undefined names, time and size) in
    the sandbox, then save it; refused with a 400 naming the problem."""
    await get_event(store, event_id)
    await sandbox.check(kind, channel, language, source)
    await store.write(
        lambda tx: sql.put_template(tx, event_id, kind, channel, language, source, now)
    )
    return TemplateOverride(event_id, kind, channel, language, source, now)


async def list_templates(store: Store, event_id: int) -> Page[TemplateOverride]:
    """An event's overrides."""
    await get_event(store, event_id)
    found = tuple(
        TemplateOverride(event_id, kind, channel, language, source, updated_at)
        for kind, channel, language, source, updated_at in await sql.template_overrides(
            store.reader, event_id
        )
    )
    return Page(items=found, total=len(found), limit=max(len(found), 1), offset=0)


async def delete_template(
    store: Store, event_id: int, kind: str, channel: str, language: str
) -> None:
    """Go back to the default template; 404 when there was no override."""
    dropped = await store.write(
        lambda tx: sql.delete_template(tx, event_id, kind, channel, language)
    )
    if not dropped:
        raise NotFoundError("this event has no such template override", code="template_not_found")


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What the unsubscribe page may show: a masked address, and in which language."""

    contact_id: int
    masked: str
    language: str
    opted_out: bool


async def unsubscribe_target(store: Store, contact_id: int) -> UnsubscribeTarget | None:
    """The contact an unsubscribe link names, or None when it is gone."""
    found = await sql.contact(store.reader, contact_id, datetime.now(UTC))
    if found is None:
        return None
    person = await sql.recipient(store.reader, found.resident_id)
    return UnsubscribeTarget(
        contact_id,
        mask_address(found.channel, found.address),
        person.language if person else "zh-CN",
        found.opted_out,
    )

"""Composing: the one place an outbox row (`NewMessage`) is built, for every kind of
message: an event's invitations, reminders, updates and confirmations, a booking's
messages, a conversation's replies, an integrator's events and a failed message's
fallback. One context builder feeds the templates; the channel's typed extras (links,
the calendar part, answer buttons, the check-in QR) are made here, at compose time.

Composing takes plain values (events, bookings, recipients, contacts) and reads nothing
but the store: the domain decides who gets what, and delivery sends what this made."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from ..core.checkin_codes import qr_png
from ..core.extras import CHECKIN_QR_CID, Attachment, Button, Extras
from ..core.i18n import date_text, time_text
from ..core.models import (
    Channel,
    ChatGroup,
    Event,
    EventStatus,
    Language,
    MessageKind,
    MessageStatus,
    Room,
)
from ..core.phrases import Text
from ..store.bookings import Booking
from ..store.outbox import NewMessage
from ..store.recipients import Reach, Recipient
from . import calendar
from .event_code import event_code
from .links import Links, button_data, item_button_data, reply_address, reply_token
from .render import Rendered, Renderer, stamped
from .sandbox import TemplateSandbox

# Kinds whose Telegram message carries the answer buttons.
_ANSWERABLE: Final = (
    MessageKind.INVITATION,
    MessageKind.REMINDER,
    MessageKind.UPDATE,
    MessageKind.RECONFIRM,
)


class SendWindow(Protocol):
    """When a message may go out (the quiet hours, service/delivery/quiet.py)."""

    def next_allowed(self, moment: datetime, channel: str, *, urgent: bool = False) -> datetime:
        """`moment`, or the first moment after it a message on `channel` may go."""


@dataclass(frozen=True)
class ComposeSettings:
    """The plain values composing needs from the server's settings."""

    community_name: str
    tz: ZoneInfo
    # The invitation calendar's ORGANIZER and UID domain.
    organizer_email: str
    organizer_name: str
    uid_domain: str
    # The mailbox Linli reads calendar replies from ([mail_in]), or "" when it reads none:
    # then invitations ask for no reply (RSVP=FALSE); see service/messages/calendar.py.
    reply_mailbox: str = ""
    # Twilio reports delivery to a callback each SMS names.
    sms_status_callback: bool = False


def new_uid() -> str:
    """A message id: no dots (Standard Webhooks), 96 random bits."""
    return f"msg_{secrets.token_hex(12)}"


def expiry(event: Event, kind: MessageKind) -> datetime | None:
    """When a message stops being worth sending: an invitation once its event starts."""
    if kind in (
        MessageKind.INVITATION,
        MessageKind.REMINDER,
        MessageKind.CANCELLATION,
        MessageKind.RECONFIRM,
    ):
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


class _Span(Protocol):
    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...


def when_text(booking: _Span, tz: tzinfo, language: str) -> str:
    """'12月5日（周六）09:00-11:00' in the resident's words."""
    starts, ends = booking.starts_at.astimezone(tz), booking.ends_at.astimezone(tz)
    end = time_text(ends) if starts.date() == ends.date() else date_text(ends, language)
    return f"{date_text(starts, language)}-{end}"


def checkin_qr(code: str) -> Attachment:
    """A door code's QR as the PNG a confirmation email's HTML shows (cid:CHECKIN_QR_CID);
    mail clients strip inline SVG."""
    return Attachment("checkin.png", "image/png", qr_png(code), CHECKIN_QR_CID)


def sendable(extras: Extras) -> Extras:
    """Extras as a channel takes them: a row queued before attachments named its door code,
    and gets the QR drawn now, as composing draws it today."""
    code = extras.legacy_qr_code
    if code is None:
        return extras
    return Extras(
        rsvp_url=extras.rsvp_url,
        unsubscribe_url=extras.unsubscribe_url,
        status_callback=extras.status_callback,
        ttl_s=extras.ttl_s,
        ics=extras.ics,
        buttons=extras.buttons,
        attachments=(*extras.attachments, checkin_qr(code)),
    )


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
        # A meeting's agenda: {"code": "A3", "title": ...} in order (empty otherwise).
        "agenda": [
            {"code": code, "title": title}
            for code, _, title in (line.partition(" ") for line in event.agenda)
        ],
    }


@dataclass(frozen=True)
class Composer:
    """Everything needed to render a message for one resident on one channel, and to
    make its outbox row."""

    renderer: Renderer
    links: Links
    settings: ComposeSettings
    quiet: SendWindow
    usable: frozenset[str]
    # Where organisers' overrides render (service/messages/sandbox.py); the shipped templates
    # render in-process with `renderer`. Without one, a message with an override fails.
    sandbox: TemplateSandbox | None = None

    def overrides(self) -> TemplateSandbox:
        """The sandbox that renders overrides; never the event loop."""
        if self.sandbox is None:
            raise RuntimeError("a template override needs the template sandbox")
        return self.sandbox

    def usable_for(self, event: Event) -> frozenset[str]:
        """The channels this event's messages may go on: configured, and among the event's
        own channels when it names any."""
        return self.usable & frozenset(event.channels) if event.channels else self.usable

    def base_context(
        self,
        person: Recipient,
        language: str,
        kind: MessageKind,
        links: dict[str, Any],
        *,
        note: str,
        urgent: bool,
    ) -> dict[str, Any]:
        """What every message's template context has (see service/messages/render.py for its
        keys): the community, the resident, the links and the message itself."""
        return {
            "community": {"name": self.settings.community_name},
            "resident": {
                "id": person.id,
                "name": person.name,
                "language": language,
                "unit": person.unit,
            },
            "links": links,
            "message": {"kind": str(kind), "urgent": urgent, "note": note},
        }

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
        """An event message's template context: the base, the event and the answer."""
        lang = person.language
        page = self.links.rsvp(event.id, person.id)
        links = {
            "rsvp": page,
            "unsubscribe": None if contact is None else self.links.unsubscribe(contact.id),
            "calendar": self.links.calendar(page),
            "actions": self.links.actions(page),
        }
        context = self.base_context(person, lang, kind, links, note=note, urgent=urgent)
        # A copy: the part is shared by every message of the event in this language.
        context["event"] = dict(_event_part(event, room_name, lang, self.settings.tz))
        if person.answer is not None:
            context["rsvp"] = {"answer": person.answer, "party_size": person.party_size}
            if person.checkin_code is not None:
                context["rsvp"]["checkin_code"] = person.checkin_code
        if kind == MessageKind.BOOKING_CONFIRMATION and room_name is not None:
            # An event's booking confirmation (its preview) is about the room it books,
            # for the event's time; an event without a room has none to confirm.
            context["booking"] = {
                "room": room_name,
                "title": event.title,
                "starts_at": event.starts_at.astimezone(self.settings.tz),
                "ends_at": event.ends_at.astimezone(self.settings.tz),
                "date_text": when_text(event, self.settings.tz, lang),
            }
        return context

    def booking_context(
        self,
        room: Room,
        booking: Booking,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
        *,
        note: str,
    ) -> dict[str, Any]:
        """A booking message's template context: the base and the booking."""
        language = person.language
        links = {
            "rsvp": self.links.booking(person.id),
            "unsubscribe": self.links.unsubscribe(contact.id),
        }
        context = self.base_context(person, language, kind, links, note=note, urgent=False)
        tz = self.settings.tz
        context["booking"] = {
            "id": booking.id,
            "room": room.name,
            "title": booking.title,
            "status": booking.status,
            "starts_at": booking.starts_at.astimezone(tz),
            "ends_at": booking.ends_at.astimezone(tz),
            "date_text": when_text(booking, tz, language),
            "checkin_code": booking.checkin_code,
        }
        return context

    def extras(
        self,
        channel: str,
        context: Mapping[str, Any],
        *,
        ics: str | None = None,
        buttons: tuple[tuple[Button, ...], ...] = (),
        qr_code: str | None = None,
    ) -> Extras:
        """A resident message's typed extras: its page, the email's one-click unsubscribe
        and parts, Twilio's status callback, Telegram's buttons. (A webhook's body is its
        text, stored once.)"""
        links = context["links"]
        email = channel == Channel.EMAIL
        return Extras(
            rsvp_url=links["rsvp"],
            unsubscribe_url=links["unsubscribe"] if email else None,
            status_callback=self.links.sms_status_callback()
            if channel == Channel.SMS and self.settings.sms_status_callback
            else None,
            ics=ics if email else None,
            buttons=buttons if channel == Channel.TELEGRAM else (),
            attachments=(checkin_qr(qr_code),) if email and qr_code is not None else (),
        )

    def event_extras(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        channel: str,
        context: Mapping[str, Any],
        contact: Reach | None,
    ) -> Extras:
        """An event message's extras: the invitation's calendar part, a yes confirmation's
        door-code QR (its HTML shows it), the answer buttons."""
        ics = qr = None
        buttons: tuple[tuple[Button, ...], ...] = ()
        if channel == Channel.EMAIL:
            if contact is not None:
                ics = self._ics(event, room_name, person, kind, contact)
            if kind is MessageKind.RSVP_CONFIRMATION and person.answer == "yes":
                qr = person.checkin_code
        elif channel == Channel.TELEGRAM and kind in _ANSWERABLE:
            buttons = self._buttons(event.id, person)
            if kind is MessageKind.INVITATION and event.agenda:
                buttons += self._item_buttons(event, person)
        return self.extras(channel, context, ics=ics, buttons=buttons, qr_code=qr)

    def _buttons(self, event_id: int, person: Recipient) -> tuple[tuple[Button, ...], ...]:
        said = Text(person.language)
        key = self.links.key

        def button(answer: str) -> Button:
            label = said(f"telegram_bot.button_{answer}")
            return Button(label, button_data(key, event_id, person.id, answer))

        return (tuple(button(a) for a in ("y", "n", "m")), (button("p"),))

    def _item_buttons(self, event: Event, person: Recipient) -> tuple[tuple[Button, ...], ...]:
        """A meeting invitation's support buttons, one row per agenda item ("支持 A3")."""
        said = Text(person.language)
        rows = []
        for line in event.agenda:
            code = line.partition(" ")[0]
            item_id = int(code[1:]) if code[1:].isdigit() else None
            if item_id is not None:
                label = said("consultation.telegram_support_button", code=code)
                rows.append((Button(label, item_button_data(self.links.key, item_id, person.id)),))
        return tuple(rows)

    def _ics(
        self,
        event: Event,
        room_name: str | None,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
    ) -> str:
        cancelled = kind is MessageKind.CANCELLATION or event.status is EventStatus.CANCELLED
        options = self.settings
        frame = _invitation_frame(
            event,
            room_name,
            "CANCEL" if cancelled else "REQUEST",
            options.organizer_email,
            options.organizer_name,
            options.uid_domain,
        )
        reply_to = None
        if options.reply_mailbox and not cancelled:
            token = reply_token(self.links.key, event.id, person.id)
            reply_to = reply_address(options.reply_mailbox, token)
        return frame.invitation(contact.address, person.name, reply_to=reply_to)

    def row(
        self,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
        rendered: Rendered,
        extras: Extras,
        *,
        event_id: int | None,
        group_uid: str | None,
        invitation_id: int | None,
        note: str,
        urgent: bool,
        suppressed: bool,
        send_at: datetime,
        expires_at: datetime | None,
        booking_id: int | None = None,
    ) -> NewMessage:
        """The outbox row of a rendered resident message; held for the quiet hours unless
        urgent."""
        uid = new_uid()
        return NewMessage(
            uid=uid,
            group_uid=group_uid or uid,
            event_id=event_id,
            invitation_id=invitation_id,
            resident_id=person.id,
            contact_id=contact.id,
            kind=str(kind),
            channel=contact.channel,
            address=contact.address,
            language=person.language,
            subject=rendered.subject,
            # A webhook's payload says when it was queued, as integrators' payloads do.
            body_text=stamped(rendered.text, send_at) if rendered.is_json else rendered.text,
            body_html=rendered.html,
            extra=extras,
            note=note,
            urgent=urgent,
            status=MessageStatus.SUPPRESSED if suppressed else MessageStatus.QUEUED,
            send_after=self.quiet.next_allowed(send_at, contact.channel, urgent=urgent),
            expires_at=expires_at,
            booking_id=booking_id,
        )

    def group_post(
        self,
        event: Event,
        room_name: str | None,
        group: ChatGroup,
        kind: MessageKind,
        *,
        note: str,
        urgent: bool,
        now: datetime,
    ) -> NewMessage:
        """An event's post to a group chat: the key facts and one link, to the group page
        where each resident answers for themselves. Its uid is the event's, the group's and
        the kind's for invitations, so sending an event again posts no invitation twice."""
        lang = str(group.language)
        page = self.links.group(event.id, group.id)
        context: dict[str, Any] = {
            "community": {"name": self.settings.community_name},
            "group": {"name": group.name},
            "links": {"rsvp": page},
            "message": {"kind": str(kind), "urgent": urgent, "note": note},
            "event": dict(_event_part(event, room_name, lang, self.settings.tz)),
        }
        rendered = self.renderer.render(str(kind), group.channel, lang, context)
        uid = f"grp-{event.id}-{group.id}-inv" if kind is MessageKind.INVITATION else new_uid()
        return NewMessage(
            uid=uid,
            group_uid=uid,
            event_id=event.id,
            invitation_id=None,
            resident_id=None,
            contact_id=None,
            kind=str(kind),
            channel=group.channel,
            address=group.name,
            language=lang,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=None,
            extra=Extras(rsvp_url=page),
            note=note,
            urgent=urgent,
            status=MessageStatus.QUEUED,
            send_after=self.quiet.next_allowed(now, group.channel, urgent=urgent),
            expires_at=expiry(event, kind),
            chat_group_id=group.id,
        )

    def booking_message(
        self,
        room: Room,
        booking: Booking,
        person: Recipient,
        kind: MessageKind,
        contact: Reach,
        *,
        suppressed: bool,
        send_at: datetime,
        expires_at: datetime | None,
        note: str,
    ) -> NewMessage:
        """A booking's message to its resident; a confirmation's email carries the door
        code's QR."""
        context = self.booking_context(room, booking, person, kind, contact, note=note)
        rendered = self.renderer.render(str(kind), contact.channel, person.language, context)
        confirmed = kind is MessageKind.BOOKING_CONFIRMATION and booking.checkin_code
        qr = booking.checkin_code if confirmed else None
        return self.row(
            person,
            kind,
            contact,
            rendered,
            self.extras(contact.channel, context, qr_code=qr),
            event_id=None,
            group_uid=None,
            invitation_id=None,
            note=note,
            urgent=False,
            suppressed=suppressed,
            send_at=send_at,
            expires_at=expires_at,
            booking_id=booking.id,
        )

    def statement_message(
        self,
        person: Recipient,
        contact: Reach,
        household_id: int,
        statement: Mapping[str, Any],
        *,
        suppressed: bool,
        send_at: datetime,
        kind: MessageKind = MessageKind.POINTS_STATEMENT,
    ) -> NewMessage:
        """A household's passbook message to one of its residents: the monthly statement
        (context part `statement`) or, with kind POINTS_EXPIRY, points lapsing soon
        (`expiry`); the link is the household's passbook page."""
        part = "expiry" if kind is MessageKind.POINTS_EXPIRY else "statement"
        links = {
            "rsvp": self.links.passbook(household_id),
            "unsubscribe": self.links.unsubscribe(contact.id),
        }
        if kind is MessageKind.POINTS_STATEMENT:
            # The monthly message also asks for the resident's needs ([M9]: /n/…).
            links["needs"] = self.links.needs(person.id)
        context = self.base_context(person, person.language, kind, links, note="", urgent=False)
        context[part] = dict(statement)
        rendered = self.renderer.render(str(kind), contact.channel, person.language, context)
        return self.row(
            person,
            kind,
            contact,
            rendered,
            self.extras(contact.channel, context),
            event_id=None,
            group_uid=None,
            invitation_id=None,
            note="",
            urgent=False,
            suppressed=suppressed,
            send_at=send_at,
            expires_at=None,
        )

    def outcome_message(
        self,
        item: Mapping[str, Any],
        person: Recipient,
        contact: Reach,
        *,
        suppressed: bool,
        send_at: datetime,
    ) -> NewMessage:
        """A consultation item's published outcome to one of its raisers or supporters;
        its page is the public board."""
        kind = MessageKind.OUTCOME_NOTICE
        links = {"rsvp": self.links.board(), "unsubscribe": self.links.unsubscribe(contact.id)}
        context = self.base_context(person, person.language, kind, links, note="", urgent=False)
        context["item"] = dict(item)
        rendered = self.renderer.render(str(kind), contact.channel, person.language, context)
        return self.row(
            person,
            kind,
            contact,
            rendered,
            self.extras(contact.channel, context),
            event_id=None,
            group_uid=None,
            invitation_id=None,
            note="",
            urgent=False,
            suppressed=suppressed,
            send_at=send_at,
            expires_at=None,
        )


def reply_message(
    contact: Reach, text: str, language: str, *, now: datetime, expires_at: datetime
) -> NewMessage:
    """A short answer in a conversation (a help text, an opt-out confirmation): its text
    is given, not rendered; it goes at once, quiet hours or not, since the resident just
    wrote."""
    return _given(
        MessageKind.REPLY,
        contact.channel,
        contact.address,
        language,
        "",
        text,
        now=now,
        expires_at=expires_at,
        resident_id=contact.resident_id,
        contact_id=contact.id,
    )


def integration_message(
    subscription_id: int,
    url: str,
    event_type: str,
    event_id: int | None,
    data: Mapping[str, Any],
    *,
    timestamp: str,
    now: datetime,
) -> NewMessage:
    """An integrator's event for one subscription: a Standard Webhooks JSON body. Machines
    do not sleep: quiet hours never hold it back."""
    payload = {"type": event_type, "timestamp": timestamp, "data": data}
    return _given(
        MessageKind.INTEGRATION,
        str(Channel.WEBHOOK),
        url,
        # No text to read: the language is only there because every message has one.
        str(Language.EN),
        event_type,
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        now=now,
        expires_at=None,
        event_id=event_id,
        subscription_id=subscription_id,
    )


def _given(
    kind: MessageKind,
    channel: str,
    address: str,
    language: str,
    subject: str,
    text: str,
    *,
    now: datetime,
    expires_at: datetime | None,
    event_id: int | None = None,
    resident_id: int | None = None,
    contact_id: int | None = None,
    subscription_id: int | None = None,
) -> NewMessage:
    """The row of a message whose text is given, not rendered: sent at once, no extras."""
    uid = new_uid()
    return NewMessage(
        uid=uid,
        group_uid=uid,
        event_id=event_id,
        invitation_id=None,
        resident_id=resident_id,
        contact_id=contact_id,
        kind=str(kind),
        channel=channel,
        address=address,
        language=language,
        subject=subject,
        body_text=text,
        body_html=None,
        extra=Extras(),
        note="",
        urgent=True,
        status=MessageStatus.QUEUED,
        send_after=now,
        expires_at=expires_at,
        subscription_id=subscription_id,
    )

"""Frozen dataclasses the store returns and the API shows, and the enums they use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final, Generic, Literal, TypeVar

from .extras import Extras

T = TypeVar("T")


class Role(StrEnum):
    """What an API token may do: admin ⊇ organiser; door is one room's tablet."""

    ADMIN = "admin"
    ORGANISER = "organiser"
    DOOR = "door"


class Channel(StrEnum):
    """Where a resident can be reached."""

    SMS = "sms"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"


class GroupChannel(StrEnum):
    """The group-chat robots a group destination posts through (never a resident's)."""

    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"


@dataclass(frozen=True)
class ChatGroup:
    """A group chat Linli posts to through its robot: a named destination with tags, so the
    audience rules that pick residents pick groups too."""

    id: int
    name: str
    channel: GroupChannel
    language: Language
    tags: tuple[str, ...]
    created_at: datetime
    # Set when the provider refused the robot's key or signature (or staff turned it off).
    disabled_at: datetime | None
    disabled_reason: str | None
    # Whether the robot signs its posts (a DingTalk or Feishu signing secret is set).
    signed: bool = False


class Language(StrEnum):
    """The languages messages and pages come in."""

    ZH_CN = "zh-CN"
    EN = "en"


class EventKind(StrEnum):
    """What sort of gathering an event is."""

    FLEA_MARKET = "flea_market"
    MEETING = "meeting"
    VOLUNTEER = "volunteer"
    ACTIVITY = "activity"
    OTHER = "other"


class EventStatus(StrEnum):
    """An event's life: draft → published → finished, or cancelled from draft/published."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    FINISHED = "finished"


@dataclass(frozen=True)
class Room:
    """A bookable shared room such as the activity room (活动室)."""

    id: int
    name: str
    capacity: int
    location: str
    created_at: datetime
    # The room's rules ([M4]); None: no limit.
    max_booking_minutes: int | None = None
    min_notice_minutes: int = 0
    max_days_ahead: int | None = None
    max_per_household_week: int | None = None
    buffer_minutes: int = 0
    needs_approval: bool = False
    # {"mon": [["08:00", "21:00"]], ...} in local time; {} means open all day every day.
    opening_hours: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    closed_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Household:
    """One dwelling, named by its unit label (building-entrance-flat, e.g. 3-2-1501)."""

    id: int
    unit: str
    building: str
    notes: str
    resident_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ContactChange:
    """A contact disabled (the far end said the address is gone) or enabled again."""

    at: datetime
    change: Literal["disabled", "enabled"]
    reason: str


@dataclass(frozen=True)
class Contact:
    """One way to reach a resident, in canonical form, with its place in their preference."""

    id: int
    resident_id: int
    channel: Channel
    address: str
    rank: int
    opted_out: bool
    opted_out_at: datetime | None
    created_at: datetime
    # A webhook's whsec_ signing secret: only in the response that created it, shown once.
    signing_secret: str | None = None
    # Set when the far end said the address is gone for good (webhook 410, a blocked bot,
    # Twilio 21610): sends skip it, and the organiser sees why.
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    # Each disabling and enabling, oldest first: enabling clears the two fields above,
    # and the reason it was disabled stays here.
    history: tuple[ContactChange, ...] = ()


@dataclass(frozen=True)
class Resident:
    """A person living in a household, with their tags and contacts in preference order."""

    id: int
    household_id: int
    unit: str
    name: str
    language: Language
    notes: str
    tags: tuple[str, ...]
    contacts: tuple[Contact, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportRowError:
    """One CSV row that was skipped: its spreadsheet row number (header = 1) and why."""

    row: int
    message: str
    fields: dict[str, str]


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did: rows created, updated, unchanged, and skipped with reasons."""

    created: int
    updated: int
    unchanged: int
    skipped: int
    errors: tuple[ImportRowError, ...]  # the first few hundred skipped rows, in file order


@dataclass(frozen=True)
class Staff:
    """A person who runs Linli: an admin or an organiser. `login` is their console sign-in
    name (None: they use API tokens only); a disabled one can neither sign in nor hold a
    working token until given a new password."""

    id: int
    name: str
    role: Role
    created_at: datetime
    login: str | None = None
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class ApiToken:
    """An API token's record; the token itself is shown once and never stored."""

    id: int
    name: str
    role: Role
    staff_id: int | None
    room_id: int | None
    hint: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken(ApiToken):
    """A new API token's record with the token itself: the one time the token is shown."""

    token: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token that authenticated the request."""

    token_id: int
    name: str
    role: Role
    staff_id: int | None
    room_id: int | None


@dataclass(frozen=True)
class Event:
    """A community event: what, where, when, for whom and how many."""

    id: int
    kind: EventKind
    title: str
    description: str
    location: str
    room_id: int | None
    starts_at: datetime
    ends_at: datetime
    capacity: int | None
    max_party_size: int
    rsvp_deadline: datetime | None
    status: EventStatus
    audience_tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    cancelled_at: datetime | None
    # iCalendar SEQUENCE: raised whenever the time or place changes.
    sequence: int = 0
    # Hours before the start at which those who said yes are reminded, largest first.
    reminder_hours: tuple[int, ...] = (24, 2)
    # Hours before the start at which those who have not answered are nudged (None: never).
    nudge_hours: int | None = 48
    # Channels its messages may use (each resident's own order decides among them);
    # empty: every channel.
    channels: tuple[str, ...] = ()
    # A meeting's agenda ([M9]): its consultation items in order, each as "A3 <title>",
    # which its invitations list. Read with one event (get_event), not in event lists.
    agenda: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the total that matched."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


class MessageKind(StrEnum):
    """What a message is about; each has templates per channel and language."""

    INVITATION = "invitation"
    REMINDER = "reminder"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    RSVP_CONFIRMATION = "rsvp_confirmation"
    WAITLIST_OFFER = "waitlist_offer"
    BOOKING_CONFIRMATION = "booking_confirmation"
    BOOKING_PENDING = "booking_pending"
    BOOKING_DECLINED = "booking_declined"
    BOOKING_REMINDER = "booking_reminder"
    BOOKING_CANCELLATION = "booking_cancellation"
    # A household's monthly points passbook statement (积分存折月结单).
    POINTS_STATEMENT = "points_statement"
    # Points of a household that lapse soon ([passbook] expiry_notice_days before).
    POINTS_EXPIRY = "points_expiry"
    # A consultation item's outcome, told once to each of its raisers and supporters.
    OUTCOME_NOTICE = "outcome_notice"
    # Asks a confirmed attendee to say they are still coming (service/domain/reconfirm.py),
    # and tells one who did not that their seats were given up.
    RECONFIRM = "reconfirm"
    RECONFIRM_RELEASED = "reconfirm_released"
    # A short answer in a conversation (an SMS help text, an opt-out confirmation, the
    # bot's reply to /start): its text is given, not rendered from a template.
    REPLY = "reply"
    # An event for integrators' subscriptions (rsvp.changed …): a JSON payload.
    INTEGRATION = "integration"


class MessageStatus(StrEnum):
    """Where a message is in its life; sent, delivered, failed, suppressed and expired are
    final for the worker (a delivery report may still move sent on to delivered/failed)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        """True once the worker is done with the message (sent counts: only a delivery
        report may move it on)."""
        return self not in (MessageStatus.QUEUED, MessageStatus.SENDING)

    @property
    def waiting(self) -> bool:
        """True while the message is still to be tried (queued, or being sent now)."""
        return not self.final

    def can_move_to(self, to: MessageStatus) -> bool:
        """Whether a message in this status may move to `to` (see _MOVES)."""
        return to in _MOVES[self]

    def reported_to(self, to: MessageStatus) -> bool:
        """Whether a provider's delivery report of `to` moves a message on from here:
        reports arrive late, twice and out of order, so only forward, and never out of
        delivered, failed, suppressed or expired."""
        return self.can_move_to(to) and _REPORT_ORDER.get(to, -1) > _REPORT_ORDER[self]


# Every move a message may make. Queued → sending (claimed) → sent/failed (the send), or
# back to queued (a temporary failure, a lost lease); queued → suppressed/expired without
# a send; sent → delivered/failed by a provider's report (which may also beat the send's
# own result); failed/expired → queued by the organiser's retry.
_MOVES: Final[Mapping[MessageStatus, frozenset[MessageStatus]]] = {
    MessageStatus.QUEUED: frozenset(
        {
            MessageStatus.SENDING,
            MessageStatus.SENT,
            MessageStatus.DELIVERED,
            MessageStatus.FAILED,
            MessageStatus.SUPPRESSED,
            MessageStatus.EXPIRED,
        }
    ),
    MessageStatus.SENDING: frozenset(
        {
            MessageStatus.QUEUED,
            MessageStatus.SENT,
            MessageStatus.DELIVERED,
            MessageStatus.FAILED,
            MessageStatus.SUPPRESSED,
            MessageStatus.EXPIRED,
        }
    ),
    MessageStatus.SENT: frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED}),
    MessageStatus.DELIVERED: frozenset(),
    MessageStatus.FAILED: frozenset({MessageStatus.QUEUED}),
    MessageStatus.SUPPRESSED: frozenset(),
    MessageStatus.EXPIRED: frozenset({MessageStatus.QUEUED}),
}
# How far along a delivery report may say a message is.
_REPORT_ORDER: Final[Mapping[MessageStatus, int]] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.SUPPRESSED: 99,
    MessageStatus.EXPIRED: 99,
}


@dataclass(frozen=True)
class Attempt:
    """One try at sending a message."""

    number: int
    at: datetime
    duration_ms: int
    outcome: str
    provider_id: str | None
    error: str | None
    # The error read for an organiser (service/core/failures.py): a stable code and a
    # sentence in their language; `error` keeps the technical reason.
    error_code: str | None = None
    error_text: str | None = None


@dataclass(frozen=True)
class Message:
    """One outbox message to one address, rendered when it was queued."""

    id: int
    uid: str
    group_uid: str
    event_id: int | None
    invitation_id: int | None
    resident_id: int | None
    contact_id: int | None
    kind: MessageKind
    # A resident's channel, or a group robot's for a group post.
    channel: Channel | GroupChannel
    address: str
    language: Language
    subject: str
    body_text: str
    body_html: str | None
    extra: Extras
    note: str
    urgent: bool
    status: MessageStatus
    attempts: int
    send_after: datetime
    expires_at: datetime | None
    provider_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    attempt_log: tuple[Attempt, ...] = ()
    # Set for an integrator's event (kind integration): the subscription it goes to.
    subscription_id: int | None = None
    # Set for a post to a group chat: the group destination it goes to.
    chat_group_id: int | None = None
    # `last_error` read for an organiser, as Attempt's error_code and error_text.
    last_error_code: str | None = None
    last_error_text: str | None = None


@dataclass(frozen=True)
class SendReport:
    """What sending an event (or notifying its invitees) queued."""

    event_id: int
    kind: MessageKind
    invited: int
    already_invited: int
    queued: int
    suppressed: int
    unreachable: int
    by_channel: dict[str, int]
    # Posts queued to the audience's group chats (counted in by_channel too).
    group_posts: int = 0


@dataclass(frozen=True)
class TemplateOverride:
    """An organiser's own template for one event, message kind, channel and language."""

    event_id: int
    kind: str
    channel: str
    language: str
    source: str
    updated_at: datetime


class RsvpState(StrEnum):
    """Where an invitation's answer stands."""

    PENDING = "pending"
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"
    WAITLISTED = "waitlisted"


class AnswerVia(StrEnum):
    """How an answer arrived; `system` is a promotion from the waitlist."""

    LINK = "link"
    SMS = "sms"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    ORGANISER = "organiser"
    SYSTEM = "system"
    # A calendar client's iTIP REPLY, by mail (service/domain/calendar_replies.py).
    CALENDAR = "calendar"


@dataclass(frozen=True)
class AnswerChange:
    """One change of an answer: what it became, when, through what, and by whom."""

    answer: RsvpState
    party_size: int
    via: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Invitation:
    """One resident's invitation to one event and where their answer stands."""

    id: int
    event_id: int
    resident_id: int
    resident_name: str
    unit: str
    language: str
    answer: RsvpState
    party_size: int
    answered_at: datetime | None
    # 1 for the first party on the waitlist; None when not waitlisted (or not computed).
    waitlist_position: int | None
    created_at: datetime
    updated_at: datetime
    history: tuple[AnswerChange, ...] = ()
    # Reconfirmation (service/domain/reconfirm.py): when the resident was asked, when they
    # said they are still coming, and "released" or "flagged" when the deadline passed
    # without it. All None when the event asks for none (or not yet).
    reconfirm_requested_at: datetime | None = None
    reconfirmed_at: datetime | None = None
    reconfirm_outcome: str | None = None

    def placed(self, position: int) -> Invitation:
        """This invitation with its waitlist position."""
        return replace(self, waitlist_position=position)

    def with_history(self, history: tuple[AnswerChange, ...]) -> Invitation:
        """This invitation with its answer changes."""
        return replace(self, history=history)


class IntegrationEvent(StrEnum):
    """What an integrator's subscription can ask to be told (Standard Webhooks `type`)."""

    RSVP_CHANGED = "rsvp.changed"
    WAITLIST_PROMOTED = "waitlist.promoted"
    EVENT_UPDATED = "event.updated"
    CHECKIN_CREATED = "checkin.created"
    POINTS_POSTED = "points.posted"
    POINTS_REDEEMED = "points.redeemed"
    # The consultation list ([M9]): a need raised, an item's state or support changed, an
    # item's outcome published.
    NEED_CREATED = "need.created"
    ITEM_CHANGED = "item.changed"
    ITEM_PUBLISHED = "item.published"


@dataclass(frozen=True)
class Subscription:
    """An integrator's webhook endpoint and the event types it wants."""

    id: int
    url: str
    event_types: tuple[IntegrationEvent, ...]
    description: str
    created_at: datetime
    # Set when the endpoint answered 410 Gone (or staff turned it off): nothing is sent.
    disabled_at: datetime | None
    disabled_reason: str | None
    # The whsec_ signing secret: only in the response that created or rotated it.
    signing_secret: str | None = None

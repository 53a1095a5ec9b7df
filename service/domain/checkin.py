"""Check-in at the door: by a yes invitation's or a booking's code (typed or from its QR),
with the party counted at the door and walk-ins added; refusals carry stable reasons.

Reason codes (the issue fixes these five): unknown_code (404), wrong_room, not_today,
cancelled and already_checked_in (409). A code that is not (or no longer) confirmed —
an invitation whose answer is not yes, a booking still pending approval, declined or
cancelled, or a cancelled event — is refused as `cancelled`: to the person at the door
each means "this code does not admit anyone now"; the message says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from ..core.checkin_codes import normalise
from ..core.clock import from_db
from ..core.errors import NotFoundError, ServiceError, ValidationError
from ..core.models import Invitation, RsvpState
from ..core.points import PassbookSettings
from ..core.privacy import mask_name
from ..store import Db, Store, Tx
from ..store import checkin as sql
from ..store.checkin import CheckinRow, CodeOwner, NewCheckin
from . import passbook, subscriptions

PARTY_MAX: Final = 99
VIAS: Final = frozenset({"tablet", "api", "organiser"})
DEFAULT_POINTS: Final = PassbookSettings()


class CheckinRefused(ServiceError):
    """A check-in the door must turn down, with one of the five stable reason codes."""

    status = 409
    code = "cancelled"

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        checked_in_at: datetime | None = None,
        name: str | None = None,
    ):
        super().__init__(message, code=reason)
        self.status = 404 if reason == "unknown_code" else 409
        self.checked_in_at = checked_in_at
        self.name = name

    def as_json(self) -> dict[str, object]:
        """The usual error body; already_checked_in also carries `checked_in_at` (ISO UTC)
        and `name`, the code's holder masked (张*), so the door can say who came."""
        body = super().as_json()
        if self.checked_in_at is not None:
            error = body["error"]
            assert isinstance(error, dict)
            error["checked_in_at"] = self.checked_in_at.astimezone(UTC).isoformat()
            error["name"] = self.name or ""
        return body


@dataclass(frozen=True)
class CheckinOutcome:
    """A check-in as recorded (or as first recorded, for a repeated nonce)."""

    id: int
    code: str | None
    kind: str  # "event" | "booking" | "walk_in"
    event_id: int | None
    booking_id: int | None
    room_id: int | None
    title: str
    name: str  # masked: 张*
    party_size: int
    walk_ins: int
    at: datetime
    repeated: bool


@dataclass(frozen=True)
class CodeLookup:
    """What a scanner shows before confirming: whose code, for what, and whether a
    check-in would be accepted now (`status` "ok" or the reason it would be refused)."""

    code: str
    kind: str
    event_id: int | None
    booking_id: int | None
    room_id: int | None
    title: str
    name: str
    party_size: int
    starts_at: datetime
    ends_at: datetime
    checked_in_at: datetime | None
    status: str


@dataclass(frozen=True)
class Arrival:
    """One entry of an event's check-in list (for staff: the name unmasked)."""

    id: int
    code: str | None
    kind: str
    invitation_id: int | None
    booking_id: int | None
    name: str
    party_size: int
    walk_ins: int
    via: str
    device: str
    at: datetime


def _kind(code: str | None, invitation_id: int | None, booking_id: int | None) -> str:
    if code is None:
        return "walk_in"
    return "event" if invitation_id is not None else "booking"


def _outcome(row: CheckinRow, *, repeated: bool) -> CheckinOutcome:
    return CheckinOutcome(
        id=row.id,
        code=row.code,
        kind=_kind(row.code, row.invitation_id, row.booking_id),
        event_id=row.event_id,
        booking_id=row.booking_id,
        room_id=row.room_id,
        title=row.title,
        name=mask_name(row.resident_name),
        party_size=row.party_size,
        walk_ins=row.walk_ins,
        at=row.at,
        repeated=repeated,
    )


def _unknown(typed: str) -> CheckinRefused:
    return CheckinRefused("unknown_code", f"no check-in code {typed!r}")


def _code(typed: str) -> str:
    code = normalise(typed)
    if code is None:
        raise _unknown(typed)
    return code


def _today(start: datetime, end: datetime, now: datetime, tz: ZoneInfo) -> bool:
    day = now.astimezone(tz).date()
    return start.astimezone(tz).date() <= day <= end.astimezone(tz).date()


def _not_confirmed(owner: CodeOwner) -> str | None:
    if owner.event_status == "cancelled":
        return "the event was cancelled"
    if owner.invitation_id is not None:
        return None if owner.state == "yes" else f"the answer is {owner.state}, not yes"
    if owner.state == "pending":
        return "the booking is still waiting for approval"
    return None if owner.state == "confirmed" else f"the booking was {owner.state}"


def refusal(
    owner: CodeOwner,
    *,
    room_id: int | None,
    now: datetime,
    tz: ZoneInfo,
    event_id: int | None = None,
) -> CheckinRefused | None:
    """Why `owner`'s code may not check in now at `room_id`'s door (or `event_id`'s
    gate), or None."""
    if room_id is not None and owner.room_id != room_id:
        return CheckinRefused("wrong_room", "this code is for another room")
    if event_id is not None and owner.event_id != event_id:
        # A gate scanner set to one event: the code is good elsewhere, not here.
        return CheckinRefused("wrong_room", "this code is for another event")
    if owner.checked_in_at is not None:
        at = owner.checked_in_at.astimezone(tz).strftime("%H:%M")
        return CheckinRefused(
            "already_checked_in",
            f"already checked in at {at}",
            checked_in_at=owner.checked_in_at,
            name=mask_name(owner.resident_name),
        )
    problem = _not_confirmed(owner)
    if problem is not None:
        return CheckinRefused("cancelled", f"this code does not admit anyone: {problem}")
    if not _today(owner.starts_at, owner.ends_at, now, tz):
        day = owner.starts_at.astimezone(tz).strftime("%Y-%m-%d")
        return CheckinRefused("not_today", f"this code is for {day}, not today")
    return None


def _count(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= PARTY_MAX:
        raise ValidationError.field(name, f"must be 0 to {PARTY_MAX}")


async def door_code(db: Db, invitation: Invitation) -> str | None:
    """The code a confirmed (yes) party shows at the door; None for any other answer."""
    if invitation.answer is not RsvpState.YES:
        return None
    return await sql.invitation_code(db, invitation.id)


async def look_up(
    db: Db, typed: str, *, room_id: int | None, now: datetime, tz: ZoneInfo
) -> CodeLookup:
    """A code's owner and whether it would be admitted now; writes nothing."""
    code = _code(typed)
    owner = await sql.code_owner(db, code)
    if owner is None:
        raise _unknown(typed)
    if room_id is not None and owner.room_id != room_id:
        # A door sees only its own room: another room's code is no business of it.
        raise CheckinRefused("wrong_room", "this code is for another room")
    refused = refusal(owner, room_id=room_id, now=now, tz=tz)
    return CodeLookup(
        code=owner.code,
        kind=_kind(owner.code, owner.invitation_id, owner.booking_id),
        event_id=owner.event_id,
        booking_id=owner.booking_id,
        room_id=owner.room_id,
        title=owner.title,
        name=mask_name(owner.resident_name),
        party_size=owner.party_size,
        starts_at=owner.starts_at,
        ends_at=owner.ends_at,
        checked_in_at=owner.checked_in_at,
        status="ok" if refused is None else refused.code,
    )


async def _walk_in_place(
    tx: Tx, *, room_id: int | None, event_id: int | None, now: datetime, tz: ZoneInfo
) -> tuple[int | None, int | None, str]:
    """(room, event, title) a walk-in without a code is counted at."""
    if event_id is None:
        if room_id is None:
            raise ValidationError.field("event_id", "a walk-in without a code needs event_id")
        room = await tx.fetchone("SELECT name FROM rooms WHERE id = ?", (room_id,))
        if room is None:
            raise NotFoundError(f"no room {room_id}", code="room_not_found")
        return room_id, None, str(room["name"])
    event = await tx.fetchone(
        "SELECT room_id, title, status, starts_at, ends_at FROM events WHERE id = ?",
        (event_id,),
    )
    if event is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    if room_id is not None and event["room_id"] != room_id:
        raise CheckinRefused("wrong_room", "this event is held in another room")
    if event["status"] == "cancelled":
        raise CheckinRefused("cancelled", "the event was cancelled")
    if not _today(from_db(event["starts_at"]), from_db(event["ends_at"]), now, tz):
        raise CheckinRefused("not_today", "this event is not today")
    return event["room_id"], event_id, str(event["title"])


async def check_in(
    store: Store,
    *,
    code: str | None,
    room_id: int | None,
    event_id: int | None = None,
    party_size: int | None = None,
    walk_ins: int = 0,
    nonce: str | None = None,
    via: str,
    device: str = "",
    now: datetime,
    tz: ZoneInfo,
    points: PassbookSettings = DEFAULT_POINTS,
) -> CheckinOutcome:
    """Check in a code's party (with walk-ins), or count walk-ins without a code.

    Checking a code in twice records nothing new (409 already_checked_in); the same
    nonce sent again returns the first outcome with repeated=True.
    """
    if via not in VIAS:
        raise ValueError(f"unknown check-in path {via!r}")
    _count("party_size", party_size)
    _count("walk_ins", walk_ins)
    typed = code.strip() if code is not None else ""
    normalised = _code(typed) if typed else None
    if normalised is None and walk_ins < 1:
        raise ValidationError.field("code", "give a code, or walk_ins of at least 1")

    async def txn(tx: Tx) -> CheckinOutcome:
        if nonce:
            earlier = await sql.checkin_by_nonce(tx, nonce)
            if earlier is not None:
                return _outcome(earlier, repeated=True)
        if normalised is None:
            place_room, place_event, _title = await _walk_in_place(
                tx, room_id=room_id, event_id=event_id, now=now, tz=tz
            )
            new = NewCheckin(
                None, place_room, place_event, None, 0, walk_ins, via, device, nonce or None, now
            )
        else:
            owner = await sql.code_owner(tx, normalised)
            if owner is None:
                raise _unknown(typed)
            refused = refusal(owner, room_id=room_id, now=now, tz=tz, event_id=event_id)
            if refused is not None:
                raise refused
            party = owner.party_size if party_size is None else party_size
            new = NewCheckin(
                normalised,
                owner.room_id,
                owner.event_id,
                owner.booking_id,
                party,
                walk_ins,
                via,
                device,
                nonce or None,
                now,
            )
        checkin_id = await sql.insert_checkin(tx, new)
        row = await sql.checkin_by_id(tx, checkin_id)
        assert row is not None
        await subscriptions.emit(tx, [subscriptions.checkin_created(row)], now)
        # In the check-in's own transaction: the points come with the check-in or not at
        # all, and a retried or late-synced check-in (same nonce, same code) earns nothing
        # more because it records nothing new.
        await passbook.earn_at_checkin(
            tx, checkin_id, operator=device or via, settings=points, now=now
        )
        return _outcome(row, repeated=False)

    return await store.write(txn)


async def event_arrivals(store: Store, event_id: int) -> list[Arrival]:
    """Who came to an event, walk-ins included, in order of arrival (names for staff)."""
    event = await store.reader.fetchone("SELECT id FROM events WHERE id = ?", (event_id,))
    if event is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    return [
        Arrival(
            id=row.id,
            code=row.code,
            kind=_kind(row.code, row.invitation_id, row.booking_id),
            invitation_id=row.invitation_id,
            booking_id=row.booking_id,
            name=row.resident_name,
            party_size=row.party_size,
            walk_ins=row.walk_ins,
            via=row.via,
            device=row.device,
            at=row.at,
        )
        for row in await sql.event_checkins(store.reader, event_id)
    ]


async def mark_no_shows(store: Store, *, now: datetime) -> tuple[int, int]:
    """Mark confirmed parties of ended events and bookings that never checked in; returns
    (invitations, bookings) newly marked. Safe to run any number of times."""

    async def txn(tx: Tx) -> tuple[int, int]:
        return await sql.mark_no_shows(tx, now)

    return await store.write(txn)

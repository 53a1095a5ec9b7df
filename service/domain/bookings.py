"""Room bookings: requests (one slot or a weekly series), approval, cancellation, messages.

Organisers booking through the API are held to the same rules unless they send
`override_rules`; overlaps (buffer included) hold for everybody, since the store refuses
them. A weekly series books every occurrence that fits and reports each one that does not
(its date and the rule's code); only when none fits is the request refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Final

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import MessageKind, Room
from ..core.text import check_text
from ..messages.compose import Composer, pick_contact
from ..store import Store, Tx
from ..store import bookings as sql
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from ..store import rooms as room_sql
from ..store.bookings import Booking, NewBooking
from ..store.checkin import ensure_code
from ..store.errors import SlotTaken
from ..store.outbox import NewMessage
from .booking_rules import check_slot, household_rule, language_of, refusal

WEEKS_MAX: Final = 26
TITLE_MAX: Final = 100
NOTE_MAX: Final = 500
PARTY_MAX: Final = 1000
# A reminder goes this long before the booking starts.
REMINDER_BEFORE: Final = timedelta(hours=2)


@dataclass(frozen=True)
class BookingRequest:
    """A request for a slot (repeated weekly `weeks` times)."""

    room_id: int
    starts_at: datetime
    ends_at: datetime
    resident_id: int | None = None
    title: str = ""
    party_size: int = 1
    note: str = ""
    weeks: int = 1
    # 'resident', or 'organiser:<name>' for staff.
    booked_by: str = "resident"
    override_rules: bool = False
    # Refusals' language when no resident is named.
    language: str = "zh-CN"
    # A nonce: the same key again returns what the first request made.
    request_key: str | None = None

    @property
    def by_organiser(self) -> bool:
        """Staff made it (no approval needed)."""
        return self.booked_by != "resident"


@dataclass(frozen=True)
class Conflict:
    """An occurrence of a request that was not booked, and why."""

    date: str
    starts_at: datetime
    code: str
    message: str


@dataclass(frozen=True)
class BookingResult:
    """What a request booked and which occurrences it could not."""

    bookings: tuple[Booking, ...]
    conflicts: tuple[Conflict, ...]
    repeated: bool = False


def _clean(request: BookingRequest) -> BookingRequest:
    for name, moment in (("starts_at", request.starts_at), ("ends_at", request.ends_at)):
        if moment.tzinfo is None:
            raise ValidationError.field(name, "must include a time zone offset")
    if request.ends_at <= request.starts_at:
        raise ValidationError.field("ends_at", "must be after starts_at")
    if not 1 <= request.weeks <= WEEKS_MAX:
        raise ValidationError.field("weeks", f"must be between 1 and {WEEKS_MAX}")
    if not 1 <= request.party_size <= PARTY_MAX:
        raise ValidationError.field("party_size", f"must be between 1 and {PARTY_MAX}")
    return replace(
        request,
        title=check_text("title", request.title, TITLE_MAX),
        note=check_text("note", request.note, NOTE_MAX),
    )


async def _room(tx: Tx, room_id: int) -> Room:
    room: Room | None = await room_sql.get_room(tx, room_id)
    if room is None:
        raise NotFoundError(f"no room {room_id}", code="room_not_found")
    return room


async def request_booking(
    store: Store,
    request: BookingRequest,
    *,
    now: datetime,
    tz: tzinfo,
    composer: Composer | None = None,
) -> BookingResult:
    """Book the slot (each week of a series) under the room's rules. Confirmed bookings get
    their check-in code and messages in the same transaction; in a room that needs
    approval a resident's request waits as pending. Refused when no occurrence fits."""
    request = _clean(request)

    async def txn(tx: Tx) -> BookingResult:
        if request.request_key is not None:
            earlier = await sql.by_request_key(tx, request.request_key)
            if earlier:
                return BookingResult(tuple(earlier), (), repeated=True)
        room = await _room(tx, request.room_id)
        household_id: int | None = None
        language = language_of(request.language)
        if request.resident_id is not None:
            found = await sql.household_of(tx, request.resident_id)
            if found is None:
                raise ValidationError.field(
                    "resident_id", "no such resident", code="resident_not_found"
                )
            household_id, _, resident_language = found
            language = language_of(resident_language)
        status = "pending" if room.needs_approval and not request.by_organiser else "confirmed"
        made: list[Booking] = []
        conflicts: list[Conflict] = []
        refusals: list[ConflictError] = []
        for week in range(request.weeks):
            starts = request.starts_at + timedelta(weeks=week)
            ends = request.ends_at + timedelta(weeks=week)
            try:
                if not request.override_rules:
                    check_slot(room, starts, ends, now, tz, language)
                    await household_rule(tx, room, household_id, starts, tz, language)
                new = NewBooking(
                    room_id=room.id,
                    resident_id=request.resident_id,
                    household_id=household_id,
                    event_id=None,
                    title=request.title,
                    party_size=request.party_size,
                    starts_at=starts,
                    ends_at=ends,
                    blocked_until=ends + timedelta(minutes=room.buffer_minutes),
                    status=status,
                    booked_by=request.booked_by,
                    note=request.note,
                    request_key=request.request_key if not made else None,
                )
                try:
                    booking_id = await sql.insert_booking(tx, new, None, now)
                except SlotTaken:
                    raise refusal("slot_taken", language, n=room.buffer_minutes) from None
            except ConflictError as exc:
                refusals.append(exc)
                local = starts.astimezone(tz)
                conflicts.append(Conflict(local.date().isoformat(), starts, exc.code, exc.message))
                continue
            if status == "confirmed":
                await ensure_code(tx, booking_id=booking_id, now=now)
            booking = await sql.get_booking(tx, booking_id)
            assert booking is not None
            made.append(booking)
        if not made:
            raise refusals[0]
        if len(made) > 1:
            await sql.set_series(tx, [b.id for b in made], made[0].id)
            made = [replace(b, series_id=made[0].id) for b in made]
        if composer is not None:
            for booking in made:
                await queue_messages(tx, composer, room, booking, now, tz)
        return BookingResult(tuple(made), tuple(conflicts))

    return await store.write(txn)


async def get_booking(store: Store, booking_id: int) -> Booking:
    """One booking, or 404 booking_not_found."""
    found = await sql.get_booking(store.reader, booking_id)
    if found is None:
        raise NotFoundError(f"no booking {booking_id}", code="booking_not_found")
    return found


async def _current(tx: Tx, booking_id: int, resident_id: int | None) -> Booking:
    found = await sql.get_booking(tx, booking_id)
    # A resident's page may only touch their own bookings: others' are "not found".
    if found is None or (resident_id is not None and found.resident_id != resident_id):
        raise NotFoundError(f"no booking {booking_id}", code="booking_not_found")
    return found


def _illegal(booking: Booking, action: str) -> ConflictError:
    return ConflictError(
        f"booking {booking.id} is {booking.status} and cannot be {action}",
        code="illegal_transition",
    )


async def decide(
    store: Store,
    booking_id: int,
    *,
    confirm: bool,
    by: str,
    reason: str = "",
    now: datetime,
    tz: tzinfo,
    composer: Composer | None = None,
) -> Booking:
    """Confirm or decline a pending booking (the approval queue); doing it again returns
    the booking unchanged, the other decision on a decided booking is 409."""
    target = "confirmed" if confirm else "declined"
    reason = check_text("reason", reason, NOTE_MAX)

    async def txn(tx: Tx) -> Booking:
        current = await _current(tx, booking_id, None)
        if current.status == target:
            return current
        if current.status != "pending":
            raise _illegal(current, target)
        await sql.set_status(tx, booking_id, target, now, decided_by=by)
        if confirm:
            await ensure_code(tx, booking_id=booking_id, now=now)
        decided = await sql.get_booking(tx, booking_id)
        assert decided is not None
        if composer is not None:
            room = await _room(tx, decided.room_id)
            await queue_messages(tx, composer, room, decided, now, tz, note=reason)
        return decided

    return await store.write(txn)


async def cancel(
    store: Store,
    booking_id: int,
    *,
    now: datetime,
    tz: tzinfo,
    composer: Composer | None = None,
    resident_id: int | None = None,
) -> Booking:
    """Cancel a pending or confirmed booking: the slot frees, its queued reminder is not
    sent, and the resident is told. Cancelling again returns it unchanged; an event's hold
    goes with its event, and a booking that has ended cannot be cancelled (409)."""

    async def txn(tx: Tx) -> Booking:
        current = await _current(tx, booking_id, resident_id)
        if current.status == "cancelled":
            return current
        if current.event_id is not None:
            raise ConflictError(
                "this booking holds the room for an event; cancel or move the event",
                code="event_booking",
            )
        if current.status not in sql.LIVE:
            raise _illegal(current, "cancelled")
        if current.ends_at <= now:
            raise ConflictError(f"booking {booking_id} is over", code="booking_over")
        await sql.set_status(tx, booking_id, "cancelled", now)
        await sql.suppress_reminders(tx, booking_id, now)
        cancelled = await sql.get_booking(tx, booking_id)
        assert cancelled is not None
        if composer is not None:
            room = await _room(tx, cancelled.room_id)
            await queue_messages(tx, composer, room, cancelled, now, tz)
        return cancelled

    return await store.write(txn)


async def list_bookings(
    store: Store,
    *,
    room_id: int | None = None,
    status: str | None = None,
    resident_id: int | None = None,
    after: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Booking], int]:
    """Bookings by start time, filtered; with the total that match."""
    return await sql.list_bookings(
        store.reader,
        room_id=room_id,
        status=status,
        resident_id=resident_id,
        after=after,
        limit=limit,
        offset=offset,
    )


# ---- messages ------------------------------------------------------------------------

_KIND_OF_STATUS: Final[Mapping[str, MessageKind]] = {
    "confirmed": MessageKind.BOOKING_CONFIRMATION,
    "pending": MessageKind.BOOKING_PENDING,
    "declined": MessageKind.BOOKING_DECLINED,
    "cancelled": MessageKind.BOOKING_CANCELLATION,
}


async def queue_messages(
    tx: Tx,
    composer: Composer,
    room: Room,
    booking: Booking,
    now: datetime,
    tz: tzinfo,
    *,
    note: str = "",
) -> None:
    """The message a booking's new status owes its resident (and, once confirmed, the
    reminder before it starts), on their first usable channel, in their language."""
    if booking.resident_id is None:
        return
    kind = _KIND_OF_STATUS.get(booking.status)
    if kind is None:
        return
    rows = [await _message(tx, composer, room, booking, kind, now, now, None, tz, note)]
    remind_at = booking.starts_at - REMINDER_BEFORE
    if kind is MessageKind.BOOKING_CONFIRMATION and remind_at > now:
        reminder = await _message(
            tx, composer, room, booking, MessageKind.BOOKING_REMINDER, now, remind_at,
            booking.starts_at, tz, "",
        )  # fmt: skip
        rows.append(reminder)
    messages = [m for m in rows if m is not None]
    await outbox_sql.insert_messages(tx, messages, now)


async def _message(
    tx: Tx,
    composer: Composer,
    room: Room,
    booking: Booking,
    kind: MessageKind,
    now: datetime,
    send_at: datetime,
    expires: datetime | None,
    tz: tzinfo,
    note: str,
) -> NewMessage | None:
    assert booking.resident_id is not None
    person = await recipients_sql.recipient(tx, booking.resident_id)
    contacts = (await recipients_sql.contacts_of(tx, [booking.resident_id]))[booking.resident_id]
    contact, suppressed = pick_contact(contacts, composer.usable)
    if person is None or contact is None:
        return None
    return composer.booking_message(
        room,
        booking,
        replace(person, language=language_of(person.language)),
        kind,
        contact,
        suppressed=suppressed,
        send_at=send_at,
        expires_at=expires,
        note=note,
    )

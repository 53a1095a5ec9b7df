"""Room bookings: the room's rules, requests (one slot or a weekly series), the approval
queue, cancellation, the week view, and the messages each step sends.

Organisers booking through the API are held to the same rules unless they send
`override_rules`; overlaps (buffer included) hold for everybody, since the store refuses
them. A weekly series books every occurrence that fits and reports each one that does not
(its date and the rule's code); only when none fits is the request refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Final

from ..core.clock import YEARS_TEXT, in_years
from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import MessageKind, Room
from ..core.phrases import phrase
from ..core.privacy import mask_name
from ..core.text import check_text
from ..messages.compose import Composer, pick_contact
from ..messages.compose import when_text as when_text
from ..store import Store, Tx
from ..store import bookings as sql
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from ..store import rooms as room_sql
from ..store.bookings import Booking, NewBooking
from ..store.checkin import ensure_code
from ..store.errors import SlotTaken
from ..store.outbox import NewMessage
from .rooms import WEEKDAYS, minutes_of

LANGUAGES: Final = ("zh-CN", "en")
WEEKS_MAX: Final = 26
TITLE_MAX: Final = 100
NOTE_MAX: Final = 500
PARTY_MAX: Final = 1000
# A reminder goes this long before the booking starts.
REMINDER_BEFORE: Final = timedelta(hours=2)

# The rule field each refusal names.
RULE_FIELD: Final[Mapping[str, str]] = {
    "rule_max_length": "max_booking_minutes",
    "rule_min_notice": "min_notice_minutes",
    "rule_days_ahead": "max_days_ahead",
    "rule_household_week": "max_per_household_week",
    "room_closed": "closed_dates",
    "outside_hours": "opening_hours",
    "slot_taken": "starts_at",
    "starts_in_past": "starts_at",
}


def language_of(language: str | None) -> str:
    """A language the messages speak (zh-CN unless en)."""
    return language if language in LANGUAGES else LANGUAGES[0]


def refusal(code: str, language: str, **values: object) -> ConflictError:
    """A 409 naming the broken rule in `language`."""
    text = phrase(f"booking_rules.{code}", language_of(language), **values)
    return ConflictError(text, code=code, fields={RULE_FIELD[code]: text})


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


def _local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def _hours_text(ranges: Sequence[tuple[str, str]], language: str) -> str:
    if not ranges:
        return phrase("booking_rules.closed_all_day", language)
    return ", ".join(f"{a}-{b}" for a, b in ranges)


def check_slot(
    room: Room, starts: datetime, ends: datetime, now: datetime, tz: tzinfo, language: str
) -> None:
    """The rules that need no other booking: length, notice, days ahead, closed dates and
    opening hours. Raises the refusal naming the first rule broken."""
    if starts <= now:
        raise refusal("starts_in_past", language)
    minutes = (ends - starts) / timedelta(minutes=1)
    if room.max_booking_minutes is not None and minutes > room.max_booking_minutes:
        raise refusal("rule_max_length", language, n=room.max_booking_minutes)
    if starts - now < timedelta(minutes=room.min_notice_minutes):
        raise refusal("rule_min_notice", language, n=room.min_notice_minutes)
    local_start, local_end = starts.astimezone(tz), ends.astimezone(tz)
    ahead = (local_start.date() - now.astimezone(tz).date()).days
    if room.max_days_ahead is not None and ahead > room.max_days_ahead:
        raise refusal("rule_days_ahead", language, n=room.max_days_ahead)
    last_day = (local_end - timedelta(microseconds=1)).date()
    day = local_start.date()
    while day <= last_day:
        if day.isoformat() in room.closed_dates:
            raise refusal("room_closed", language, day=day.isoformat())
        day += timedelta(days=1)
    if not room.opening_hours:
        return
    ranges = room.opening_hours.get(WEEKDAYS[local_start.weekday()], ())
    begin = local_start.hour * 60 + local_start.minute
    if local_end.date() == local_start.date():
        end = local_end.hour * 60 + local_end.minute
    elif local_end == datetime.combine(local_start.date() + timedelta(days=1), time(0), tz):
        end = 24 * 60
    else:
        end = 24 * 60 + 1  # runs past midnight: no day's hours hold it
    if local_start.second or not any(
        minutes_of(a) <= begin and end <= minutes_of(b) for a, b in ranges
    ):
        raise refusal("outside_hours", language, hours=_hours_text(ranges, language))


async def _household_rule(
    tx: Tx, room: Room, household_id: int | None, starts: datetime, tz: tzinfo, language: str
) -> None:
    if room.max_per_household_week is None or household_id is None:
        return
    local = starts.astimezone(tz).date()
    monday = local - timedelta(days=local.weekday())
    week_start, _ = _local_day_bounds(monday, tz)
    week_end, _ = _local_day_bounds(monday + timedelta(days=7), tz)
    if await sql.household_count(tx, household_id, week_start, week_end) >= (
        room.max_per_household_week
    ):
        raise refusal("rule_household_week", language, n=room.max_per_household_week)


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


async def _room(db: Any, room_id: int) -> Room:
    room: Room | None = await room_sql.get_room(db, room_id)
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
                    await _household_rule(tx, room, household_id, starts, tz, language)
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


# ---- the week view -------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    """A held slot as the week view shows it; `who` is masked for residents."""

    starts: str
    ends: str
    blocked_until: str
    status: str
    who: str
    booking_id: int | None
    event_id: int | None
    title: str
    mine: bool


@dataclass(frozen=True)
class Day:
    """One local day of the week view."""

    date: str
    weekday: str
    closed: bool
    hours: tuple[tuple[str, str], ...]
    taken: tuple[Taken, ...]
    free: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Week:
    """A room's week from `start` (a local date), its rules included."""

    room: Room
    start: str
    days: tuple[Day, ...]


def _hhmm(moment: datetime, day_start: datetime, tz: tzinfo) -> str:
    """Minutes into the day as HH:MM, clipped to the day (24:00 at its end)."""
    minutes = int((moment - day_start) / timedelta(minutes=1))
    return _clock(max(0, min(24 * 60, minutes)))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _free(
    hours: Sequence[tuple[str, str]], taken: Sequence[tuple[int, int]]
) -> tuple[tuple[str, str], ...]:
    """The opening hours less the taken minutes (buffers included)."""
    free: list[tuple[int, int]] = []
    for a, b in hours:
        cursor, end = minutes_of(a), minutes_of(b)
        for t0, t1 in sorted(taken):
            if t1 <= cursor or t0 >= end:
                continue
            if t0 > cursor:
                free.append((cursor, t0))
            cursor = max(cursor, t1)
        if cursor < end:
            free.append((cursor, end))
    return tuple((_clock(x), _clock(y)) for x, y in free)


async def week_view(
    store: Store,
    room_id: int,
    start: date,
    *,
    tz: tzinfo,
    masked: bool,
    resident_id: int | None = None,
) -> Week:
    """Seven days from `start`: each day's hours, taken slots and free ranges. `masked`
    (a resident's view) shows names as 张* and no notes."""
    if not in_years(start):
        raise ValidationError.field("start", YEARS_TEXT)
    room = await _room(store.reader, room_id)
    first, _ = _local_day_bounds(start, tz)
    last, _ = _local_day_bounds(start + timedelta(days=7), tz)
    bookings = await sql.live_in_room(store.reader, room_id, first, last)
    days: list[Day] = []
    for offset in range(7):
        day = start + timedelta(days=offset)
        day_start, day_end = _local_day_bounds(day, tz)
        closed = day.isoformat() in room.closed_dates
        if room.opening_hours:
            hours = tuple(room.opening_hours.get(WEEKDAYS[day.weekday()], ()))
        else:
            hours = (("00:00", "24:00"),)
        if closed:
            hours = ()
        taken: list[Taken] = []
        spans: list[tuple[int, int]] = []
        for b in bookings:
            if not (b.starts_at < day_end and b.blocked_until > day_start):
                continue
            # A resident's name is masked for residents; an event's or organiser's title
            # names no one.
            who = b.title
            if b.event_id is None and b.resident_name:
                who = mask_name(b.resident_name) if masked else b.resident_name
            taken.append(
                Taken(
                    starts=_hhmm(b.starts_at, day_start, tz),
                    ends=_hhmm(b.ends_at, day_start, tz),
                    blocked_until=_hhmm(b.blocked_until, day_start, tz),
                    status=b.status,
                    who=who,
                    booking_id=None if masked else b.id,
                    event_id=b.event_id,
                    title=b.title if b.event_id is not None or not masked else "",
                    mine=resident_id is not None and b.resident_id == resident_id,
                )
            )
            t0 = int((max(b.starts_at, day_start) - day_start) / timedelta(minutes=1))
            t1 = int((min(b.blocked_until, day_end) - day_start) / timedelta(minutes=1))
            spans.append((t0, t1))
        days.append(
            Day(
                date=day.isoformat(),
                weekday=WEEKDAYS[day.weekday()],
                closed=closed,
                hours=hours,
                taken=tuple(taken),
                free=_free(hours, spans),
            )
        )
    return Week(room, start.isoformat(), tuple(days))


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


async def room_of(store: Store, room_id: int) -> Room:
    """The room, or 404 room_not_found."""
    return await _room(store.reader, room_id)

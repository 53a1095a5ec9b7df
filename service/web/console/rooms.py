"""The organiser's rooms pages: the rooms and their rules, a room's week with booking on a
resident's behalf, cancelling, and the approval queue of pending bookings."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from aiohttp import web

from ...core.clock import YEARS_TEXT, in_years
from ...core.errors import NotFoundError, ServiceError, ValidationError
from ...core.models import Room
from ...domain import bookings, residents, rooms
from ...domain.room_week import week_view
from ...domain.rooms import WEEKDAYS
from ...keys import delivery_key
from ...store.bookings import Booking
from ..bookings import BookingIn, staff_request
from ..jsonio import path_id
from ..rooms import RoomIn, RoomPatch, room_changes
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
HTML: Final = "text/html"
QUEUE_SIZE: Final = 100
# Residents offered in the booking form's list; a bigger community types the id.
RESIDENT_CHOICES: Final = 500
NUMBER_RULES: Final = (
    "max_booking_minutes",
    "min_notice_minutes",
    "max_days_ahead",
    "max_per_household_week",
    "buffer_minutes",
)
# Rules that may be left blank (no limit); the others blank to 0.
_NULLABLE: Final = frozenset({"max_booking_minutes", "max_days_ahead", "max_per_household_week"})
_RANGE: Final = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–~至到]\s*(\d{1,2}:\d{2})\s*$")
_LIST_SPLIT: Final = re.compile(r"[,，;；\s]+")
# A refused booking names a room rule; the booking form shows it beside the field at fault.
_BOOKING_FIELD: Final[Mapping[str, str]] = {
    "max_booking_minutes": "end",
    "ends_at": "end",
    "min_notice_minutes": "start",
    "opening_hours": "start",
    "starts_at": "start",
    "max_days_ahead": "date",
    "closed_dates": "date",
    "max_per_household_week": "resident_id",
}


_page = page_route(routes, "Rooms")


def _hoursform_text(ranges: Any) -> str:
    return ", ".join(f"{a}-{b}" for a, b in ranges)


def room_values(room: Room | None) -> dict[str, str]:
    """A room as the rules form shows it (blank: no limit)."""
    if room is None:
        values = {name: "" for name in NUMBER_RULES}
        values.update(name="", capacity="", location="", closed_dates="", all_day="1")
        values.update({f"hours_{d}": "" for d in WEEKDAYS})
        return values
    values = {
        name: "" if getattr(room, name) is None else str(getattr(room, name))
        for name in NUMBER_RULES
    }
    values.update(
        name=room.name,
        capacity=str(room.capacity),
        location=room.location,
        closed_dates="\n".join(room.closed_dates),
        all_day="" if room.opening_hours else "1",
        needs_approval="1" if room.needs_approval else "",
    )
    values.update({f"hours_{d}": _hoursform_text(room.opening_hours.get(d, ())) for d in WEEKDAYS})
    return values


def rules_data(form: Mapping[str, Any]) -> dict[str, Any]:
    """The rules form as the API's room body: numbers, hours per weekday, closed dates."""
    data: dict[str, Any] = {
        "name": form_text(form, "name"),
        "capacity": form_text(form, "capacity") or None,
        "location": form_text(form, "location"),
        "needs_approval": bool(form.get("needs_approval")),
    }
    for name in NUMBER_RULES:
        raw = form_text(form, name)
        data[name] = raw if raw else (None if name in _NULLABLE else 0)
    hours: dict[str, list[tuple[str, str]]] = {}
    if not form.get("all_day"):
        for day in WEEKDAYS:
            ranges: list[tuple[str, str]] = []
            for part in re.split(r"[,，;；]", form_text(form, f"hours_{day}")):
                if not part.strip():
                    continue
                found = _RANGE.match(part)
                if found is None:
                    raise ValidationError.field(
                        f"hours_{day}", f"{part.strip()!r} is not a range like 08:00-12:00"
                    )
                ranges.append((found.group(1).zfill(5), found.group(2).zfill(5)))
            if ranges:
                hours[day] = ranges
    data["opening_hours"] = hours
    data["closed_dates"] = [d for d in _LIST_SPLIT.split(form_text(form, "closed_dates")) if d]
    return data


def _form_errors(c: Console, exc: ServiceError) -> dict[str, str]:
    """The rules form's errors: a weekday's hours beside that day's box."""
    errors: dict[str, str] = {}
    for key, message in c.errors(exc).items():
        if key.startswith("opening_hours."):
            key = "hours_" + key.split(".")[1]
        errors.setdefault(key.split(".")[0], message)
    return errors


def _room_id(request: web.Request) -> int:
    return path_id(request, "room_not_found", "room")


@_page("GET", "/rooms", "every room, and a form for a new one")
@view
async def rooms_list(request: web.Request, c: Console) -> web.StreamResponse:
    """The rooms by name, and the new-room form."""
    found = await rooms.list_rooms(c.store)
    return c.render(
        "rooms/list.html",
        rooms=found.items,
        values=room_values(None),
        errors={},
        weekdays=WEEKDAYS,
    )


@_page("POST", "/rooms", "create a room")
@view
async def rooms_create(request: web.Request, c: Console) -> web.StreamResponse:
    """A name in use is 409; a bad rule 400 beside its field; else on to the room."""
    try:
        body = c.parse(RoomIn, rules_data(c.form))
        created = await rooms.create_room(
            c.store,
            name=body.name,
            capacity=body.capacity,
            location=body.location,
            now=c.now,
            rules=room_changes(body.model_dump(exclude={"name", "capacity", "location"})),
        )
    except ServiceError as exc:
        found = await rooms.list_rooms(c.store)
        values = {k: form_text(c.form, k) for k in room_values(None)}
        values["needs_approval"] = form_text(c.form, "needs_approval")
        return c.render(
            "rooms/list.html",
            exc.status,
            rooms=found.items,
            values=values,
            errors=_form_errors(c, exc),
            weekdays=WEEKDAYS,
        )
    return c.redirect(f"/console/rooms/{created.id}", "rooms.created", name=created.name)


@_page("GET", r"/rooms/{id:\d+}", "a room's rules")
@view
async def room_edit(request: web.Request, c: Console) -> web.StreamResponse:
    """The rules form, filled in."""
    room = await rooms.get_room(c.store, _room_id(request))
    return c.render(
        "rooms/edit.html", room=room, values=room_values(room), errors={}, weekdays=WEEKDAYS
    )


@_page("POST", r"/rooms/{id:\d+}", "change a room's rules")
@view
async def room_save(request: web.Request, c: Console) -> web.StreamResponse:
    """The same checks as PATCH /api/v1/rooms/{id}; errors beside their fields."""
    room = await rooms.get_room(c.store, _room_id(request))
    try:
        body = c.parse(RoomPatch, rules_data(c.form))
        await rooms.update_room(c.store, room.id, room_changes(body.model_dump(exclude_unset=True)))
    except ServiceError as exc:
        values = {k: form_text(c.form, k) for k in room_values(None)}
        values["needs_approval"] = form_text(c.form, "needs_approval")
        return c.render(
            "rooms/edit.html",
            exc.status,
            room=room,
            values=values,
            errors=_form_errors(c, exc),
            weekdays=WEEKDAYS,
        )
    return c.redirect(f"/console/rooms/{room.id}", "rooms.saved")


def _week_start(raw: str | None, today: date) -> date:
    try:
        asked = date.fromisoformat(raw) if raw else today
    except ValueError:
        raise ValidationError.field("start", "must be a date YYYY-MM-DD") from None
    if not in_years(asked):
        raise ValidationError.field("start", YEARS_TEXT)
    return asked


async def _week_page(
    c: Console,
    room_id: int,
    start: date,
    *,
    status: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> web.Response:
    """The week of bookings and events, the booking form under it."""
    week = await week_view(c.store, room_id, start, tz=c.tz, masked=False)
    people = await residents.list_residents(
        c.store,
        text=None,
        unit=None,
        phone=None,
        tag=[],
        household_id=None,
        limit=RESIDENT_CHOICES,
        offset=0,
        region=c.settings.community.phone_region,
    )
    today = c.now.astimezone(c.tz).date()
    form = {
        "date": max(start, today).isoformat(),
        "start": "",
        "end": "",
        "title": "",
        "party_size": "1",
        "weeks": "1",
        "resident_id": "",
        "override_rules": "",
    }
    form.update(values or {})
    base = f"/console/rooms/{room_id}/week?start="
    return c.render(
        "rooms/week.html",
        status,
        week=week,
        room=week.room,
        prev=base + (start - timedelta(days=7)).isoformat(),
        next=base + (start + timedelta(days=7)).isoformat(),
        today=today.isoformat(),
        residents=[(str(r.id), f"{r.name} · {r.unit}") for r in people.items],
        values=form,
        errors=dict(errors or {}),
        nonce=secrets.token_urlsafe(16),
    )


@_page("GET", r"/rooms/{id:\d+}/week", "a room's week (?start=YYYY-MM-DD)")
@view
async def room_week(request: web.Request, c: Console) -> web.StreamResponse:
    """Seven days from ?start= (today by default), a list per day."""
    today = c.now.astimezone(c.tz).date()
    return await _week_page(c, _room_id(request), _week_start(request.query.get("start"), today))


def booking_data(c: Console, form: Mapping[str, Any]) -> dict[str, Any]:
    """The booking form (a local date, start and end times) as the API's booking body."""
    try:
        day = date.fromisoformat(form_text(form, "date"))
    except ValueError:
        raise ValidationError.field("date", "must be a date YYYY-MM-DD") from None
    moments: list[str] = []
    for name in ("start", "end"):
        try:
            moments.append(
                datetime.combine(day, time.fromisoformat(form_text(form, name)), c.tz).isoformat()
            )
        except ValueError:
            raise ValidationError.field(name, "must be a time HH:MM") from None
    return {
        "starts_at": moments[0],
        "ends_at": moments[1],
        "resident_id": form_text(form, "resident_id") or None,
        "title": form_text(form, "title"),
        "party_size": form_text(form, "party_size") or 1,
        "weeks": form_text(form, "weeks") or 1,
        "override_rules": bool(form.get("override_rules")),
        "language": c.lang,
        "request_key": form_text(form, "nonce") or None,
    }


def _booking_errors(c: Console, exc: ServiceError) -> dict[str, str]:
    """A refusal beside the booking form's field it is about."""
    errors: dict[str, str] = {}
    for key, message in c.errors(exc).items():
        errors.setdefault(_BOOKING_FIELD.get(key, key), message)
    return errors


@_page("POST", r"/rooms/{id:\d+}/week", "book the room on a resident's behalf")
@view
async def room_book(request: web.Request, c: Console) -> web.StreamResponse:
    """The same request as POST /api/v1/rooms/{id}/bookings; a broken rule comes back
    beside its field, and weeks that did not fit are named in the flash."""
    room_id = _room_id(request)
    start = _week_start(form_text(c.form, "week"), c.now.astimezone(c.tz).date())
    try:
        body = c.parse(BookingIn, booking_data(c, c.form))
        delivery = request.app[delivery_key]
        result = await bookings.request_booking(
            c.store,
            staff_request(body, room_id, by=c.me.name, source="console"),
            now=c.now,
            tz=c.tz,
            composer=delivery.ready(),
        )
    except ServiceError as exc:
        if isinstance(exc, NotFoundError) and exc.code == "room_not_found":
            raise
        values = {
            k: form_text(c.form, k)
            for k in (
                "date",
                "start",
                "end",
                "title",
                "party_size",
                "weeks",
                "resident_id",
                "override_rules",
            )
        }
        return await _week_page(
            c, room_id, start, status=exc.status, values=values, errors=_booking_errors(c, exc)
        )
    booked = result.bookings[0].starts_at.astimezone(c.tz).date()
    target = f"/console/rooms/{room_id}/week?start={booked - timedelta(days=booked.weekday())}"
    if result.conflicts:
        skipped = ", ".join(f"{x.date} ({x.message})" for x in result.conflicts)
        return c.redirect(target, "rooms.booked_skipping", n=len(result.bookings), skipped=skipped)
    return c.redirect(target, "rooms.booked", n=len(result.bookings))


async def _booking(c: Console, request: web.Request) -> Booking:
    return await bookings.get_booking(
        c.store, path_id(request, "booking_not_found", "booking", "bid")
    )


@_page("POST", r"/bookings/{bid:\d+}/cancel", "cancel a booking (confirm=yes)")
@view
async def booking_cancel(request: web.Request, c: Console) -> web.StreamResponse:
    """The same step as the API's cancel; the resident is told."""
    c.require_confirm()
    found = await _booking(c, request)
    delivery = request.app[delivery_key]
    done = await bookings.cancel(c.store, found.id, now=c.now, tz=c.tz, composer=delivery.ready())
    day = done.starts_at.astimezone(c.tz).date()
    back = form_text(c.form, "back") or (
        f"/console/rooms/{done.room_id}/week?start={day - timedelta(days=day.weekday())}"
    )
    return c.redirect(back if back.startswith("/console/") else "/console/rooms", "rooms.cancelled")


async def _decide(request: web.Request, c: Console, *, confirm: bool) -> web.StreamResponse:
    found = await _booking(c, request)
    delivery = request.app[delivery_key]
    await bookings.decide(
        c.store,
        found.id,
        confirm=confirm,
        by=f"organiser:{c.me.name}",
        reason=form_text(c.form, "reason"),
        now=c.now,
        tz=c.tz,
        composer=delivery.ready(),
    )
    return c.redirect(
        "/console/bookings/pending", "rooms.confirmed" if confirm else "rooms.declined"
    )


@_page("GET", "/bookings/pending", "the approval queue")
@view
async def pending(request: web.Request, c: Console) -> web.StreamResponse:
    """Pending bookings of every room, soonest first."""
    items, total = await bookings.list_bookings(c.store, status="pending", limit=QUEUE_SIZE)
    names = {r.id: r.name for r in (await rooms.list_rooms(c.store)).items}
    return c.render("rooms/pending.html", items=items, total=total, rooms=names)


@_page("POST", r"/bookings/{bid:\d+}/confirm", "confirm a pending booking")
@view
async def booking_confirm(request: web.Request, c: Console) -> web.StreamResponse:
    """Confirming gives the booking its check-in code and tells the resident."""
    return await _decide(request, c, confirm=True)


@_page("POST", r"/bookings/{bid:\d+}/decline", "decline a pending booking (confirm=yes)")
@view
async def booking_decline(request: web.Request, c: Console) -> web.StreamResponse:
    """Declining frees the slot and tells the resident, with the reason if one is given."""
    c.require_confirm()
    return await _decide(request, c, confirm=False)

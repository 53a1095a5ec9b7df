"""Room bookings: the organisers' API (/api/v1/rooms/{id}/bookings, the week view, the
approval queue) and the resident's booking page behind their signed link (/b/{token})."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup
from pydantic import AwareDatetime, Field

from .. import bookings
from ..bookings import WEEKS_MAX, BookingRequest, BookingResult
from ..checkin_codes import qr_svg
from ..clock import in_years
from ..errors import NotFoundError, ServiceError, ValidationError
from ..i18n import date_text
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..links import read_booking_token
from ..models import Page
from ..rooms import WEEKDAYS
from ..store import bookings as booking_sql
from ..store import rooms as room_sql
from ..store.bookings import Booking
from .jsonio import MAX_ID, Body, Query, path_id, read_form, read_int, reply
from .pages import not_found_page, page
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, RawBody, principal

routes = Api()
# A step on one booking: (store, booking id, now=, tz=, composer=) -> the booking after it.
Step = Callable[..., Awaitable[Booking]]
TAG = "bookings"
STATUSES: Final = ("pending", "confirmed", "declined", "cancelled")
_MAX_NONCE: Final = 100


class BookingIn(Body):
    """A booking an organiser makes (for a resident, or for the community)."""

    starts_at: AwareDatetime = Field(description="With its offset, e.g. 2026-12-05T14:00:00+08:00")
    ends_at: AwareDatetime
    resident_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Whose booking (counts for their household)"
    )
    title: str = Field("", max_length=bookings.TITLE_MAX)
    party_size: int = Field(1, ge=1, le=bookings.PARTY_MAX)
    note: str = Field("", max_length=bookings.NOTE_MAX)
    weeks: int = Field(1, ge=1, le=WEEKS_MAX, description="Repeat weekly this many times")
    override_rules: bool = Field(
        False,
        description="Skip the room's rules (length, notice, days ahead, household limit,"
        " hours, closed dates); overlaps are refused all the same",
    )
    language: str = Field(
        "zh-CN", pattern="^(zh-CN|en)$", description="Refusals' language with no resident"
    )
    request_key: str | None = Field(
        None, min_length=1, max_length=_MAX_NONCE, description="Makes a retry book nothing twice"
    )


class DecisionIn(Body):
    """An optional word to the resident with a decision (a reason for declining)."""

    reason: str = Field("", max_length=bookings.NOTE_MAX, description="Shown in the message")


class BookingQuery(PageQuery):
    """Filter bookings by status."""

    status: str | None = Field(None, pattern="^(pending|confirmed|declined|cancelled)$")


class WeekQuery(Query):
    """The week's first day (local); today when left out."""

    start: date | None = Field(None, description="YYYY-MM-DD")


def _room_id(request: web.Request) -> int:
    return path_id(request, "room_not_found", "room")


async def _in_room(request: web.Request) -> Booking:
    """The path's booking, which must be the path's room's."""
    room_id = _room_id(request)
    booking_id = path_id(request, "booking_not_found", "booking", "bid")
    found = await bookings.get_booking(request.app[store_key], booking_id)
    if found.room_id != room_id:
        raise NotFoundError(f"no booking {booking_id} in room {room_id}", code="booking_not_found")
    return found


def staff_request(body: BookingIn, room_id: int, *, by: str, source: str) -> BookingRequest:
    """A staff member's booking body as the domain's request; `source` ("api", "console")
    keeps one path's request keys apart from another's."""
    return BookingRequest(
        room_id=room_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        resident_id=body.resident_id,
        title=body.title,
        party_size=body.party_size,
        note=body.note,
        weeks=body.weeks,
        booked_by=f"organiser:{by}",
        override_rules=body.override_rules,
        language=body.language,
        request_key=None if body.request_key is None else f"{source}:{body.request_key}",
    )


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings",
    summary="Book a room (weekly for `weeks` weeks); conflicting weeks are reported",
    tag=TAG,
    roles=STAFF,
    body=BookingIn,
    response=BookingResult,
    status=201,
    errors=(404, 409),
)
async def create_booking(request: web.Request, body: BookingIn) -> web.Response:
    """Every week that fits is booked (confirmed: staff need no approval); each week that
    does not is listed in `conflicts` with its date and rule code. When none fits: 409 with
    the first refusal's code (rule_max_length, rule_min_notice, rule_days_ahead,
    rule_household_week, room_closed, outside_hours, slot_taken)."""
    delivery = request.app[delivery_key]
    result = await bookings.request_booking(
        request.app[store_key],
        staff_request(body, _room_id(request), by=principal(request).name, source="api"),
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        composer=delivery.ready(),
    )
    return reply(request, result, 200 if result.repeated else 201)


async def _page(request: web.Request, query: BookingQuery, room_id: int | None) -> web.Response:
    items, total = await bookings.list_bookings(
        request.app[store_key],
        room_id=room_id,
        status=query.status,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, Page(tuple(items), total, query.limit, query.offset))


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/bookings",
    summary="List a room's bookings",
    tag=TAG,
    roles=STAFF,
    query=BookingQuery,
    response=ListOf(Booking),
)
async def list_room_bookings(request: web.Request, query: BookingQuery) -> web.Response:
    """By start time."""
    room_id = _room_id(request)
    await bookings.room_of(request.app[store_key], room_id)
    return await _page(request, query, room_id)


@routes.route(
    "GET",
    "/bookings",
    summary="List bookings of every room; ?status=pending is the approval queue",
    tag=TAG,
    roles=STAFF,
    query=BookingQuery,
    response=ListOf(Booking),
)
async def list_all_bookings(request: web.Request, query: BookingQuery) -> web.Response:
    """By start time."""
    return await _page(request, query, None)


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}",
    summary="Get a booking",
    tag=TAG,
    roles=STAFF,
    response=Booking,
)
async def get_booking(request: web.Request) -> web.Response:
    """One booking of the room."""
    return reply(request, await _in_room(request))


async def _act(request: web.Request, step: Step) -> web.Response:
    """Run one step on the path's booking with what every step needs, and reply with it."""
    await _in_room(request)
    delivery = request.app[delivery_key]
    done = await step(
        request.app[store_key],
        path_id(request, "booking_not_found", "booking", "bid"),
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        composer=delivery.ready(),
    )
    return reply(request, done)


def _decide(request: web.Request, body: DecisionIn, confirm: bool) -> Step:
    by = f"organiser:{principal(request).name}"
    return partial(bookings.decide, confirm=confirm, reason=body.reason, by=by)


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/confirm",
    summary="Confirm a pending booking (it gets its check-in code)",
    tag=TAG,
    roles=STAFF,
    body=DecisionIn,
    response=Booking,
    errors=(404, 409),
)
async def confirm_booking(request: web.Request, body: DecisionIn) -> web.Response:
    """Confirming again changes nothing; a declined or cancelled one is 409."""
    return await _act(request, _decide(request, body, True))


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/decline",
    summary="Decline a pending booking (its slot frees)",
    tag=TAG,
    roles=STAFF,
    body=DecisionIn,
    response=Booking,
    errors=(404, 409),
)
async def decline_booking(request: web.Request, body: DecisionIn) -> web.Response:
    """Declining again changes nothing; a confirmed or cancelled one is 409."""
    return await _act(request, _decide(request, body, False))


@routes.route(
    "POST",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}/cancel",
    summary="Cancel a booking (its slot frees, its reminder is not sent)",
    tag=TAG,
    roles=STAFF,
    response=Booking,
    errors=(404, 409),
)
async def cancel_booking(request: web.Request) -> web.Response:
    """Cancelling again changes nothing; an event's hold is 409 event_booking."""
    return await _act(request, bookings.cancel)


@routes.route(
    "DELETE",
    r"/rooms/{id:\d+}/bookings/{bid:\d+}",
    summary="Cancel a booking (the same as POST .../cancel; the row stays, cancelled)",
    tag=TAG,
    roles=STAFF,
    response=Booking,
    errors=(404, 409),
)
async def delete_booking(request: web.Request) -> web.Response:
    """Cancelling again changes nothing."""
    return await _act(request, bookings.cancel)


def _today(request: web.Request) -> date:
    return request.app[clock_key]().astimezone(request.app[settings_key].tz).date()


@routes.route(
    "GET",
    r"/rooms/{id:\d+}/week",
    summary="A room's week: each day's opening hours, taken and free slots",
    tag=TAG,
    roles=STAFF,
    query=WeekQuery,
    response=bookings.Week,
)
async def room_week(request: web.Request, query: WeekQuery) -> web.Response:
    """Times are local HH:MM within each day; taken slots name who holds them (residents'
    own page shows the same view with names masked)."""
    week = await bookings.week_view(
        request.app[store_key],
        _room_id(request),
        query.start or _today(request),
        tz=request.app[settings_key].tz,
        masked=False,
    )
    return reply(request, week)


# ---- the resident's booking page -----------------------------------------------------

PAGE_LANGUAGES: Final = ("zh-CN", "en")
TEXT: Final[Mapping[str, Mapping[str, str]]] = {
    "zh-CN": {
        "heading": "预约活动室",
        "rules": "使用规则",
        "capacity": "容纳 {n} 人",
        "max_length": "单次最长 {n} 分钟",
        "min_notice": "至少提前 {n} 分钟预约",
        "days_ahead": "最多提前 {n} 天预约",
        "household_week": "每户每周最多 {n} 次",
        "buffer": "两次预约之间留 {n} 分钟",
        "approval": "预约需管理员审核",
        "hours": "开放时间",
        "all_day": "全天开放",
        "closed_dates": "不开放日期",
        "week": "本周安排",
        "prev": "上一周",
        "next": "下一周",
        "closed": "不开放",
        "free": "空闲",
        "taken": "已约",
        "pending_slot": "待审核",
        "mine": "（我的）",
        "yours": "我的预约",
        "none": "暂无预约",
        "cancel": "取消预约",
        "request": "申请时段",
        "date": "日期",
        "start": "开始",
        "end": "结束",
        "weeks": "每周重复（周数）",
        "title": "用途（选填）",
        "party": "人数",
        "submit": "提交预约",
        "saved_confirmed": "预约成功！",
        "saved_pending": "已提交，等待管理员审核。",
        "skipped": "以下日期未能预约：{dates}",
        "cancelled": "已取消预约。",
        "form": "表单有误，请检查后重新提交。",
        "checkin": "签到码",
        "checkin_hint": "到时在门口平板输入签到码或扫描二维码。",
        "status_pending": "待审核",
        "status_confirmed": "已确认",
        "status_declined": "未通过",
        "status_cancelled": "已取消",
        "no_rooms": "暂无可预约的房间。",
        "mon": "周一",
        "tue": "周二",
        "wed": "周三",
        "thu": "周四",
        "fri": "周五",
        "sat": "周六",
        "sun": "周日",
    },
    "en": {
        "heading": "Book the room",
        "rules": "House rules",
        "capacity": "Holds {n} people",
        "max_length": "At most {n} minutes per booking",
        "min_notice": "Book at least {n} minutes ahead",
        "days_ahead": "Book at most {n} days ahead",
        "household_week": "At most {n} bookings per household per week",
        "buffer": "{n} minutes kept free between bookings",
        "approval": "Bookings need an organiser's approval",
        "hours": "Opening hours",
        "all_day": "Open all day",
        "closed_dates": "Closed on",
        "week": "This week",
        "prev": "Previous week",
        "next": "Next week",
        "closed": "Closed",
        "free": "Free",
        "taken": "Taken",
        "pending_slot": "awaiting approval",
        "mine": " (mine)",
        "yours": "Your bookings",
        "none": "No bookings yet",
        "cancel": "Cancel booking",
        "request": "Request a slot",
        "date": "Date",
        "start": "From",
        "end": "Until",
        "weeks": "Repeat weekly (weeks)",
        "title": "What for (optional)",
        "party": "People",
        "submit": "Request",
        "saved_confirmed": "Booked!",
        "saved_pending": "Sent: it waits for an organiser's approval.",
        "skipped": "These dates could not be booked: {dates}",
        "cancelled": "Your booking is cancelled.",
        "form": "Something in the form is wrong; please check it and send it again.",
        "checkin": "Check-in code",
        "checkin_hint": "Type the code on the door tablet or show the QR code.",
        "status_pending": "awaiting approval",
        "status_confirmed": "confirmed",
        "status_declined": "declined",
        "status_cancelled": "cancelled",
        "no_rooms": "No room can be booked yet.",
        "mon": "Mon",
        "tue": "Tue",
        "wed": "Wed",
        "thu": "Thu",
        "fri": "Fri",
        "sat": "Sat",
        "sun": "Sun",
    },
}


async def _resident(request: web.Request) -> tuple[int, str, str] | None:
    """(resident id, name, page language) the link names, or None."""
    key = request.app[delivery_key].ready().links.key
    resident_id = read_booking_token(key, request.match_info["token"])
    if resident_id is None:
        return None
    found = await booking_sql.household_of(request.app[store_key].reader, resident_id)
    if found is None:
        return None
    _, name, language = found
    return resident_id, name, language if language in PAGE_LANGUAGES else PAGE_LANGUAGES[0]


async def _refused(
    request: web.Request, who: tuple[int, str, str], exc: ServiceError
) -> web.Response:
    """This week's page saying the form could not be taken (with the error's status)."""
    return await _render(
        request,
        who,
        room_id=None,
        start=_today(request),
        status=exc.status,
        problem=TEXT[who[2]]["form"],
    )


def _int(raw: object, default: int | None = None) -> int | None:
    found = read_int(raw)
    return default if found is None else found


def _week_start(raw: object, today: date) -> date:
    """The week the link asks for; today's for a date that is not one, or is out of range."""
    if isinstance(raw, str):
        try:
            asked = date.fromisoformat(raw)
        except ValueError:
            return today
        return asked if in_years(asked) else today
    return today


async def _render(
    request: web.Request,
    who: tuple[int, str, str],
    *,
    room_id: int | None,
    start: date,
    status: int = 200,
    saved: str = "",
    problem: str = "",
    form: Mapping[str, str] | None = None,
) -> web.Response:
    """The resident's page: rules, the week, their bookings and the request form."""
    resident_id, name, lang = who
    text = TEXT[lang]
    settings = request.app[settings_key]
    tz = settings.tz
    store = request.app[store_key]
    now = request.app[clock_key]()
    rooms = await room_sql.list_rooms(store.reader)
    room = next((r for r in rooms if r.id == room_id), rooms[0] if rooms else None)
    week = None
    if room is not None:
        week = await bookings.week_view(
            store, room.id, start, tz=tz, masked=True, resident_id=resident_id
        )
    mine, _ = await booking_sql.list_bookings(
        store.reader, resident_id=resident_id, after=now, limit=50
    )
    own = [
        {
            "booking": b,
            "room": next((r.name for r in rooms if r.id == b.room_id), ""),
            "when": bookings.when_text(b, tz, lang),
            "status": text[f"status_{b.status}"],
            "live": b.status in booking_sql.LIVE,
            "qr": Markup(qr_svg(b.checkin_code))
            if b.checkin_code and b.status == "confirmed"
            else "",
        }
        for b in mine
    ]
    token = request.match_info["token"]
    base = f"/b/{token}"
    nav = {}
    if room is not None:
        for label, days in (("prev", -7), ("next", 7)):
            nav[label] = f"{base}?" + urlencode(
                {"room": room.id, "start": (start + timedelta(days=days)).isoformat()}
            )
    default_day = max(start, now.astimezone(tz).date())
    values = {"date": default_day.isoformat(), "start": "", "end": "", "weeks": "1", "title": ""}
    values.update(form or {})
    return page(
        "booking.html",
        status,
        lang=lang,
        t=text,
        community=settings.community.name,
        resident_name=name,
        rooms=rooms,
        room=room,
        week=week,
        weekdays=WEEKDAYS,
        own=own,
        action=base,
        cancel_action=f"{base}/cancel",
        nav=nav,
        nonce=secrets.token_urlsafe(16),
        values=values,
        weeks=range(1, WEEKS_MAX + 1),
        saved=saved,
        problem=problem,
        today=date_text(now.astimezone(tz), lang),
    )


@routes.route(
    "GET",
    "/b/{token}",
    summary="A resident's booking page: rules, week view, their bookings, a request form",
    tag="booking page",
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def booking_page(request: web.Request) -> web.Response:
    """Only reads (link previews fetch it too); ?room= and ?start= pick the week."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    text = TEXT[who[2]]
    saved = ""
    if request.query.get("saved") in ("confirmed", "pending"):
        saved = text[f"saved_{request.query['saved']}"]
    elif request.query.get("saved") == "cancelled":
        saved = text["cancelled"]
    skipped = request.query.get("skipped", "")
    if skipped:
        saved = f"{saved} {text['skipped'].format(dates=skipped[:400])}"
    return await _render(
        request,
        who,
        room_id=_int(request.query.get("room")),
        start=_week_start(request.query.get("start"), _today(request)),
        saved=saved,
    )


def _form_request(form: Mapping[str, Any], resident_id: int, tz: Any) -> tuple[BookingRequest, str]:
    """A booking request from the page's form (local date and times), and its nonce."""
    room_id = _int(form.get("room_id"))
    if room_id is None:
        raise ValidationError.field("room_id", "choose a room")
    try:
        day = date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        raise ValidationError.field("date", "must be a date YYYY-MM-DD") from None
    moments: list[datetime] = []
    for name in ("start", "end"):
        try:
            moments.append(datetime.combine(day, time.fromisoformat(str(form.get(name, ""))), tz))
        except ValueError:
            raise ValidationError.field(name, "must be a time HH:MM") from None
    weeks = _int(form.get("weeks"), 1) or 1
    party = _int(form.get("party_size"), 1) or 1
    nonce = form.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE:
        raise ValidationError.field("nonce", "is not one this page made", code="invalid_nonce")
    title = form.get("title", "")
    return (
        BookingRequest(
            room_id=room_id,
            starts_at=moments[0],
            ends_at=moments[1],
            resident_id=resident_id,
            title=title if isinstance(title, str) else "",
            party_size=party,
            weeks=weeks,
            booked_by="resident",
            request_key=f"page:{resident_id}:{nonce}",
        ),
        nonce,
    )


def _problem(text: Mapping[str, str], error: ServiceError) -> str:
    """A refusal in the resident's words: rule refusals already are; the rest is generic."""
    if error.code in bookings.RULE_FIELD:
        return error.message
    return text["form"]


@routes.route(
    "POST",
    "/b/{token}",
    summary="Request a slot from the booking page's form; 303 back to the page",
    tag="booking page",
    roles=None,
    body=RawBody(
        "application/x-www-form-urlencoded",
        "room_id, date (YYYY-MM-DD), start and end (HH:MM, local), weeks, party_size, title"
        " and the page's nonce, which makes a repeated submission book nothing twice",
    ),
    response_media="text/html",
    errors=(400, 404, 409),
    prefixed=False,
)
async def booking_submit(request: web.Request) -> web.Response:
    """Post/Redirect/Get: 303 to the page saying what was booked (and which weeks were
    not); a refused request gets the page with the broken rule named (400 or 409)."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    tz = request.app[settings_key].tz
    room_id = _int(form.get("room_id"))
    start = _week_start(form.get("date"), _today(request))
    start -= timedelta(days=start.weekday())
    try:
        booking_request, _ = _form_request(form, who[0], tz)
        delivery = request.app[delivery_key]
        result = await bookings.request_booking(
            request.app[store_key],
            booking_request,
            now=request.app[clock_key](),
            tz=tz,
            composer=delivery.ready(),
        )
    except ServiceError as exc:
        if isinstance(exc, NotFoundError):
            return not_found_page(request)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "nonce"}
        return await _render(
            request,
            who,
            room_id=room_id,
            start=start,
            status=exc.status,
            problem=_problem(TEXT[who[2]], exc),
            form=values,
        )
    query: dict[str, object] = {
        "room": booking_request.room_id,
        "start": start.isoformat(),
        "saved": result.bookings[0].status,
    }
    if result.conflicts:
        query["skipped"] = ", ".join(c.date for c in result.conflicts)
    return web.Response(
        status=303, headers={"Location": f"/b/{request.match_info['token']}?{urlencode(query)}"}
    )


@routes.route(
    "POST",
    "/b/{token}/cancel",
    summary="Cancel one of the resident's own bookings from the page; 303 back",
    tag="booking page",
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "booking_id and the page's nonce"),
    response_media="text/html",
    errors=(404, 409),
    prefixed=False,
)
async def booking_cancel(request: web.Request) -> web.Response:
    """Only the link's resident's bookings; cancelling twice changes nothing."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    booking_id = _int(form.get("booking_id"))
    if booking_id is None:
        return not_found_page(request)
    tz = request.app[settings_key].tz
    delivery = request.app[delivery_key]
    try:
        cancelled = await bookings.cancel(
            request.app[store_key],
            booking_id,
            now=request.app[clock_key](),
            tz=tz,
            composer=delivery.ready(),
            resident_id=who[0],
        )
    except NotFoundError:
        return not_found_page(request)
    except ServiceError as exc:
        return await _refused(request, who, exc)
    query = urlencode({"room": cancelled.room_id, "saved": "cancelled"})
    return web.Response(
        status=303, headers={"Location": f"/b/{request.match_info['token']}?{query}"}
    )

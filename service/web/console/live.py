"""The console's live pages of one event: sending with its progress bar, the attendance
table (updated as answers arrive, with its CSV and answers taken by phone), and the
check-in list with check-in by code."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from ...core.errors import ServiceError
from ...core.models import AnswerVia, Event, Invitation, MessageStatus, RsvpState
from ...delivery import delivery_log
from ...delivery.delivery_log import SendProgress
from ...domain import attendance_sheet, checkin, rsvp, sending
from ...domain.checkin import Arrival, CheckinRefused
from ...domain.events import get_event
from ...keys import delivery_key
from .. import rsvp as rsvp_api
from ..checkin import CheckinIn
from ..jsonio import path_id, read_int
from ..routing import Handler
from ..rsvp import AnswerIn
from .base import TAG, Console, console_routes, sse_response, view

routes = console_routes()
HTML: Final = "text/html"
SSE: Final = "text/event-stream"
_EVENT: Final = r"/events/{id:\d+}"
# Statuses the progress bar shows always; the others only once a message has them.
MAIN_STATUSES: Final = tuple(
    str(s) for s in (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED)
)
EXTRA_STATUSES: Final = tuple(
    str(s) for s in (MessageStatus.DELIVERED, MessageStatus.SUPPRESSED, MessageStatus.EXPIRED)
)
ANSWER_STATES: Final = tuple(state.value for state in RsvpState)
VIAS: Final = frozenset(via.value for via in AnswerVia)
REFUSALS: Final = frozenset(
    {"unknown_code", "wrong_room", "not_today", "cancelled", "already_checked_in"}
)
ROWS: Final = 500
# Answers in the attendance page's "latest answers" strip.
LATEST: Final = 5


def _page(method: str, path: str, summary: str, media: str = HTML) -> Callable[[Handler], Handler]:
    """A page of this module in the route table (signed in by @view, not by token)."""
    return routes.route(
        method, _EVENT + path, summary=summary, tag=TAG, roles=None, response_media=media
    )


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@dataclass(frozen=True)
class Redo:
    """A form sent back to be put right: its status, the problems by field, what was typed."""

    status: int = 200
    errors: Mapping[str, str] = field(default_factory=dict)
    typed: Mapping[str, Any] = field(default_factory=dict)


FRESH: Final = Redo()


def _filled(form: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The named form values that were typed (a blank box means "not given")."""
    found: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            found[name] = value.strip()
    return found


# Sending and its progress


def progress_data(p: SendProgress) -> dict[str, Any]:
    """What the progress bar shows, as the page renders it and the stream sends it."""
    waiting = [s for s in MessageStatus if s.waiting]
    queued, sent, delivered = MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED

    def row(counts: Mapping[str, int]) -> dict[str, int]:
        found = {s: counts.get(s, 0) for s in (*MAIN_STATUSES, *EXTRA_STATUSES)}
        found[queued] = sum(counts.get(s, 0) for s in waiting)
        # A delivered message was sent first (the receipt came later): sent counts it too.
        found[sent] += found[delivered]
        return found

    return {
        **row(p.by_status),
        "total": p.total,
        "percent": p.percent,
        "channels": {ch: row(counts) for ch, counts in sorted(p.by_channel.items())},
        "done": p.waiting == 0,
    }


@_page("POST", "/send", "Invite the event's audience, then watch the progress")
@view
async def send_event(request: web.Request, c: Console) -> web.StreamResponse:
    """The API's send: residents invited before are not invited again."""
    event_id = _event_id(request)
    delivery = request.app[delivery_key]
    report = await sending.send_event(
        c.store,
        delivery.ready(),
        event_id,
        now=c.now,
        batch=delivery.settings.delivery.enqueue_batch,
        # The group chats of the audience too, or only them (the send form's boxes).
        groups=bool(c.form.get("send_groups")) or bool(c.form.get("groups_only")),
        personal=not c.form.get("groups_only"),
    )
    return c.redirect(
        f"/console/events/{event_id}/send",
        "live.sent_flash",
        invited=report.invited,
        already=report.already_invited,
    )


@_page("GET", "/send", "The invitation's progress: queued, sent and failed by channel")
@view
async def send_page(request: web.Request, c: Console) -> web.StreamResponse:
    """The counts at load time; live.js keeps them moving from the stream."""
    event = await get_event(c.store, _event_id(request))
    found = await delivery_log.send_progress(c.store, event.id)
    stood_in = request.app[delivery_key].stand_ins()
    labels = {
        ch: c.t("live.channel_stood_in", channel=c.t(f"live.channel_{ch}"))
        if ch in stood_in
        else c.t(f"live.channel_{ch}")
        for ch in sending.ALL_CHANNELS
    }
    demo = [c.t(f"live.channel_{ch}") for ch in sorted(found.by_channel) if ch in stood_in]
    # Only files were written: "delivered" would claim what did not happen.
    all_files = bool(found.by_channel) and set(found.by_channel) <= stood_in
    statuses = {s: c.t(f"live.status_{s}") for s in (*MAIN_STATUSES, *EXTRA_STATUSES)}
    if all_files:
        statuses[str(MessageStatus.DELIVERED)] = c.t("live.status_written")
    return c.render(
        "events/send.html",
        event=event,
        p=progress_data(found),
        extras=EXTRA_STATUSES,
        labels=labels,
        demo=c.t("common.list_sep").join(demo),
        statuses=statuses,
    )


@_page("GET", "/send/stream", "The invitation's progress, as server-sent events", SSE)
@view
async def send_stream(request: web.Request, c: Console) -> web.StreamResponse:
    """Ends once no invitation is queued or sending."""
    event_id = _event_id(request)

    async def poll() -> dict[str, Any]:
        return progress_data(await delivery_log.send_progress(c.store, event_id))

    return await sse_response(request, poll, event="progress")


# Attendance


def _answer_filter(c: Console) -> RsvpState | None:
    asked = c.request.query.get("answer", "")
    return RsvpState(asked) if asked in ANSWER_STATES else None


def _after(c: Console) -> int:
    return read_int(c.request.query.get("after")) or 0


def _row(
    c: Console, item: Invitation, came: Mapping[int, Arrival], *, ended: bool
) -> dict[str, Any]:
    """One line of the attendance table, in words of the page's language."""
    last = item.history[-1] if item.history else None
    via = last.via if last is not None and item.answer is not RsvpState.PENDING else ""
    arrival = came.get(item.id)
    answer = c.t(f"live.answer_{item.answer.value}")
    if item.waitlist_position:
        answer = c.t("live.waitlist_place", answer=answer, place=item.waitlist_position)
    if item.reconfirm_requested_at is not None:  # who reconfirmed (domain/reconfirm.py)
        if item.reconfirmed_at is not None:
            state = "reconfirmed"
        else:
            state = f"reconfirm_{item.reconfirm_outcome or 'waiting'}"
        answer = c.t("live.with_reconfirm", answer=answer, state=c.t(f"live.{state}"))
    return {
        "id": item.id,
        "name": item.resident_name,
        "unit": item.unit,
        "answer": item.answer.value,
        "answer_text": answer,
        # A no (or no answer yet) brings nobody: its cell stays empty.
        "party": "" if item.answer in (RsvpState.NO, RsvpState.PENDING) else item.party_size,
        "via": c.t(f"live.via_{via}") if via in VIAS else via,
        "at": _local(c, item.answered_at),
        "checked_in": _local(c, arrival.at)
        if arrival is not None
        else c.t("live.no_show")
        if ended and item.answer is RsvpState.YES
        else "",
    }


def _local(c: Console, moment: Any) -> str:
    return "" if moment is None else str(moment.astimezone(c.tz).strftime("%m-%d %H:%M"))


async def attendance_data(
    c: Console, event_id: int, answer: RsvpState | None, after: int
) -> dict[str, Any]:
    """Counts and rows of the attendance table, as rendered and as streamed."""
    found = await rsvp.attendance(c.store, event_id, answer=answer, after_id=after, limit=ROWS)
    ended = attendance_sheet.has_ended(await get_event(c.store, event_id), c.now)
    came = {
        a.invitation_id: a
        for a in await checkin.event_arrivals(c.store, event_id)
        if a.invitation_id is not None
    }
    return {
        "counts": {
            "yes": found.yes,
            "no": found.no,
            "maybe": found.maybe,
            "waitlisted": found.waitlisted,
            "pending": found.pending,
            "people": found.people_yes,
            "checked_in": found.people_checked_in,
        },
        "rows": [_row(c, item, came, ended=ended) for item in found.items],
        "next_after": found.next_after,
        # The strip of latest answers: who, what, when, newest first.
        "latest": [
            {
                "id": recent.invitation_id,
                "name": recent.resident_name,
                "answer": recent.change.answer.value,
                "answer_text": c.t(f"live.answer_{recent.change.answer.value}"),
                "at": _local(c, recent.change.at),
            }
            for recent in await rsvp.latest_answers(c.store, event_id, LATEST)
        ],
    }


async def _attendance(c: Console, event: Event, redo: Redo = FRESH) -> web.Response:
    answer = _answer_filter(c)
    after = _after(c)
    data = await attendance_data(c, event.id, answer, after)
    # Whom an answer can be recorded for: everyone invited, whatever the filter shows.
    invited = await rsvp.attendance(c.store, event.id, limit=ROWS, with_history=False)
    query = f"?answer={answer.value}" if answer else ""
    if after:
        query += ("&" if query else "?") + f"after={after}"
    return c.render(
        "events/attendance.html",
        redo.status,
        event=event,
        data=data,
        answer=answer.value if answer else "",
        states=ANSWER_STATES,
        stream=f"/console/events/{event.id}/attendance/stream{query}",
        invited=[(i.resident_id, f"{i.resident_name} · {i.unit}") for i in invited.items],
        errors=redo.errors,
        typed=redo.typed,
    )


@_page("GET", "/attendance", "The attendance table, live, with answers taken by phone")
@view
async def attendance_page(request: web.Request, c: Console) -> web.StreamResponse:
    """?answer= filters (yes, no, maybe, waitlisted, pending); ?after= pages on."""
    return await _attendance(c, await get_event(c.store, _event_id(request)))


@_page("GET", "/attendance/stream", "The attendance table, as server-sent events", SSE)
@view
async def attendance_stream(request: web.Request, c: Console) -> web.StreamResponse:
    """The same counts and rows as the page (same filter), whenever they change."""
    event_id = _event_id(request)
    answer = _answer_filter(c)
    after = _after(c)
    await get_event(c.store, event_id)

    seen: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    async def poll() -> dict[str, Any]:
        # The whole table is read again only when the cheap mark says something changed.
        nonlocal seen
        mark = await rsvp.attendance_mark(c.store, event_id)
        if seen is None or seen[0] != mark:
            seen = (mark, await attendance_data(c, event_id, answer, after))
        return seen[1]

    return await sse_response(request, poll, event="attendance")


@_page("POST", "/attendance", "Record an answer a resident gave by phone or in person")
@view
async def record_answer(request: web.Request, c: Console) -> web.StreamResponse:
    """The API's on-behalf answer: capacity and waitlist apply, the resident is told."""
    event = await get_event(c.store, _event_id(request))
    typed = _filled(c.form, "resident_id", "answer", "party_size")
    try:
        body = c.parse(AnswerIn, typed)
        delivery = request.app[delivery_key]
        outcome = await rsvp.apply_answer(
            c.store,
            rsvp.AnswerRequest(
                event_id=event.id,
                resident_id=body.resident_id,
                answer=RsvpState(body.answer),
                via=AnswerVia.ORGANISER,
                party_size=body.party_size,
                actor=f"organiser:{c.me.name}",
            ),
            now=c.now,
            after=delivery.followups().after_answer,
        )
    except ServiceError as exc:
        return await _attendance(c, event, Redo(exc.status, c.errors(exc), typed))
    return c.redirect(
        f"/console/events/{event.id}/attendance",
        "live.answer_recorded",
        name=outcome.invitation.resident_name,
        answer=c.t(f"live.answer_{outcome.invitation.answer.value}"),
    )


@_page("GET", "/attendance.csv", "The attendance list as CSV (UTF-8 with BOM)", "text/csv")
@view
async def attendance_csv(request: web.Request, c: Console) -> web.StreamResponse:
    """The CSV of GET /api/v1/events/{id}/attendance.csv, in the console's language."""
    return await rsvp_api.write_attendance_csv(request, _event_id(request), c.lang)


# Check-ins


async def _checkins(c: Console, event: Event, redo: Redo = FRESH) -> web.Response:
    arrivals = await checkin.event_arrivals(c.store, event.id)
    return c.render(
        "events/checkins.html",
        redo.status,
        event=event,
        arrivals=arrivals,
        people=sum(a.party_size + a.walk_ins for a in arrivals),
        # A resubmitted form (a double tap, a reload) then checks nobody in twice.
        nonce=secrets.token_urlsafe(16),
        errors=redo.errors,
        typed=redo.typed,
    )


def refusal_text(c: Console, exc: CheckinRefused) -> str:
    """Why the door said no, in the page's language."""
    if exc.code not in REFUSALS:
        return c.error_text(exc)
    at = exc.checked_in_at.astimezone(c.tz).strftime("%H:%M") if exc.checked_in_at else ""
    return c.t(f"live.refused_{exc.code}", at=at)


@_page("GET", "/checkins", "Who came, and check-in by code")
@view
async def checkins_page(request: web.Request, c: Console) -> web.StreamResponse:
    """In order of arrival, walk-ins included, names in full."""
    return await _checkins(c, await get_event(c.store, _event_id(request)))


@_page("POST", "/checkins", "Check a party in by its code (or count walk-ins)")
@view
async def check_in(request: web.Request, c: Console) -> web.StreamResponse:
    """The API's check-in, held to this event: refusals show beside the code."""
    event = await get_event(c.store, _event_id(request))
    typed = _filled(c.form, "code", "party_size", "walk_ins", "nonce")
    try:
        body = c.parse(CheckinIn, typed)
        outcome = await checkin.check_in(
            c.store,
            code=body.code,
            room_id=None,
            event_id=event.id,
            party_size=body.party_size,
            walk_ins=body.walk_ins,
            nonce=body.nonce,
            via="organiser",
            device=c.me.name,
            now=c.now,
            tz=c.tz,
            points=c.settings.passbook,
        )
    except CheckinRefused as exc:
        return await _checkins(c, event, Redo(exc.status, {"code": refusal_text(c, exc)}, typed))
    except ServiceError as exc:
        return await _checkins(c, event, Redo(exc.status, c.errors(exc), typed))
    return c.redirect(
        f"/console/events/{event.id}/checkins",
        "live.checked_in" if outcome.code else "live.walk_ins_counted",
        name=outcome.name,
        people=outcome.party_size + outcome.walk_ins,
    )

"""/api/v1 routes for answers: an organiser recording one, and the attendance list with
its CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from aiohttp import web
from pydantic import Field

from ..core.models import AnswerVia, Invitation, RsvpState
from ..core.phrases import area
from ..domain import attendance_sheet, rsvp
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import MAX_ID, Body, Id, Query, csv_cell, path_id, reply
from .routing import STAFF, Api, principal

routes = Api()
TAG = "answers"
# Excel and WPS read a CSV as UTF-8 only when it starts with a byte order mark.
_BOM = "\ufeff"


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


class AnswerIn(Body):
    """An answer an organiser took for a resident (on the phone, at the door)."""

    resident_id: Id
    answer: Literal["yes", "no", "maybe"]
    party_size: int | None = Field(
        None, ge=1, le=100, description="The resident plus the others they bring"
    )


@dataclass(frozen=True)
class AnswerOut:
    """Where the answer stands, what it was before, and who moved up because of it."""

    invitation: Invitation
    previous: RsvpState
    promoted: tuple[Invitation, ...]


@routes.route(
    "POST",
    r"/events/{id:\d+}/answers",
    summary="Record a resident's answer on their behalf",
    tag=TAG,
    roles=STAFF,
    body=AnswerIn,
    response=AnswerOut,
    errors=(404, 409),
)
async def record_answer(request: web.Request, body: AnswerIn) -> web.Response:
    """The same rules as the resident's own answer (capacity, waitlist), except that an
    organiser may still answer after the deadline and for a resident not yet invited.
    The change is recorded as the organiser's; the resident is told on their channel."""
    delivery = request.app[delivery_key]
    who = principal(request)
    outcome = await rsvp.apply_answer(
        request.app[store_key],
        rsvp.AnswerRequest(
            event_id=_event_id(request),
            resident_id=body.resident_id,
            answer=RsvpState(body.answer),
            via=AnswerVia.ORGANISER,
            party_size=body.party_size,
            actor=f"organiser:{who.name}",
        ),
        now=request.app[clock_key](),
        after=delivery.followups().after_answer,
    )
    return reply(request, AnswerOut(outcome.invitation, outcome.previous, outcome.promoted))


class AttendanceQuery(Query):
    """Which answers to list."""

    answer: RsvpState | None = None
    after: int = Field(0, ge=0, le=MAX_ID, description="List invitations with ids after this one")
    limit: int = Field(100, ge=1, le=500)


@routes.route(
    "GET",
    r"/events/{id:\d+}/attendance",
    summary="Answer counts and the list of answers with their history",
    tag=TAG,
    roles=STAFF,
    query=AttendanceQuery,
    response=rsvp.Attendance,
    errors=(404,),
)
async def attendance(request: web.Request, query: AttendanceQuery) -> web.Response:
    """Counts cover the whole event; `items` is one page by invitation id (pass
    `next_after` as `after` for the next)."""
    found = await rsvp.attendance(
        request.app[store_key],
        _event_id(request),
        answer=query.answer,
        after_id=query.after,
        limit=query.limit,
    )
    return reply(request, found)


# The CSV's columns, each heading `attendance_csv.heading_<column>` in the catalogs.
_CSV_COLUMNS: Final = (
    "name",
    "unit",
    "answer",
    "party",
    "place",
    "answered_at",
    "via",
    "checked_in_at",
    "no_show",
)
_VIAS: Final = frozenset(via.value for via in AnswerVia)


class AttendanceCsvQuery(Query):
    """The language of the CSV's headings and words."""

    lang: Literal["zh-CN", "en"] | None = Field(
        None, description="Headings and answers in this language (default: the community's)"
    )


@routes.route(
    "GET",
    r"/events/{id:\d+}/attendance.csv",
    summary="The attendance list as CSV (UTF-8 with BOM, for Excel and WPS)",
    tag=TAG,
    roles=STAFF,
    query=AttendanceCsvQuery,
    errors=(404,),
    response_media="text/csv",
)
async def attendance_csv(request: web.Request, query: AttendanceCsvQuery) -> web.StreamResponse:
    """One row per invitation: the answer, its path, the check-in time and no-shows."""
    language = query.lang or request.app[settings_key].community.default_language
    return await write_attendance_csv(request, _event_id(request), language)


async def write_attendance_csv(
    request: web.Request, event_id: int, language: str
) -> web.StreamResponse:
    """The attendance CSV of one event, streamed, with headings and words in `language`."""
    settings = request.app[settings_key]
    sheet = attendance_sheet.attendance_sheet(
        request.app[store_key], event_id, now=request.app[clock_key]()
    )
    first = await anext(sheet)  # 404 before the headers go out
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="event-{event_id}-attendance.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(_BOM)
    words = area("attendance_csv", language)
    writer.writerow(words[f"heading_{column}"] for column in _CSV_COLUMNS)
    tz = settings.tz

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    found: list[attendance_sheet.SheetRow] | None = first
    while found is not None:
        for row in found:
            item = row.invitation
            writer.writerow(
                (
                    csv_cell(item.resident_name),
                    csv_cell(item.unit),
                    words[str(item.answer)],
                    item.party_size if row.has_party else "",
                    item.waitlist_position or "",
                    when(item.answered_at),
                    words[f"via_{row.via}" if row.via in _VIAS else "via_other"] if row.via else "",
                    when(row.checked_in_at),
                    words["no_show"] if row.no_show else "",
                )
            )
        await response.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        found = await anext(sheet, None)
    await response.write_eof()
    return response

"""/api/v1/events/{id}/agenda, roster, ticks, close and invite-first: meetings of the
consultation list, and /api/v1/items/publish: outcomes told back."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from ..core.consultation import Meeting, PublishReport, RosterRow, TickReport
from ..core.models import SendReport
from ..domain import meetings, outcomes
from ..domain.items import OUTCOME_MAX
from ..domain.meetings import AGENDA_MAX, MINUTES_MAX, TICKS_MAX
from ..domain.outcomes import PUBLISH_MAX
from ..keys import clock_key, delivery_key, store_key
from .consultation import TAG, DecisionName
from .jsonio import LINE, TEXT, Body, Id, path_id, reply
from .routing import STAFF, Api, principal

routes = Api()


class AgendaIn(Body):
    """The meeting's agenda: items in order (replacing the agenda it had)."""

    item_ids: list[Id] = Field(max_length=AGENDA_MAX)


class TicksIn(Body):
    """The printed roster's ticks: each a door code or a unit."""

    entries: list[str] = Field(
        min_length=1,
        max_length=TICKS_MAX,
        json_schema_extra={"items": {"type": "string", "maxLength": 50, **LINE}},
    )


class ItemDecisionIn(Body):
    """What the meeting decided on one item, and the words residents will read."""

    item_id: Id
    decision: DecisionName
    outcome: str = Field("", max_length=OUTCOME_MAX, json_schema_extra=TEXT)


class CloseIn(Body):
    """Closing a meeting: its minutes and a decision per item discussed."""

    minutes: str = Field("", max_length=MINUTES_MAX, json_schema_extra=TEXT)
    decisions: list[ItemDecisionIn] = Field(default_factory=list, max_length=AGENDA_MAX)


class PublishIn(Body):
    """Decided items whose saved outcomes to publish."""

    item_ids: list[Id] = Field(min_length=1, max_length=PUBLISH_MAX)


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@routes.route(
    "GET",
    r"/events/{id:\d+}/agenda",
    summary="Get a meeting's agenda and record",
    tag=TAG,
    roles=STAFF,
    response=Meeting,
)
async def get_agenda(request: web.Request) -> web.Response:
    """Only meetings (events of kind meeting) have one."""
    return reply(request, await meetings.get_meeting(request.app[store_key], _event_id(request)))


@routes.route(
    "PUT",
    r"/events/{id:\d+}/agenda",
    summary="Set a meeting's agenda",
    tag=TAG,
    roles=STAFF,
    body=AgendaIn,
    response=Meeting,
    errors=(404, 409),
)
async def set_agenda(request: web.Request, body: AgendaIn) -> web.Response:
    """Collected items move on to discussing; the invitations list the agenda."""
    meeting = await meetings.set_agenda(
        request.app[store_key],
        _event_id(request),
        body.item_ids,
        actor=principal(request).name,
        now=request.app[clock_key](),
    )
    return reply(request, meeting)


@routes.route(
    "POST",
    r"/events/{id:\d+}/invite-first",
    summary="Invite the agenda's raisers and supporters first",
    tag=TAG,
    roles=STAFF,
    response=SendReport,
    errors=(404, 409),
)
async def invite_first(request: web.Request) -> web.Response:
    """The ordinary send afterwards invites everyone else."""
    delivery = request.app[delivery_key]
    report = await meetings.invite_first(
        request.app[store_key],
        delivery.ready(),
        _event_id(request),
        now=request.app[clock_key](),
        batch=delivery.settings.delivery.enqueue_batch,
    )
    return reply(request, report)


@routes.route(
    "GET",
    r"/events/{id:\d+}/roster",
    summary="The sign-in sheet of an event",
    tag=TAG,
    roles=STAFF,
    response=list[RosterRow],
)
async def get_roster(request: web.Request) -> web.Response:
    """A row per invited household, names masked."""
    return reply(request, await meetings.roster(request.app[store_key], _event_id(request)))


@routes.route(
    "POST",
    r"/events/{id:\d+}/ticks",
    summary="Enter the paper roster's ticks",
    tag=TAG,
    roles=STAFF,
    body=TicksIn,
    response=TickReport,
    errors=(404,),
)
async def enter_ticks(request: web.Request, body: TicksIn) -> web.Response:
    """Check-ins via paper; entering them again counts nobody twice."""
    report = await meetings.enter_ticks(
        request.app[store_key],
        _event_id(request),
        body.entries,
        actor=principal(request).name,
        now=request.app[clock_key](),
    )
    return reply(request, report)


@routes.route(
    "POST",
    r"/events/{id:\d+}/close",
    summary="Close a meeting",
    tag=TAG,
    roles=STAFF,
    body=CloseIn,
    response=Meeting,
    errors=(404, 409),
)
async def close_meeting(request: web.Request, body: CloseIn) -> web.Response:
    """Minutes, attendees and a decision per item; outcomes are saved, not published."""
    meeting = await meetings.close_meeting(
        request.app[store_key],
        _event_id(request),
        minutes=body.minutes,
        decisions=[meetings.ItemDecision(d.item_id, d.decision, d.outcome) for d in body.decisions],
        actor=principal(request).name,
        now=request.app[clock_key](),
    )
    return reply(request, meeting)


@routes.route(
    "POST",
    "/items/publish",
    summary="Publish decided items' outcomes",
    tag=TAG,
    roles=STAFF,
    body=PublishIn,
    response=PublishReport,
    errors=(404, 409),
)
async def publish(request: web.Request, body: PublishIn) -> web.Response:
    """Each raiser and supporter is told once, ever: publishing again tells nobody twice."""
    report = await outcomes.publish_outcomes(
        request.app[store_key],
        request.app[delivery_key].ready(),
        body.item_ids,
        actor=principal(request).name,
        now=request.app[clock_key](),
    )
    return reply(request, report)

"""/api/v1/checkins: check-in for door tablets, gate scanners and staff phones."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from ..core.models import Page, Role
from ..domain import checkin
from ..domain.checkin import PARTY_MAX, Arrival, CheckinOutcome, CodeLookup
from ..keys import clock_key, settings_key, store_key
from .jsonio import Body, Id, path_id, reply
from .routing import DOOR, STAFF, Api, ListOf, principal

routes = Api()
TAG = "checkins"
# A door token checks in at its own door; staff anywhere.
_CHECKERS = STAFF | DOOR


class CheckinIn(Body):
    """A check-in: a code (typed or from its QR), or walk-ins at an event or room."""

    code: str | None = Field(None, max_length=40, description="The 6-character code")
    party_size: int | None = Field(
        None, ge=0, le=PARTY_MAX, description="People of the party at the door (default: booked)"
    )
    walk_ins: int = Field(0, ge=0, le=PARTY_MAX, description="People without a code")
    event_id: Id | None = Field(
        None, description="The gate's event: walk-ins count there; a code must be for it"
    )
    room_id: Id | None = Field(None, description="The door's room; a door token's own")
    nonce: str | None = Field(
        None, min_length=1, max_length=100, description="Sent again on a retry: same outcome"
    )


def _door_room(request: web.Request, asked: int | None) -> int | None:
    """The room a check-in is bound to: a door token's own, whatever it asks for."""
    who = principal(request)
    return who.room_id if who.role is Role.DOOR else asked


@routes.route(
    "POST",
    "/checkins",
    summary="Check in a code's party, or walk-ins",
    tag=TAG,
    roles=_CHECKERS,
    body=CheckinIn,
    response=CheckinOutcome,
    status=201,
    errors=(404, 409),
)
async def create_checkin(request: web.Request, body: CheckinIn) -> web.Response:
    """Refusals: 404 unknown_code; 409 wrong_room, not_today, cancelled, already_checked_in.
    A nonce already applied returns the first outcome (repeated: true)."""
    outcome = await checkin.check_in(
        request.app[store_key],
        code=body.code,
        room_id=_door_room(request, body.room_id),
        event_id=body.event_id,
        party_size=body.party_size,
        walk_ins=body.walk_ins,
        nonce=body.nonce,
        via="api",
        device=principal(request).name,
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        points=request.app[settings_key].passbook,
    )
    return reply(request, outcome, 200 if outcome.repeated else 201)


@routes.route(
    "GET",
    "/checkins/{code}",
    summary="Look a code up without checking in",
    tag=TAG,
    roles=_CHECKERS,
    response=CodeLookup,
    errors=(404, 409),
)
async def look_up_code(request: web.Request) -> web.Response:
    """What a scanner shows before confirming; `status` is "ok" or the reason a check-in
    would be refused. A door token gets 409 wrong_room for another room's code."""
    found = await checkin.look_up(
        request.app[store_key].lookups,
        request.match_info["code"],
        room_id=_door_room(request, None),
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
    )
    return reply(request, found)


@routes.route(
    "GET",
    r"/events/{id:\d+}/checkins",
    summary="Who came to an event",
    tag=TAG,
    roles=STAFF,
    response=ListOf(Arrival),
    errors=(404,),
)
async def event_checkins(request: web.Request) -> web.Response:
    """In order of arrival, walk-ins included; names in full (staff only)."""
    found = await checkin.event_arrivals(
        request.app[store_key], path_id(request, "event_not_found", "event")
    )
    return reply(request, Page(tuple(found), len(found), len(found), 0))

"""/api/v1/events/{id}/reconfirmation: whether an event asks those coming to reconfirm,
when, and what happens to whoever does not (service/domain/reconfirm.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import Field

from ..domain import reconfirm
from ..keys import store_key
from ..store.reconfirm import ReconfirmRule
from .jsonio import Body, path_id, reply
from .routing import STAFF, Api

routes = Api()
TAG = "events"
_PATH = r"/events/{id:\d+}/reconfirmation"


class ReconfirmIn(Body):
    """Reconfirmation of an event."""

    hours_before: int = Field(
        ge=1, le=reconfirm.HOURS_MAX, description="Ask those coming this many hours before"
    )
    deadline_hours_before: int = Field(
        ge=0,
        le=reconfirm.HOURS_MAX - 1,
        description="The deadline, this many hours before the start (less than hours_before)",
    )
    unconfirmed: Literal["release", "flag"] = Field(
        description="release: free their seats for the waitlist; flag: mark them only"
    )


@dataclass(frozen=True)
class ReconfirmOut:
    """An event's reconfirmation; `rule` null when it asks for none."""

    rule: ReconfirmRule | None


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@routes.route(
    "GET",
    _PATH,
    summary="An event's reconfirmation (rule null when it asks for none)",
    tag=TAG,
    roles=STAFF,
    response=ReconfirmOut,
    errors=(404,),
)
async def get_reconfirmation(request: web.Request) -> web.Response:
    """Off by default."""
    rule = await reconfirm.get_rule(request.app[store_key], _event_id(request))
    return reply(request, ReconfirmOut(rule))


@routes.route(
    "PUT",
    _PATH,
    summary="Ask those coming to reconfirm before the event",
    tag=TAG,
    roles=STAFF,
    body=ReconfirmIn,
    response=ReconfirmRule,
    errors=(404,),
)
async def put_reconfirmation(request: web.Request, body: ReconfirmIn) -> web.Response:
    """400 invalid_reconfirm when the deadline is not after the request."""
    rule = ReconfirmRule(body.hours_before, body.deadline_hours_before, body.unconfirmed)
    saved = await reconfirm.set_rule(request.app[store_key], _event_id(request), rule)
    return reply(request, saved)


@routes.route(
    "DELETE",
    _PATH,
    summary="Ask no reconfirmation",
    tag=TAG,
    roles=STAFF,
    status=204,
    errors=(404,),
)
async def delete_reconfirmation(request: web.Request) -> web.Response:
    """Requests already sent stay as they are."""
    await reconfirm.clear_rule(request.app[store_key], _event_id(request))
    return web.Response(status=204)

"""/api/v1/mail-inbox: mail to the reply address that no rule could apply (a plain reply,
a TENTATIVE, a refused calendar reply), for an organiser to apply with one click or
dismiss. See service/domain/mail_inbox.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import Field

from ..core.models import Invitation, Page, RsvpState
from ..domain import mail_inbox
from ..keys import clock_key, delivery_key, store_key
from ..store.mailin import InboxItem
from .jsonio import Body, Query, path_id, reply
from .routing import STAFF, Api, ListOf, principal

routes = Api()
TAG = "mail inbox"


class InboxQuery(Query):
    """Which items."""

    all: bool = Field(False, description="Handled items too (newest first, at most 200)")


class ApplyIn(Body):
    """The answer to apply; by default the one the mail suggests."""

    answer: Literal["yes", "no", "maybe"] | None = Field(
        None, description="Overrides the suggested answer"
    )
    party_size: int | None = Field(
        None, ge=1, le=100, description="Overrides the party size the text named"
    )


@dataclass(frozen=True)
class AppliedOut:
    """Where the resident's answer stands now."""

    invitation: Invitation
    previous: RsvpState


def _item_id(request: web.Request) -> int:
    return path_id(request, "inbox_item_not_found", "inbox item")


@routes.route(
    "GET",
    "/mail-inbox",
    summary="Mail to the reply address waiting for an organiser",
    tag=TAG,
    roles=STAFF,
    query=InboxQuery,
    response=ListOf(InboxItem),
)
async def list_inbox(request: web.Request, query: InboxQuery) -> web.Response:
    """Open items, newest first; `all=true` adds the handled ones."""
    items = await mail_inbox.inbox(request.app[store_key], open_only=not query.all)
    return reply(request, Page(items=tuple(items), total=len(items), limit=200, offset=0))


@routes.route(
    "POST",
    r"/mail-inbox/{id:\d+}/apply",
    summary="Apply a mail's answer for its resident",
    tag=TAG,
    roles=STAFF,
    body=ApplyIn,
    response=AppliedOut,
    errors=(404, 409),
)
async def apply_item(request: web.Request, body: ApplyIn) -> web.Response:
    """The answer goes through the same rules as any (capacity, waitlist), recorded as the
    organiser's. 409 inbox_item_handled when it was applied or dismissed already."""
    outcome = await mail_inbox.apply_item(
        request.app[store_key],
        _item_id(request),
        actor=f"organiser:{principal(request).name}",
        followups=request.app[delivery_key].followups(),
        now=request.app[clock_key](),
        answer=None if body.answer is None else RsvpState(body.answer),
        party_size=body.party_size,
    )
    return reply(request, AppliedOut(outcome.invitation, outcome.previous))


@routes.route(
    "POST",
    r"/mail-inbox/{id:\d+}/dismiss",
    summary="Set a mail aside without answering",
    tag=TAG,
    roles=STAFF,
    status=204,
    errors=(404, 409),
)
async def dismiss_item(request: web.Request) -> web.Response:
    """409 inbox_item_handled when it was applied or dismissed already."""
    await mail_inbox.dismiss_item(
        request.app[store_key],
        _item_id(request),
        actor=f"organiser:{principal(request).name}",
        now=request.app[clock_key](),
    )
    return web.Response(status=204)

"""/api/v1/tokens (admins manage API tokens) and /api/v1/me (who is calling)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, ConfigDict, Field

from ..core.clock import localize
from ..core.models import ApiToken, IssuedToken, Page, Principal, Role
from ..core.text import text_problem
from ..domain import auth
from ..keys import clock_key, settings_key, store_key, token_cache_key
from .events import Moment
from .jsonio import LINE, MAX_ID, Body, path_id, reply
from .paging import PageQuery
from .routing import ADMIN, Api, ListOf, principal

routes = Api()
TAG = "tokens"
EVERYONE = frozenset(Role)


def _storable(value: str) -> str:
    # auth.issue_token stores names as given, so the request is checked here.
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_storable)]


class TokenIn(Body):
    """A new API token."""

    # auth.issue_token's rule, in the document: a door token names its room, no other does.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"role": {"const": "door"}}, "required": ["role"]},
            "then": {"required": ["room"], "properties": {"room": {"not": {"type": "null"}}}},
            "else": {"properties": {"room": {"type": "null"}}},
        }
    )

    role: Role
    name: Text = Field(
        min_length=1,
        max_length=100,
        json_schema_extra=LINE,
        description="Whose token: a staff member's name, or a label for a door tablet",
    )
    room: (
        Annotated[int, Field(ge=1, le=MAX_ID)]
        | Annotated[Text, Field(min_length=1, max_length=100)]
        | None
    ) = Field(None, description="Door tokens only: the room's id or name")
    expires_at: Moment | None = Field(
        None, description="ISO 8601; naive means community local time; null: never"
    )


def _token_id(request: web.Request) -> int:
    return path_id(request, "token_not_found", "API token")


@routes.route(
    "GET",
    "/tokens",
    summary="List API tokens (never the tokens themselves)",
    tag=TAG,
    roles=ADMIN,
    query=PageQuery,
    response=ListOf(ApiToken),
)
async def list_tokens(request: web.Request, query: PageQuery) -> web.Response:
    """Newest first, revoked and expired ones included."""
    records = await auth.list_tokens(request.app[store_key])
    # Tokens are few (one per staff member and door), so auth returns them all.
    page = Page(
        items=tuple(records[query.offset : query.offset + query.limit]),
        total=len(records),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


@routes.route(
    "POST",
    "/tokens",
    summary="Issue an API token",
    tag=TAG,
    roles=ADMIN,
    body=TokenIn,
    response=IssuedToken,
    status=201,
    errors=(404, 409),
)
async def create_token(request: web.Request, body: TokenIn) -> web.Response:
    """The answer holds the token itself, shown this once and stored only as a hash. A door
    token needs a room (400 room_required); an unknown room is 404 room_not_found."""
    expires_at = body.expires_at
    if expires_at is not None:
        expires_at = localize(expires_at, request.app[settings_key].tz)
    record, token = await auth.issue_token(
        request.app[store_key],
        role=body.role,
        name=body.name,
        room=body.room,
        expires_at=expires_at,
        now=request.app[clock_key](),
    )
    issued = IssuedToken(
        **{f.name: getattr(record, f.name) for f in dataclasses.fields(record)}, token=token
    )
    return reply(request, issued, 201)


@routes.route(
    "DELETE",
    r"/tokens/{id:\d+}",
    summary="Revoke an API token",
    tag=TAG,
    roles=ADMIN,
    response=ApiToken,
)
async def revoke_token(request: web.Request) -> web.Response:
    """Revoking again is harmless and keeps the first revocation time."""
    record = await auth.revoke_token(
        request.app[store_key], _token_id(request), request.app[clock_key]()
    )
    request.app[token_cache_key].forget(record.id)
    return reply(request, record)


@routes.route(
    "GET",
    "/me",
    summary="Who the calling token belongs to",
    tag=TAG,
    roles=EVERYONE,
    response=Principal,
)
async def me(request: web.Request) -> web.Response:
    """The caller's token id, name, role, and staff member or room."""
    return reply(request, principal(request))

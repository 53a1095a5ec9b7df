"""Declared API routes: one table feeds the router, the role checks and the OpenAPI document."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import pydantic
from aiohttp import web

from ..core.errors import AuthenticationError, PermissionDeniedError
from ..core.models import Principal, Role
from ..domain import auth
from ..keys import clock_key, store_key, token_cache_key
from .jsonio import parse_json, parse_query

Handler = Callable[..., Awaitable[web.StreamResponse]]

STAFF: Final = frozenset({Role.ADMIN, Role.ORGANISER})
ADMIN: Final = frozenset({Role.ADMIN})
DOOR: Final = frozenset({Role.DOOR})
principal_key: Final = web.RequestKey("principal", Principal)


@dataclass(frozen=True)
class ListOf:
    """A response that is a page of `item`s: {items, total, limit, offset}."""

    item: type


@dataclass(frozen=True)
class RawBody:
    """A request body that is not JSON (e.g. a CSV upload), described for the document."""

    media_type: str
    description: str


@dataclass(frozen=True)
class Operation:
    """One route: its handler, who may call it, and what it takes and gives."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: frozenset[Role] | None  # None: public
    body: type[pydantic.BaseModel] | RawBody | None
    query: type[pydantic.BaseModel] | None
    response: type | ListOf | None
    status: int
    errors: tuple[int, ...]
    response_media: str
    # The route's name, unique across the app: the handler's name after its table's prefix
    # (the console's handlers share some names with the API's).
    name: str

    @property
    def doc_path(self) -> str:
        """The path as OpenAPI writes it: `{id:\\d+}` becomes `{id}`."""
        return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        """Names of the path's parameters."""
        return re.findall(r"\{(\w+)", self.path)


def principal(request: web.Request) -> Principal:
    """Who called this route (set by the role check)."""
    return request[principal_key]


def bearer_token(request: web.Request) -> str:
    """The token in `Authorization: Bearer …`, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "send an API token as 'Authorization: Bearer <token>'", code="unauthenticated"
        )
    return token.strip()


class Api:
    """A set of API routes under one prefix."""

    def __init__(
        self, prefix: str = "/api/v1", name_prefix: str = "", *, documented: bool = True
    ) -> None:
        self.prefix = prefix
        # Route names are the handlers' names; a prefix keeps another table's apart.
        self.name_prefix = name_prefix
        # In the OpenAPI document: the JSON API and the hooks are; the HTML pages people
        # open in a browser (the console, residents' pages, the door tablet) are not.
        self.documented = documented
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        roles: Iterable[Role] | None,
        body: type[pydantic.BaseModel] | RawBody | None = None,
        query: type[pydantic.BaseModel] | None = None,
        response: type | ListOf | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        response_media: str = "application/json",
        prefixed: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; the handler gets `body=` and `query=` when those are declared."""

        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method=method.upper(),
                    path=(self.prefix if prefixed else "") + path,
                    handler=handler,
                    summary=summary,
                    tag=tag,
                    roles=frozenset(roles) if roles is not None else None,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    errors=errors,
                    response_media=response_media,
                    name=self.name_prefix + handler.__name__,
                )
            )
            return handler

        return register

    def add_to(self, app: web.Application) -> None:
        """Register every declared route on the app's router."""
        for op in self.operations:
            handler, name = _guarded(op), op.name
            if op.method == "GET":
                # HEAD too, as HTTP expects of every GET (link checkers and mail scanners
                # send it); aiohttp answers it with the GET's headers and no body.
                app.router.add_get(op.path, handler, name=name, allow_head=True)
            else:
                app.router.add_route(op.method, op.path, handler, name=name)


def _guarded(op: Operation) -> Handler:
    @functools.wraps(op.handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        if op.roles is not None:
            now = request.app[clock_key]()
            who = await auth.authenticate(
                request.app[store_key],
                bearer_token(request),
                now,
                request.app[token_cache_key],
            )
            if who.role not in op.roles:
                allowed = ", ".join(sorted(op.roles))
                raise PermissionDeniedError(
                    f"a {who.role} token may not do this (needs {allowed})", code="forbidden"
                )
            request[principal_key] = who
        kwargs: dict[str, Any] = {}
        if op.query is not None:
            kwargs["query"] = parse_query(request, op.query)
        if isinstance(op.body, type):
            kwargs["body"] = await parse_json(request, op.body)
        return await op.handler(request, **kwargs)

    return handle

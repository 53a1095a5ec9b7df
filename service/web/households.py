"""/api/v1/households: the dwellings residents belong to."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from ..core.models import Household
from ..domain import households
from ..keys import clock_key, store_key
from .jsonio import LINE, TEXT, Body, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "households"


class HouseholdIn(Body):
    """A new household."""

    unit: str = Field(
        min_length=1, max_length=64, json_schema_extra=LINE, description="Unit label, e.g. 3-2-1501"
    )
    building: str | None = Field(
        None,
        max_length=64,
        json_schema_extra=LINE,
        description="Defaults to the unit label's first part",
    )
    notes: str = Field("", max_length=2000, json_schema_extra=TEXT)


class HouseholdPatch(Patch):
    """Fields of a household to change."""

    unit: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=LINE)
    building: str | None = Field(None, max_length=64, json_schema_extra=LINE)
    notes: str | None = Field(None, max_length=2000, json_schema_extra=TEXT)


class HouseholdQuery(PageQuery):
    """Search households."""

    q: str | None = Field(None, description="Text in the unit label or notes")
    building: str | None = None


def _id(request: web.Request) -> int:
    return path_id(request, "household_not_found", "household")


@routes.route(
    "POST",
    "/households",
    summary="Create a household",
    tag=TAG,
    roles=STAFF,
    body=HouseholdIn,
    response=Household,
    status=201,
    errors=(409,),
)
async def create_household(request: web.Request, body: HouseholdIn) -> web.Response:
    """A unit label already in use is a 409 household_exists."""
    created = await households.create_household(
        request.app[store_key],
        unit=body.unit,
        building=body.building,
        notes=body.notes,
        now=request.app[clock_key](),
    )
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/households",
    summary="List and search households",
    tag=TAG,
    roles=STAFF,
    query=HouseholdQuery,
    response=ListOf(Household),
)
async def list_households(request: web.Request, query: HouseholdQuery) -> web.Response:
    """Ordered by unit label."""
    page = await households.list_households(
        request.app[store_key],
        text=query.q,
        building=query.building,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/households/{id:\d+}",
    summary="Get a household",
    tag=TAG,
    roles=STAFF,
    response=Household,
)
async def get_household(request: web.Request) -> web.Response:
    """One household with its resident count."""
    return reply(request, await households.get_household(request.app[store_key], _id(request)))


@routes.route(
    "PATCH",
    r"/households/{id:\d+}",
    summary="Update a household",
    tag=TAG,
    roles=STAFF,
    body=HouseholdPatch,
    response=Household,
    errors=(409,),
)
async def update_household(request: web.Request, body: HouseholdPatch) -> web.Response:
    """Only the fields sent change."""
    changes = households.HouseholdChanges(**body.model_dump(exclude_unset=True))
    updated = await households.update_household(
        request.app[store_key], _id(request), changes, request.app[clock_key]()
    )
    return reply(request, updated)


@routes.route(
    "DELETE",
    r"/households/{id:\d+}",
    summary="Delete an empty household",
    tag=TAG,
    roles=STAFF,
    status=204,
    errors=(409,),
)
async def delete_household(request: web.Request) -> web.Response:
    """A household that still has residents is a 409 household_not_empty."""
    await households.delete_household(request.app[store_key], _id(request))
    return web.Response(status=204)

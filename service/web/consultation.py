"""/api/v1/needs and /api/v1/items: residents' needs and the consultation list, support."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Final, Literal

from aiohttp import web
from pydantic import Field

from ..core.consultation import Item, Need, NeedVia, SupportOutcome
from ..core.phrases import area
from ..domain import items, needs
from ..domain.items import DESCRIPTION_MAX, OUTCOME_MAX, REASON_MAX, THRESHOLD_MAX, TITLE_MAX
from ..domain.needs import BUILDING_MAX, KEY_MAX, TEXT_MAX
from ..keys import clock_key, settings_key, store_key
from .jsonio import LINE, TEXT, Body, Id, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, principal

routes = Api()
TAG = "consultation"

CategoryName = Literal["environment", "safety", "activity", "facility", "other"]
StatusName = Literal["collected", "discussing", "decided", "in_progress", "done"]
DecisionName = Literal["accepted", "rejected", "deferred"]
_DATE: Final = {"pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
ReviewOn = Annotated[str, Field(json_schema_extra=_DATE, description="Local date YYYY-MM-DD")]


class NeedIn(Body):
    """A need typed in by an organiser (at a bench meeting, on a household's behalf)."""

    text: str = Field(min_length=1, max_length=TEXT_MAX, json_schema_extra=TEXT)
    category: CategoryName | None = None
    building: str = Field("", max_length=BUILDING_MAX, json_schema_extra=LINE)
    resident_id: Id | None = Field(None, description="Who raised it")
    household_id: Id | None = Field(None, description="The household it was raised for")
    unit: str | None = Field(
        None, min_length=1, max_length=50, json_schema_extra=LINE, description="e.g. 3-2-1501"
    )
    request_key: str | None = Field(
        None,
        min_length=1,
        max_length=KEY_MAX,
        json_schema_extra=LINE,
        description="Sent again, the same need comes back and nothing new is made",
    )


class NeedsQuery(PageQuery):
    """Which needs: all, or those on no item yet."""

    unmerged: bool = Field(False, description="Only needs not yet on an item")


class ItemIn(Body):
    """A new item of the consultation list, from some needs."""

    title: str = Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=LINE)
    description: str = Field("", max_length=DESCRIPTION_MAX, json_schema_extra=TEXT)
    category: CategoryName | None = None
    support_threshold: int = Field(
        items.DEFAULT_THRESHOLD,
        ge=1,
        le=THRESHOLD_MAX,
        description='Supporting households for "discuss at the next meeting"',
    )
    review_on: ReviewOn | None = None
    need_ids: list[Id] = Field(default_factory=list, max_length=items.NEEDS_MAX)


class ItemPatch(Patch):
    """Fields of an item to change; review_on null clears it."""

    nullable = frozenset({"review_on"})

    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX, json_schema_extra=LINE)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX, json_schema_extra=TEXT)
    category: CategoryName | None = None
    support_threshold: int | None = Field(None, ge=1, le=THRESHOLD_MAX)
    review_on: ReviewOn | None = None
    outcome: str | None = Field(
        None,
        max_length=OUTCOME_MAX,
        json_schema_extra=TEXT,
        description="The decision's words as residents will read them; saved, not published",
    )
    reason: str | None = Field(None, max_length=REASON_MAX, json_schema_extra=TEXT)


class MoveIn(Body):
    """Move an item forward (collected → discussing → decided → in_progress → done)."""

    status: StatusName
    decision: DecisionName | None = Field(None, description="Needed when it becomes decided")
    outcome: str | None = Field(None, max_length=OUTCOME_MAX, json_schema_extra=TEXT)
    reason: str = Field("", max_length=REASON_MAX, json_schema_extra=TEXT)


class MergeIn(Body):
    """Needs to merge into the item (duplicates): their raisers become its raisers."""

    need_ids: list[Id] = Field(min_length=1, max_length=items.NEEDS_MAX)


class SupportIn(Body):
    """Whose support: a resident (their household) or a household."""

    resident_id: Id | None = None
    household_id: Id | None = None


class ItemsQuery(PageQuery):
    """Which items."""

    status: StatusName | None = Field(None, description="Only items in this status")


def _item_id(request: web.Request) -> int:
    return path_id(request, "item_not_found", "item")


def _actor(request: web.Request) -> str:
    return principal(request).name


@routes.route(
    "POST",
    "/needs",
    summary="Record a need",
    tag=TAG,
    roles=STAFF,
    body=NeedIn,
    response=Need,
    status=201,
    errors=(404,),
)
async def create_need(request: web.Request, body: NeedIn) -> web.Response:
    """A need typed in by an organiser; the same request_key again returns the first."""
    need = await needs.raise_need(
        request.app[store_key],
        needs.NeedInput(
            text=body.text,
            via=NeedVia.ORGANISER,
            actor=_actor(request),
            category=body.category,
            building=body.building,
            resident_id=body.resident_id,
            household_id=body.household_id,
            unit=body.unit,
            request_key=body.request_key,
        ),
        now=request.app[clock_key](),
    )
    return reply(request, need, 201)


@routes.route(
    "GET",
    "/needs",
    summary="List needs",
    tag=TAG,
    roles=STAFF,
    query=NeedsQuery,
    response=ListOf(Need),
)
async def list_needs(request: web.Request, query: NeedsQuery) -> web.Response:
    """Newest first."""
    page = await needs.list_needs(
        request.app[store_key], unmerged=query.unmerged, limit=query.limit, offset=query.offset
    )
    return reply(request, page)


@routes.route(
    "POST",
    "/items",
    summary="Create an item of the consultation list",
    tag=TAG,
    roles=STAFF,
    body=ItemIn,
    response=Item,
    status=201,
    errors=(404, 409),
)
async def create_item(request: web.Request, body: ItemIn) -> web.Response:
    """A collected item gathering some needs; a need on another item is a 409."""
    made = await items.create_item(
        request.app[store_key],
        items.ItemInput(
            title=body.title,
            description=body.description,
            category=body.category,
            support_threshold=body.support_threshold,
            review_on=body.review_on,
            need_ids=body.need_ids,
        ),
        actor=_actor(request),
        now=request.app[clock_key](),
    )
    return reply(request, made, 201)


@routes.route(
    "GET",
    "/items",
    summary="List the consultation list's items",
    tag=TAG,
    roles=STAFF,
    query=ItemsQuery,
    response=ListOf(Item),
)
async def list_items(request: web.Request, query: ItemsQuery) -> web.Response:
    """By id, with support counts and thresholds."""
    page = await items.list_items(
        request.app[store_key],
        statuses=(query.status,) if query.status else (),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/items/{id:\d+}",
    summary="Get an item with its needs and audit trail",
    tag=TAG,
    roles=STAFF,
    response=Item,
)
async def get_item(request: web.Request) -> web.Response:
    """One item."""
    return reply(request, await items.get_item(request.app[store_key], _item_id(request)))


@routes.route(
    "PATCH",
    r"/items/{id:\d+}",
    summary="Update an item",
    tag=TAG,
    roles=STAFF,
    body=ItemPatch,
    response=Item,
)
async def update_item(request: web.Request, body: ItemPatch) -> web.Response:
    """Each change is a step of the audit trail."""
    sent = body.model_dump(exclude_unset=True)
    if "review_on" in sent and sent["review_on"] is None:
        sent["review_on"] = ""
    changed = await items.update_item(
        request.app[store_key],
        _item_id(request),
        items.ItemChanges(**{**sent, "reason": sent.get("reason") or ""}),
        actor=_actor(request),
        now=request.app[clock_key](),
    )
    return reply(request, changed)


@routes.route(
    "POST",
    r"/items/{id:\d+}/move",
    summary="Move an item forward",
    tag=TAG,
    roles=STAFF,
    body=MoveIn,
    response=Item,
    errors=(404, 409),
)
async def move_item(request: web.Request, body: MoveIn) -> web.Response:
    """A step back is a 409 item_moves_forward_only; saving a decision does not publish."""
    moved = await items.move_item(
        request.app[store_key],
        _item_id(request),
        body.status,
        decision=body.decision,
        outcome=body.outcome,
        reason=body.reason,
        actor=_actor(request),
        now=request.app[clock_key](),
    )
    return reply(request, moved)


@routes.route(
    "POST",
    r"/items/{id:\d+}/needs",
    summary="Merge needs into an item",
    tag=TAG,
    roles=STAFF,
    body=MergeIn,
    response=Item,
    errors=(404, 409),
)
async def merge_needs(request: web.Request, body: MergeIn) -> web.Response:
    """Duplicates join the item; merging again changes nothing."""
    merged = await items.merge_needs(
        request.app[store_key],
        _item_id(request),
        body.need_ids,
        actor=_actor(request),
        now=request.app[clock_key](),
    )
    return reply(request, merged)


async def _support(request: web.Request, body: SupportIn, supporting: bool) -> web.Response:
    outcome = await items.set_support(
        request.app[store_key],
        _item_id(request),
        supporting=supporting,
        resident_id=body.resident_id,
        household_id=body.household_id,
        via="organiser",
        now=request.app[clock_key](),
    )
    return reply(request, outcome)


@routes.route(
    "POST",
    r"/items/{id:\d+}/support",
    summary="Record a household's support of an item",
    tag=TAG,
    roles=STAFF,
    body=SupportIn,
    response=SupportOutcome,
    errors=(404, 409),
)
async def support_item(request: web.Request, body: SupportIn) -> web.Response:
    """Once per household: supporting again changes nothing (changed false)."""
    return await _support(request, body, True)


@routes.route(
    "POST",
    r"/items/{id:\d+}/withdraw",
    summary="Withdraw a household's support of an item",
    tag=TAG,
    roles=STAFF,
    body=SupportIn,
    response=SupportOutcome,
    errors=(404,),
)
async def withdraw_support(request: web.Request, body: SupportIn) -> web.Response:
    """Withdrawing what was not given changes nothing (changed false)."""
    return await _support(request, body, False)


# The CSV's columns, each heading `consultation.csv_<column>` in the catalogs.
_CSV_COLUMNS: Final = (
    "code", "title", "status", "category", "support", "threshold", "needs", "decision",
    "outcome", "published_at",
)  # fmt: skip
_CSV_PAGE: Final = 500


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@routes.route(
    "GET",
    "/items.csv",
    summary="The consultation list as CSV (UTF-8 with BOM, for Excel and WPS)",
    tag=TAG,
    roles=STAFF,
    response_media="text/csv",
)
async def items_csv(request: web.Request) -> web.Response:
    """One row per item; headings and words in the community's language."""
    return await csv_response(request)


async def csv_response(request: web.Request) -> web.Response:
    """The consultation list as a CSV download (the API's and the console's)."""
    settings = request.app[settings_key]
    words = area("consultation", settings.community.default_language)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(words[f"csv_{column}"] for column in _CSV_COLUMNS)
    offset = 0
    while True:
        page = await items.list_items(request.app[store_key], limit=_CSV_PAGE, offset=offset)
        for item in page.items:
            writer.writerow(
                (
                    item.code,
                    _cell(item.title),
                    words[f"status_{item.status}"],
                    words[f"category_{item.category}"] if item.category else "",
                    item.support_count,
                    item.support_threshold,
                    item.need_count,
                    words[f"decision_{item.decision}"] if item.decision else "",
                    _cell(item.published_outcome or ""),
                    item.published_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
                    if item.published_at
                    else "",
                )
            )
        offset += _CSV_PAGE
        if offset >= page.total:
            break
    return web.Response(
        body=buffer.getvalue().encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="consultation.csv"',
        },
    )

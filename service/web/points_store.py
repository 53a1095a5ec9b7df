"""/api/v1/store: the points store's catalogue (积分超市) and redemptions at its counter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web
from pydantic import AwareDatetime, Field

from ..core.models import Page
from ..domain import counter, points_store
from ..domain.passbook import KEY_MAX
from ..domain.points_store import (
    LINES_MAX,
    NAME_MAX,
    PRICE_MAX,
    STOCK_MAX,
    PointsRedeemed,
    StoreItem,
    StoreRedemption,
    Wanted,
)
from ..keys import clock_key, settings_key, store_key
from .jsonio import LINE, Body, Id, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, principal

routes = Api()
TAG = "points store"


class StoreItemIn(Body):
    """New goods for the catalogue."""

    name: str = Field(min_length=1, max_length=NAME_MAX, json_schema_extra=LINE)
    price: int = Field(ge=1, le=PRICE_MAX, description="Points for one")
    stock: int = Field(ge=0, le=STOCK_MAX)
    monthly_limit: int | None = Field(
        None, ge=1, le=STOCK_MAX, description="Most one household may take a month; null: no limit"
    )


class StoreItemPatch(Patch):
    """Fields of an item to change; monthly_limit null: no limit."""

    nullable = frozenset({"monthly_limit"})

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX, json_schema_extra=LINE)
    price: int | None = Field(None, ge=1, le=PRICE_MAX)
    stock: int | None = Field(None, ge=0, le=STOCK_MAX)
    monthly_limit: int | None = Field(None, ge=1, le=STOCK_MAX)
    active: bool | None = Field(None, description="Offered at the counter")


class ItemQuery(PageQuery):
    """Catalogue filters."""

    active: bool | None = Field(None, description="true: only goods offered now")


class WantedIn(Body):
    """Goods asked for: which and how many."""

    item_id: Id
    quantity: int = Field(ge=1, le=STOCK_MAX)


class RedemptionIn(Body):
    """A redemption at the counter; the household by one of household_id, code or unit."""

    idempotency_key: str = Field(min_length=1, max_length=KEY_MAX)
    household_id: Id | None = None
    code: str | None = Field(None, min_length=1, max_length=40, description="Passbook code")
    unit: str | None = Field(None, min_length=1, max_length=60, json_schema_extra=LINE)
    items: list[WantedIn] = Field(min_length=1, max_length=LINES_MAX)


class RedemptionQuery(PageQuery):
    """Redemption filters."""

    household_id: Id | None = None


def _item_id(request: web.Request) -> int:
    return path_id(request, "item_not_found", "item")


@routes.route(
    "POST",
    "/store/items",
    summary="Add goods to the catalogue",
    tag=TAG,
    roles=STAFF,
    body=StoreItemIn,
    response=StoreItem,
    status=201,
    errors=(409,),
)
async def create_store_item(request: web.Request, body: StoreItemIn) -> web.Response:
    """409 item_exists when the name is taken."""
    made = await points_store.create_item(
        request.app[store_key],
        name=body.name,
        price=body.price,
        stock=body.stock,
        monthly_limit=body.monthly_limit,
        now=request.app[clock_key](),
    )
    return reply(request, made, 201)


@routes.route(
    "GET",
    "/store/items",
    summary="List the catalogue",
    tag=TAG,
    roles=STAFF,
    query=ItemQuery,
    response=ListOf(StoreItem),
)
async def list_store_items(request: web.Request, query: ItemQuery) -> web.Response:
    """By name."""
    page = await points_store.list_items(
        request.app[store_key].reader,
        active_only=bool(query.active),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/store/items/{id:\d+}",
    summary="Get an item",
    tag=TAG,
    roles=STAFF,
    response=StoreItem,
    errors=(404,),
)
async def get_store_item(request: web.Request) -> web.Response:
    """One item."""
    store = request.app[store_key]
    return reply(request, await points_store.get_item(store.reader, _item_id(request)))


@routes.route(
    "PATCH",
    r"/store/items/{id:\d+}",
    summary="Change an item (price, stock, limit, offered)",
    tag=TAG,
    roles=STAFF,
    body=StoreItemPatch,
    response=StoreItem,
    errors=(404, 409),
)
async def update_store_item(request: web.Request, body: StoreItemPatch) -> web.Response:
    """Only the fields sent change."""
    changes = body.model_dump(exclude_unset=True)
    if "active" in changes:
        changes["active"] = int(changes["active"])
    found = await points_store.update_item(
        request.app[store_key], _item_id(request), changes, request.app[clock_key]()
    )
    return reply(request, found)


@routes.route(
    "POST",
    "/store/redemptions",
    summary="Redeem points for goods at the counter",
    tag=TAG,
    roles=STAFF,
    body=RedemptionIn,
    response=PointsRedeemed,
    status=201,
    errors=(404, 409),
)
async def redeem(request: web.Request, body: RedemptionIn) -> web.Response:
    """One `redeem` posting; 409 insufficient_points, out_of_stock, monthly_limit,
    item_unavailable. A key used before returns the first redemption (200, repeated)."""
    made = await points_store.redeem(
        request.app[store_key],
        [Wanted(w.item_id, w.quantity) for w in body.items],
        key=body.idempotency_key,
        operator=f"{principal(request).role}:{principal(request).name}",
        now=request.app[clock_key](),
        tz=request.app[settings_key].tz,
        household_id=body.household_id,
        code=body.code,
        unit=body.unit,
    )
    return reply(request, made, 200 if made.repeated else 201)


@routes.route(
    "GET",
    "/store/redemptions",
    summary="List redemptions",
    tag=TAG,
    roles=STAFF,
    query=RedemptionQuery,
    response=ListOf(StoreRedemption),
)
async def list_redemptions(request: web.Request, query: RedemptionQuery) -> web.Response:
    """Newest first."""
    page = await points_store.list_redemptions(
        request.app[store_key].reader,
        household_id=query.household_id,
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


class CounterTokenIn(Body):
    """A counter token for the store desk's tablet or phone."""

    name: str = Field(
        min_length=1, max_length=60, json_schema_extra=LINE, description="e.g. 超市柜台"
    )
    expires_at: AwareDatetime | None = Field(None, description="null: until revoked")


@dataclass(frozen=True)
class CounterLink:
    """A new counter token, shown once, and the link that signs a device in with it."""

    id: int
    name: str
    token: str
    url: str
    expires_at: datetime | None


@routes.route(
    "POST",
    "/store/counter-tokens",
    summary="Issue a counter token for the points store's desk",
    tag=TAG,
    roles=STAFF,
    body=CounterTokenIn,
    response=CounterLink,
    status=201,
)
async def issue_counter_token(request: web.Request, body: CounterTokenIn) -> web.Response:
    """The token can only find households (names masked, no phone numbers) and redeem."""
    issued = await counter.issue_counter_token(
        request.app[store_key],
        name=body.name,
        created_by=f"{principal(request).role}:{principal(request).name}",
        now=request.app[clock_key](),
        expires_at=body.expires_at,
    )
    base = request.app[settings_key].public_url
    link = CounterLink(
        issued.id,
        issued.name,
        issued.token,
        f"{base}/counter?{urlencode({'token': issued.token})}",
        issued.expires_at,
    )
    return reply(request, link, 201)


@routes.route(
    "GET",
    "/store/counter-tokens",
    summary="List the counter tokens (never the tokens themselves)",
    tag=TAG,
    roles=STAFF,
    response=ListOf(counter.CounterToken),
)
async def list_counter_tokens(request: web.Request) -> web.Response:
    """Newest first, revoked and expired ones too, so a lost desk phone can be found."""
    found = await counter.list_counter_tokens(request.app[store_key])
    return reply(request, Page(items=tuple(found), total=len(found), limit=len(found), offset=0))


@routes.route(
    "DELETE",
    r"/store/counter-tokens/{id:\d+}",
    summary="Revoke a counter token: the desk's next request is refused",
    tag=TAG,
    roles=STAFF,
    response=counter.CounterToken,
)
async def revoke_counter_token(request: web.Request) -> web.Response:
    """Revoking again is harmless and keeps the first revocation time."""
    revoked = await counter.revoke_counter_token(
        request.app[store_key],
        path_id(request, "counter_token_not_found", "counter token"),
        request.app[clock_key](),
    )
    return reply(request, revoked)

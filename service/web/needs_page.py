"""Residents' consultation pages: their needs page behind a signed link (/n/{token}: raise
a need, support or withdraw from items) and the public notice board (/board: items,
statuses, support and published outcomes, names masked; printable)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiohttp import web

from ..core.consultation import Category, Item, ItemStatus, NeedVia
from ..core.errors import ServiceError
from ..core.phrases import area, language_for
from ..core.privacy import mask_name
from ..domain import items, needs
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.links import read_needs_token
from ..store import bookings as booking_sql
from ..store import consultation as sql
from .jsonio import read_form, read_int
from .pages import not_found_page, page
from .routing import Api, RawBody

# Residents' pages in a browser, not part of the API document.
routes = Api(documented=False)
_MAX_NONCE: Final = 100
# Items a page shows: a community's list is short; the oldest beyond this wait.
SHOWN: Final = 200
OPEN: Final = (ItemStatus.COLLECTED.value, ItemStatus.DISCUSSING.value)


def card(item: Item, t: Mapping[str, str], raisers: Sequence[str] = ()) -> dict[str, Any]:
    """An item as the pages show it: words from the catalog, names masked."""
    return {
        "item": item,
        "status": t[f"status_{item.status}"],
        "category": t[f"category_{item.category}"] if item.category else "",
        "decision": t[f"decision_{item.decision}"] if item.decision else "",
        "support": t["board_support"].format(
            n=item.support_count, threshold=item.support_threshold
        ),
        "raisers": t["board_raisers"].format(
            names=t["separator"].join(mask_name(n) for n in raisers)
        )
        if raisers
        else "",
    }


async def _resident(request: web.Request) -> tuple[int, int, str, str] | None:
    """(resident id, household id, name, page language) the link names, or None."""
    key = request.app[delivery_key].ready().links.key
    resident_id = read_needs_token(key, request.match_info["token"])
    if resident_id is None:
        return None
    found = await booking_sql.household_of(request.app[store_key].reader, resident_id)
    if found is None:
        return None
    household_id, name, language = found
    default = request.app[settings_key].community.default_language
    return resident_id, household_id, name, language_for(language, default)


async def _render(
    request: web.Request,
    who: tuple[int, int, str, str],
    *,
    status: int = 200,
    saved: str = "",
    problem: str = "",
) -> web.Response:
    resident_id, household_id, name, lang = who
    t = area("consultation", lang)
    store = request.app[store_key]
    open_items, _ = await sql.list_items(store.reader, statuses=OPEN, limit=SHOWN, offset=0)
    mine = await sql.supporting(store.reader, household_id)
    base = f"/n/{request.match_info['token']}"
    return page(
        "needs.html",
        status,
        lang=lang,
        t=t,
        community=request.app[settings_key].community.name,
        resident_name=name,
        cards=[card(i, t) for i in open_items],
        supported=mine,
        own=await sql.needs_of(store.reader, resident_id),
        categories=[(c.value, t[f"category_{c.value}"]) for c in Category],
        action=base,
        support_action=f"{base}/support",
        nonce=secrets.token_urlsafe(16),
        saved=saved,
        problem=problem,
    )


@routes.route(
    "GET",
    "/n/{token}",
    summary="A resident's needs page: raise a need, support items",
    tag="needs page",
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def needs_page(request: web.Request) -> web.Response:
    """Only reads (link previews fetch it too)."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    saved = area("consultation", who[3])["needs_thanks"] if request.query.get("saved") else ""
    return await _render(request, who, saved=saved)


@routes.route(
    "POST",
    "/n/{token}",
    summary="Raise a need from the needs page's form; 303 back to the page",
    tag="needs page",
    roles=None,
    body=RawBody(
        "application/x-www-form-urlencoded",
        "text, category, building and the page's nonce (a repeat records nothing twice)",
    ),
    response_media="text/html",
    errors=(400, 404),
    prefixed=False,
)
async def needs_submit(request: web.Request) -> web.Response:
    """Post/Redirect/Get; a refused form gets the page back saying why (400)."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
        nonce = form.get("nonce")
        if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE:
            raise ServiceError("the form is not one this page made", code="invalid_nonce")
        fields = {k: form.get(k, "") for k in ("text", "category", "building")}
        texts = {k: v if isinstance(v, str) else "" for k, v in fields.items()}
        await needs.raise_need(
            request.app[store_key],
            needs.NeedInput(
                text=texts["text"],
                via=NeedVia.PAGE,
                actor="resident",
                category=texts["category"] or None,
                building=texts["building"],
                resident_id=who[0],
                request_key=f"page:{who[0]}:{nonce}",
            ),
            now=request.app[clock_key](),
        )
    except ServiceError as exc:
        return await _render(request, who, status=400, problem=exc.message)
    raise web.HTTPSeeOther(f"/n/{request.match_info['token']}?saved=1")


@routes.route(
    "POST",
    "/n/{token}/support",
    summary="Support or withdraw from an item from the needs page; 303 back to the page",
    tag="needs page",
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "item_id and action (support, withdraw)"),
    response_media="text/html",
    errors=(400, 404, 409),
    prefixed=False,
)
async def needs_support(request: web.Request) -> web.Response:
    """Once per household; pressing again changes nothing."""
    who = await _resident(request)
    if who is None:
        return not_found_page(request)
    try:
        form = await read_form(request)
        item_id = read_int(form.get("item_id"))
        if item_id is None:
            raise ServiceError("item_id: choose an item", code="invalid")
        await items.set_support(
            request.app[store_key],
            item_id,
            supporting=form.get("action") != "withdraw",
            resident_id=who[0],
            via="page",
            now=request.app[clock_key](),
        )
    except ServiceError as exc:
        return await _render(request, who, status=exc.status, problem=exc.message)
    raise web.HTTPSeeOther(f"/n/{request.match_info['token']}#item-{item_id}")


@routes.route(
    "GET",
    "/board",
    summary="The public notice board of the consultation list",
    tag="needs page",
    roles=None,
    response_media="text/html",
    prefixed=False,
)
async def board(request: web.Request) -> web.Response:
    """Items, statuses, support and published outcomes; ?lang= picks the language."""
    settings = request.app[settings_key]
    lang = language_for(request.query.get("lang"), settings.community.default_language)
    t = area("consultation", lang)
    store = request.app[store_key]
    found, _ = await sql.list_items(store.reader, limit=SHOWN, offset=0)
    names = await sql.raiser_names(store.reader, [i.id for i in found])
    return page(
        "board.html",
        lang=lang,
        t=t,
        community=settings.community.name,
        cards=[card(i, t, names[i.id]) for i in found],
    )

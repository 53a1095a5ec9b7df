"""Pages a resident reaches from a message without signing in: one-click unsubscribe."""

from __future__ import annotations

from aiohttp import web

from ..domain import unsubscribe as opt_out
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.links import read_unsubscribe_token
from .jsonio import read_body
from .pages import not_found_page, page
from .routing import Api

# A resident's page in a browser, not part of the API document.
routes = Api(documented=False)
TAG = "public"


async def _target(request: web.Request) -> opt_out.UnsubscribeTarget | None:
    key = request.app[delivery_key].ready().links.key
    contact_id = read_unsubscribe_token(key, request.match_info["token"])
    if contact_id is None:
        return None
    return await opt_out.unsubscribe_target(request.app[store_key], contact_id)


@routes.route(
    "GET",
    "/u/{token}",
    summary="Unsubscribe page (changes nothing: link scanners fetch it)",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def unsubscribe_page(request: web.Request) -> web.Response:
    """A page with one button that POSTs back here."""
    target = await _target(request)
    if target is None:
        return not_found_page(request)
    return page(
        "unsubscribe.html",
        lang=target.language,
        community=request.app[settings_key].community.name,
        address=target.masked,
        done=target.opted_out,
    )


@routes.route(
    "POST",
    "/u/{token}",
    summary="One-click unsubscribe (RFC 8058): opts the address out, no sign-in, no redirect",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def unsubscribe(request: web.Request) -> web.Response:
    """Mail clients POST `List-Unsubscribe=One-Click` with no cookies; the token suffices."""
    await read_body(request)  # the body says nothing the token does not
    target = await _target(request)
    if target is None:
        return not_found_page(request)
    await opt_out.unsubscribe(
        request.app[store_key], target.contact_id, now=request.app[clock_key]()
    )
    return page(
        "unsubscribe.html",
        lang=target.language,
        community=request.app[settings_key].community.name,
        address=target.masked,
        done=True,
    )

"""The household's passbook page behind its signed link (/p/{token}): the balance, the
history (earned where, spent on what), the passbook code with its QR for the store's
counter, and the store's goods. No names, no phone numbers."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from ..core.checkin_codes import qr_svg
from ..core.phrases import area, language_for
from ..domain import passbook_reads
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.links import read_passbook_token
from .pages import not_found_page, page
from .routing import Api

# A resident's page in a browser, not part of the API document.
routes = Api(documented=False)


@routes.route(
    "GET",
    "/p/{token}",
    summary="A household's passbook page (积分存折)",
    tag="passbook",
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def passbook_page(request: web.Request) -> web.Response:
    """?lang=en or zh-CN picks the language; an unknown or forged link is the plain 404."""
    key = request.app[delivery_key].ready().links.key
    household_id = read_passbook_token(key, request.match_info["token"])
    if household_id is None:
        return not_found_page(request)
    view = await passbook_reads.passbook_view(
        request.app[store_key], household_id, now=request.app[clock_key]()
    )
    if view is None:
        return not_found_page(request)
    settings = request.app[settings_key]
    lang = language_for(request.query.get("lang"), settings.community.default_language)
    words = area("passbook_page", lang)
    tz = settings.tz
    return page(
        "passbook.html",
        lang=lang,
        t=words,
        community=settings.community.name,
        view=view,
        qr=Markup(qr_svg(view.code)),
        history=[
            {
                "at": entry.at.astimezone(tz).strftime("%Y-%m-%d"),
                "kind": words[f"kind_{entry.kind}"],
                "points": f"{entry.points:+d}",
                "what": entry.what,
                "plus": entry.points > 0,
            }
            for entry in view.history
        ],
    )


@routes.route(
    "GET",
    "/points/leaderboard",
    summary="The public points leaderboard (积分榜) for the notice board, names masked",
    tag="passbook",
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def leaderboard_page(request: web.Request) -> web.Response:
    """404 when the community turned it off ([passbook] leaderboard = false)."""
    settings = request.app[settings_key]
    if not settings.passbook.leaderboard:
        return not_found_page(request)
    lang = language_for(request.query.get("lang"), settings.community.default_language)
    standings = await passbook_reads.leaderboard(request.app[store_key].reader)
    return page(
        "leaderboard.html",
        lang=lang,
        t=area("leaderboard", lang),
        community=settings.community.name,
        standings=standings,
    )

"""The points store's counter mode (/counter): a tablet or phone at the store desk, signed
in once with a counter token (?token=, then an HttpOnly cookie), finds a household by its
passbook code (typed, or read from the QR by a scanner that types) or unit, sees its
balance and its residents' names masked, picks goods and posts one redemption."""

from __future__ import annotations

import secrets
from typing import Any, Final

from aiohttp import web

from ..core.errors import AuthenticationError, ServiceError
from ..core.phrases import area, language_for
from ..domain import counter, points_store
from ..domain.counter import CounterToken
from ..domain.points_store import Wanted
from ..keys import clock_key, settings_key, store_key
from .jsonio import read_form, read_int
from .pages import page
from .routing import Api

# A page in a browser, not part of the API document.
routes = Api(prefix="", documented=False)
COOKIE: Final = "linli_counter"
COOKIE_MAX_AGE: Final = 60 * 60 * 24 * 365
_PROBLEMS: Final = frozenset(
    {
        "insufficient_points",
        "out_of_stock",
        "monthly_limit",
        "item_unavailable",
        "household_not_found",
        "nothing_chosen",
    }
)


def _lang(request: web.Request, form: Any = None) -> str:
    wanted = request.query.get("lang") or (form.get("lang") if form is not None else None)
    return language_for(wanted, request.app[settings_key].community.default_language)


async def _who(request: web.Request) -> CounterToken:
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise AuthenticationError("sign in with the counter link", code="unauthenticated")
    return await counter.counter(request.app[store_key].reader, token, request.app[clock_key]())


def _render(request: web.Request, lang: str, status: int = 200, **context: Any) -> web.Response:
    settings = request.app[settings_key]
    context.setdefault("household", None)
    context.setdefault("goods", [])
    context.setdefault("problem", "")
    context.setdefault("done", None)
    context.setdefault("typed", "")
    response = page(
        "counter.html",
        status,
        lang=lang,
        t=area("counter", lang),
        community=settings.community.name,
        **context,
    )
    return response


def _problem(lang: str, code: str) -> str:
    words = area("counter", lang)
    return words[f"problem_{code}" if code in _PROBLEMS else "problem_other"]


@routes.route(
    "GET",
    "/counter",
    summary="The points store's counter page",
    tag="points store",
    roles=None,
    response_media="text/html",
    errors=(401,),
)
async def counter_page(request: web.Request) -> web.StreamResponse:
    """?token= signs the device in (303 back here); ?code= or ?unit= finds a household."""
    lang = _lang(request)
    given = request.query.get("token")
    if given:
        try:
            await counter.counter(request.app[store_key].reader, given, request.app[clock_key]())
        except AuthenticationError:
            return _render(request, lang, 401, signed_out=True)
        suffix = "" if "lang" not in request.query else f"?lang={lang}"
        response = web.Response(status=303, headers={"Location": f"/counter{suffix}"})
        response.set_cookie(
            COOKIE,
            given,
            max_age=COOKIE_MAX_AGE,
            path="/counter",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    try:
        await _who(request)
    except AuthenticationError:
        return _render(request, lang, 401, signed_out=True)
    code = request.query.get("code", "").strip()
    unit = request.query.get("unit", "").strip()
    if not code and not unit:
        return _render(request, lang, signed_out=False)
    store = request.app[store_key]
    try:
        found = await counter.find_household(store.reader, code=code or None, unit=unit or None)
    except ServiceError as exc:
        return _render(
            request, lang, exc.status, signed_out=False, problem=_problem(lang, exc.code),
            typed=code or unit,
        )  # fmt: skip
    goods = await points_store.list_items(store.reader, active_only=True, limit=200, offset=0)
    return _render(
        request,
        lang,
        signed_out=False,
        household=found,
        goods=goods.items,
        nonce=secrets.token_urlsafe(16),
    )


@routes.route(
    "POST",
    "/counter/redeem",
    summary="Redeem the goods chosen at the counter",
    tag="points store",
    roles=None,
    response_media="text/html",
    errors=(401, 404, 409),
)
async def counter_redeem(request: web.Request) -> web.StreamResponse:
    """One redemption per page view (its nonce is the idempotency key): a double tap or a
    resent form shows the first outcome."""
    form = await read_form(request)
    lang = _lang(request, form)
    try:
        who = await _who(request)
    except AuthenticationError:
        return _render(request, lang, 401, signed_out=True)
    household_id = read_int(form.get("household_id"))
    nonce = str(form.get("nonce", ""))[:100]
    wanted = []
    for key, value in form.items():
        item_id = read_int(key.removeprefix("qty_")) if key.startswith("qty_") else None
        quantity = read_int(value)
        if item_id is not None and quantity:
            wanted.append(Wanted(item_id, quantity))
    if household_id is None or not nonce or not wanted:
        problem = "nothing_chosen" if household_id and nonce else "other"
        return _render(request, lang, 400, signed_out=False, problem=_problem(lang, problem))
    try:
        made = await points_store.redeem(
            request.app[store_key],
            wanted,
            key=f"counter:{nonce}",
            operator=f"counter:{who.name}",
            now=request.app[clock_key](),
            tz=request.app[settings_key].tz,
            household_id=household_id,
        )
    except ServiceError as exc:
        return _render(
            request, lang, exc.status, signed_out=False, problem=_problem(lang, exc.code)
        )
    return _render(request, lang, signed_out=False, done=made)

"""Signing in and out of the console, and its static files (style and script)."""

from __future__ import annotations

import mimetypes
import secrets
from typing import Final

from aiohttp import web

from ...core.errors import AuthenticationError, PermissionDeniedError, TooManyRequestsError
from ...core.phrases import Text
from ...core.secret import same_text
from ...domain import console_auth
from ...keys import clock_key, sign_in_throttle_key, store_key
from ..jsonio import read_form
from ..proxy import origin
from .base import (
    CONSOLE,
    SESSION_COOKIE,
    TAG,
    Console,
    console_routes,
    error_page,
    language,
    render_page,
    safe_next,
    set_flash,
    view,
)

routes = console_routes()
# Before there is a session, the sign-in form's CSRF token is a random cookie repeated in a
# hidden field (double submit): another site can neither read nor set it.
SIGN_IN_COOKIE: Final = "linli_signin"
STATIC_TYPES: Final = {".css", ".js", ".svg"}


def _sign_in_page(
    request: web.Request,
    status: int = 200,
    errors: dict[str, str] | None = None,
    *,
    next_path: str | None = None,
    login: str = "",
) -> web.Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = render_page(
        request,
        "sign_in.html",
        status,
        me=None,
        csrf=token,
        next=safe_next(next_path or request.query.get("next")),
        login=login,
        errors=errors or {},
    )
    response.set_cookie(
        SIGN_IN_COOKIE, token, path="/console/sign-in", httponly=True, samesite="Strict",
        secure=request.secure,
    )  # fmt: skip
    return response


@routes.route(
    "GET",
    "/sign-in",
    summary="The console's sign-in page (user name and password, or an API token)",
    tag=TAG,
    roles=None,
    response_media="text/html",
)
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    """Shows the form; someone already signed in goes straight on."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if cookie:
        now = request.app[clock_key]()
        if await console_auth.session_user(request.app[store_key], cookie, now) is not None:
            raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _sign_in_page(request)


@routes.route(
    "POST",
    "/sign-in",
    summary="Sign in: a session cookie (HttpOnly, SameSite=Lax); failures are rate-limited",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(401, 403, 429),
)
async def sign_in(request: web.Request) -> web.StreamResponse:
    """Checks the form's CSRF cookie, then the password or token; 303 onward on success."""
    form = await read_form(request)
    t = Text(language(request))
    again = {"next_path": str(form.get("next", "")), "login": str(form.get("login", ""))[:100]}
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not same_text(str(form.get("csrf", "")), expected):
        denied = PermissionDeniedError(
            "this form has expired; reload the sign-in page and try again", code="csrf_failed"
        )
        return error_page(request, denied, None)
    store = request.app[store_key]
    now = request.app[clock_key]()
    throttle = request.app[sign_in_throttle_key]
    client = origin(request).client
    token = str(form.get("token", "")).strip()
    try:
        if token:
            cookie = await console_auth.sign_in_with_token(
                store, token, now=now, throttle=throttle, client=client
            )
        else:
            cookie = await console_auth.sign_in_with_password(
                store,
                str(form.get("login", "")),
                str(form.get("password", "")),
                now=now,
                throttle=throttle,
                client=client,
            )
    except TooManyRequestsError as exc:
        minutes = max(1, (exc.retry_after_s + 59) // 60)
        response = _sign_in_page(
            request, 429, {"_form": t("common.throttled", minutes=minutes)}, **again
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except AuthenticationError:
        field = "token" if token else "_form"
        key = "common.token_failed" if token else "common.sign_in_failed"
        return _sign_in_page(request, 401, {field: t(key)}, **again)
    except PermissionDeniedError:
        return _sign_in_page(request, 403, {"token": t("common.door_token")}, **again)
    response = web.HTTPSeeOther(safe_next(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        max_age=int(console_auth.SESSION_TTL.total_seconds()),
    )
    response.del_cookie(SIGN_IN_COOKIE, path="/console/sign-in")
    raise response


@routes.route(
    "POST",
    "/sign-out",
    summary="Sign out: the session ends on the server, not just in the browser",
    tag=TAG,
    roles=None,
    response_media="text/html",
)
@view
async def sign_out(request: web.Request, c: Console) -> web.StreamResponse:
    """Ends the session and forgets the cookie."""
    await console_auth.sign_out(c.store, request.cookies.get(SESSION_COOKIE, ""), c.now)
    response = web.HTTPSeeOther("/console/sign-in")
    response.del_cookie(SESSION_COOKIE, path="/console")
    set_flash(response, c.t("common.signed_out"))
    raise response


@routes.route(
    "GET",
    "/static/{name:[a-z0-9_-]+\\.(?:css|js|svg)}",
    summary="The console's style sheets, scripts and icons",
    tag=TAG,
    roles=None,
    response_media="text/plain",
    errors=(404,),
)
async def static(request: web.Request) -> web.StreamResponse:
    """A file from templates/console/static; cached briefly (no build step, no hashes)."""
    path = CONSOLE / "static" / request.match_info["name"]
    if path.suffix not in STATIC_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.Response(
        body=path.read_bytes(),
        content_type=ctype,
        charset="utf-8",
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )

"""The console's plumbing: sessions and CSRF on every view, the page renderer with its
texts (zh-CN and English, from the catalogs in service/core/phrases.py), flash messages,
form parsing and live feeds."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import jinja2
import pydantic
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from ...core.clock import YEARS_TEXT, in_years
from ...core.errors import NotFoundError, PermissionDeniedError, ServiceError, ValidationError
from ...core.phrases import LANGUAGES, Text, catalogue, phrase
from ...core.secret import same_text
from ...core.text import text_problem
from ...domain.console_auth import ConsoleUser, session_user
from ...keys import clock_key, delivery_key, settings_key, store_key
from ...settings import Settings
from ...store import Store
from ..jsonio import read_form, validate
from ..routing import Api, RawBody
from ..routing import Handler as RouteHandler
from ..sse import open_stream

CONSOLE: Final = Path(__file__).resolve().parents[3] / "templates" / "console"
SESSION_COOKIE: Final = "linli_session"
LANG_COOKIE: Final = "linli_lang"
FLASH_COOKIE: Final = "linli_flash"
TAG: Final = "console"
# The console's menu: (text key, path). Order is the order shown.
NAV: Final = (
    ("common.nav_dashboard", "/console"),
    ("common.nav_events", "/console/events"),
    ("common.nav_residents", "/console/residents"),
    ("common.nav_rooms", "/console/rooms"),
    ("consultation.nav", "/console/consultation"),
    ("common.nav_messages", "/console/messages"),
    ("common.nav_passbook", "/console/passbook"),
    ("common.nav_inbox", "/console/inbox"),
    ("common.nav_groups", "/console/groups"),
    ("common.nav_settings", "/console/settings"),
)
# Scripts only from our own files (no inline script, so injected markup cannot run);
# inline styles are allowed for bar widths and the like; previews frame srcdoc only.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; frame-src 'self' about:; frame-ancestors 'none';"
    " form-action 'self'; base-uri 'none'"
)
# The page being rendered's CSRF token, for macros (imported templates see no page context).
_CSRF: Final = contextvars.ContextVar("console_csrf", default="")
streams_stop_key: Final = web.AppKey("console_streams_stop", asyncio.Event)
M = TypeVar("M", bound=pydantic.BaseModel)


# What every console POST takes, for the OpenAPI document.
FORM_BODY: Final = RawBody(
    "application/x-www-form-urlencoded",
    "the page's form fields and its csrf token (multipart/form-data where a file is sent)",
)


class ConsoleApi(Api):
    """Console routes: under /console, HTML, and every POST documented as a form."""

    def route(
        self, method: str, path: str, **kwargs: Any
    ) -> Callable[[RouteHandler], RouteHandler]:
        """As Api.route, with a form body for POSTs that declare none."""
        if method.upper() == "POST" and kwargs.get("body") is None:
            kwargs["body"] = FORM_BODY
        return super().route(method, path, **kwargs)


def console_routes() -> Api:
    """A route table under /console (each console module has one)."""
    return ConsoleApi(prefix="/console", name_prefix="console.", documented=False)


Route = Callable[[str, str, str], Callable[[RouteHandler], RouteHandler]]


def page_route(table: Api, area: str) -> Route:
    """Declares an HTML console page of `area` in `table` (signed in by @view, no token)."""

    def declare(method: str, path: str, summary: str) -> Callable[[RouteHandler], RouteHandler]:
        return table.route(
            method, path, summary=f"{area}: {summary}", tag=TAG, roles=None,
            response_media="text/html",
        )  # fmt: skip

    return declare


def form_text(form: Mapping[str, Any], name: str) -> str:
    """A form field's text, trimmed ("" when missing or a file)."""
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def install(app: web.Application) -> None:
    """What the console needs of the app: a signal that ends live feeds at shutdown."""
    app[streams_stop_key] = asyncio.Event()

    async def stop(app: web.Application) -> None:
        app[streams_stop_key].set()

    app.on_shutdown.append(stop)


def _local(moment: datetime | None, tz: tzinfo, fmt: str) -> str:
    return "" if moment is None else moment.astimezone(tz).strftime(fmt)


@jinja2.pass_context
def _local_filter(ctx: Any, moment: datetime | None) -> str:
    return _local(moment, ctx["tz"], "%Y-%m-%d %H:%M")


@jinja2.pass_context
def _local_date_filter(ctx: Any, moment: datetime | None) -> str:
    return _local(moment, ctx["tz"], "%Y-%m-%d")


@jinja2.pass_context
def _local_time_filter(ctx: Any, moment: datetime | None) -> str:
    return _local(moment, ctx["tz"], "%H:%M")


@jinja2.pass_context
def _input_filter(ctx: Any, moment: datetime | None) -> str:
    """A datetime as `<input type=datetime-local>` wants it, in the community's zone."""
    return _local(moment, ctx["tz"], "%Y-%m-%dT%H:%M")


@cache
def environment() -> jinja2.Environment:
    """The console's Jinja2 environment: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(CONSOLE),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local_filter
    env.filters["local_date"] = _local_date_filter
    env.filters["local_time"] = _local_time_filter
    env.filters["input_local"] = _input_filter
    env.globals["csrf_token"] = _CSRF.get
    return env


def language(request: web.Request) -> str:
    """?lang= if given, else the remembered choice, else the community's language."""
    for asked in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if asked in LANGUAGES:
            return str(asked)
    return request.app[settings_key].community.default_language


def html(text: str, status: int = 200) -> web.Response:
    """A console page response: never cached, framed by nobody, scripts only from us."""
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": CSP,
        },
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if target and target.startswith("/console") and not target.startswith("/console//"):
        return target
    return "/console"


@dataclass
class Console:
    """One console request: who is signed in, their language, the form, and the renderer."""

    request: web.Request
    me: ConsoleUser
    now: datetime
    form: MultiDictProxy[Any] = field(default_factory=lambda: MultiDictProxy(MultiDict()))
    _flash_out: str | None = None

    @property
    def store(self) -> Store:
        """The app's store."""
        return self.request.app[store_key]

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self.request.app[settings_key]

    @property
    def tz(self) -> ZoneInfo:
        """The community's time zone."""
        return self.settings.tz

    @property
    def lang(self) -> str:
        """The page's language."""
        return language(self.request)

    @property
    def csrf(self) -> str:
        """The session's CSRF token, for forms."""
        return self.me.csrf

    @property
    def t(self) -> Text:
        """Text in the page's language."""
        return Text(self.lang)

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        """templates/console/<template> with the console's base context."""
        return render_page(self.request, template, status, me=self.me, **context)

    def redirect(self, path: str, flash_key: str | None = None, **values: Any) -> web.HTTPSeeOther:
        """A 303 to `path`; the flash text shows once on the next page."""
        response = web.HTTPSeeOther(path)
        if flash_key is not None:
            set_flash(response, self.t(flash_key, **values))
        return response

    def errors(self, exc: ServiceError) -> dict[str, str]:
        """Field -> problem for the form macros; a problem of no field goes under "_form"."""
        found = field_problems(self.lang, exc)
        if not found:
            found["_form"] = error_text(self.lang, exc)
        return found

    def error_text(self, exc: ServiceError) -> str:
        """A coded error in the page's language."""
        return error_text(self.lang, exc)

    def require_confirm(self) -> None:
        """A destructive action must come from its confirmation button."""
        if self.form.get("confirm") != "yes":
            raise ValidationError.field(
                "confirm", "confirm this action first", code="confirmation_required"
            )

    def local_input(self, value: str | None, name: str) -> datetime:
        """An `<input type=datetime-local>` value, read in the community's zone, as UTC."""
        text = (value or "").strip()
        if not text:
            raise ValidationError.field(name, "is required", code="required")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError.field(
                name, "must be a date and time like 2026-12-05T09:00", code="invalid_datetime"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        if not in_years(moment):  # year 1 in a zone east of UTC would not convert
            raise ValidationError.field(name, YEARS_TEXT)
        return moment.astimezone(ZoneInfo("UTC"))

    def parse(self, model: type[M], data: Mapping[str, Any]) -> M:
        """A form's values validated by the API's own model (same refusals, same words)."""
        return validate(model, dict(data), "form")


def _flash_text(cookie: str | None) -> str | None:
    """The flash cookie's text; None for one we could not have set (odd bytes, controls)."""
    text = unquote(cookie) if cookie else None
    return text if text and text_problem(text) is None else None


def set_flash(response: web.StreamResponse, text: str) -> None:
    """Show `text` once on the next console page."""
    response.set_cookie(
        FLASH_COOKIE, quote(text), path="/console", max_age=60, httponly=True, samesite="Lax"
    )


def render_page(
    request: web.Request,
    template: str,
    status: int = 200,
    *,
    me: ConsoleUser | None,
    **context: Any,
) -> web.Response:
    """Render a console template (signed in or not) with the base context."""
    settings = request.app[settings_key]
    lang = language(request)
    flash = request.cookies.get(FLASH_COOKIE)
    base: dict[str, Any] = {
        "t": Text(lang),
        "lang": lang,
        "me": me,
        "csrf": me.csrf if me is not None else context.pop("csrf", ""),
        "community": settings.community.name,
        "tz": settings.tz,
        "now": request.app[clock_key](),
        "flash": _flash_text(flash),
        "nav": [(key, href, _active(request.path, href)) for key, href in NAV],
        "path": request.path,
        # Channels the file channel carries: their messages are only written to files
        # (a demo), and the pages say so rather than "delivered".
        "stood_in": request.app[delivery_key].stand_ins(),
    }
    base.update(context)
    _CSRF.set(base["csrf"])
    response = html(environment().get_template(template).render(**base), status)
    if flash:
        response.del_cookie(FLASH_COOKIE, path="/console")
    asked = request.query.get("lang")
    if asked in LANGUAGES and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(LANG_COOKIE, str(asked), path="/", max_age=365 * 86400, samesite="Lax")
    return response


def _active(path: str, href: str) -> bool:
    if href == "/console":
        return path in ("/console", "/console/")
    return path == href or path.startswith(href + "/")


def error_text(lang: str, exc: ServiceError) -> str:
    """A coded error as the console says it in `lang`: the catalog's errors.<code> when
    there is one, else the error's own message."""
    key = f"errors.{exc.code}"
    return phrase(key, lang) if key in catalogue()[lang] else exc.message


def field_problems(lang: str, exc: ServiceError) -> dict[str, str]:
    """Each refused field's problem in `lang`: a kind of refusal the catalog words
    (errors.field_<kind>: pydantic's types, and the `required` code) with its values,
    else the words the error came with (the domain's own, often already in `lang`)."""
    words = catalogue()[lang]
    found: dict[str, str] = {}
    for name, problem in exc.fields.items():
        kind, values = exc.reasons.get(name, (exc.code, {}))
        said = words.get(f"errors.field_{kind}")
        try:
            found[name] = problem if said is None else said.format(**values)
        except (KeyError, IndexError, ValueError):  # a phrase wanting a value not given
            found[name] = problem
    return found


def error_page(request: web.Request, exc: ServiceError, me: ConsoleUser | None) -> web.Response:
    """A coded error as a console page with the error's own 4xx status."""
    lang = language(request)
    return render_page(
        request,
        "error.html",
        exc.status,
        me=me,
        error=exc,
        message=error_text(lang, exc),
        problems=field_problems(lang, exc),
    )


async def signed_in(request: web.Request) -> ConsoleUser | None:
    """Who the request's session cookie signs in, or None."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        return None
    return await session_user(request.app[store_key], cookie, request.app[clock_key]())


async def not_found_page(request: web.Request) -> web.Response:
    """The console's own 404 page for a /console address that no page has (in the
    console's look and language, never the API's JSON)."""
    me = await signed_in(request)
    missing = NotFoundError(f"no page at {request.path}", code="page_not_found")
    return error_page(request, missing, me)


Handler = Callable[[web.Request, Console], Awaitable[web.StreamResponse]]


def view(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A console page: signed in (else to the sign-in page), CSRF-checked on POST, its
    form parsed, and coded errors shown as pages with their status (never a 500)."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        now = request.app[clock_key]()
        me = await signed_in(request)
        if me is None:
            # A form posted after the session ended cannot be replayed: back to the start.
            back = request.path_qs if request.method == "GET" else "/console"
            raise web.HTTPSeeOther(f"/console/sign-in?next={quote(back)}")
        c = Console(request, me, now)
        try:
            if request.method == "POST":
                c.form = await read_form(request)
                if not same_text(str(c.form.get("csrf", "")), me.csrf):
                    raise PermissionDeniedError(
                        "this form has expired or came from elsewhere;"
                        " reload the page and try again",
                        code="csrf_failed",
                    )
            result = await handler(request, c)
        except ServiceError as exc:
            return error_page(request, exc, me)
        if isinstance(result, web.HTTPException):  # c.redirect(...) returned, not raised
            raise result
        return result

    return handle


Poll = Callable[[], Awaitable[dict[str, Any] | None]]


async def sse_response(
    request: web.Request, poll: Poll, *, event: str = "update", interval_s: float = 0.5
) -> web.StreamResponse:
    """Server-sent events: `poll()` every interval, sent whenever its dict changes; ends when
    the client goes, the app stops, or a dict says "done": true (that one is sent)."""
    stop = request.app[streams_stop_key]
    response = await open_stream(request)
    last: str | None = None
    beat = time.monotonic()
    try:
        while not stop.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            found = await poll()
            if found is not None:
                body = json.dumps(found, ensure_ascii=False, default=str)
                if body != last:
                    last = body
                    beat = time.monotonic()
                    await response.write(f"event: {event}\ndata: {body}\n\n".encode())
                if found.get("done"):
                    break
            if time.monotonic() - beat >= 15:
                await response.write(b": heartbeat\n\n")
                beat = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
    except (ConnectionResetError, ServiceError):
        pass  # the browser went away, or the thing watched was deleted
    return response

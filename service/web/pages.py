"""Server-rendered HTML pages (Jinja2, autoescaped) from templates/pages/."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web

from ..core.i18n import opening_hours_text
from ..core.phrases import LANGUAGES, language_from_header, phrase
from ..keys import settings_key
from .console.base import LANG_COOKIE

PAGES: Final = Path(__file__).resolve().parents[2] / "templates" / "pages"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # phrase("common.colon", lang): punctuation and words of any catalog area, so that a
    # page never types a language's punctuation into its markup.
    env.globals["phrase"] = phrase
    env.filters["hours_text"] = opening_hours_text
    return env


def page(name: str, status: int = 200, **context: Any) -> web.Response:
    """A rendered page; never cached, and no referrer leaves it (links carry tokens)."""
    html = _environment().get_template(name).render(**context)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def reader_language(request: web.Request) -> str:
    """The language of a page whose reader is unknown (a link that leads nowhere): ?lang=,
    else the language chosen before (the console's cookie), else the browser's
    Accept-Language, else the community's."""
    for asked in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if asked in LANGUAGES:
            return str(asked)
    found = language_from_header(request.headers.get("Accept-Language"))
    return found or request.app[settings_key].community.default_language


def not_found_page(request: web.Request) -> web.Response:
    """The plain 404 page of a link that leads nowhere (unknown or spent token), in the
    reader's language, with a link to the other one."""
    settings = request.app[settings_key]
    lang = reader_language(request)
    other = next(code for code in LANGUAGES if code != lang)
    return page(
        "not_found.html",
        404,
        lang=lang,
        other=other,
        community=settings.community.name,
    )

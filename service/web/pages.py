"""Server-rendered HTML pages (Jinja2, autoescaped) from templates/pages/."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web

from ..keys import settings_key

PAGES: Final = Path(__file__).resolve().parents[2] / "templates" / "pages"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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


def not_found_page(request: web.Request) -> web.Response:
    """The plain 404 page of a link that leads nowhere (unknown or spent token)."""
    settings = request.app[settings_key]
    return page(
        "not_found.html",
        404,
        lang=settings.community.default_language,
        community=settings.community.name,
    )

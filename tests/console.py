"""A signed-in browser stand-in for the console's pytest tests: it keeps the session cookie,
puts the page's CSRF token into every form it posts, and follows redirects like a browser."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

_CSRF = re.compile(r'<meta name="csrf" content="([^"]*)"')
_FLASH = re.compile(r'id="flash">(.*?)</p>', re.S)
_TAGS = re.compile(r"<[^>]+>")


def plain(fragment: str) -> str:
    """Markup as the text a reader sees: tags dropped, entities decoded, spaces squeezed."""
    return " ".join(html.unescape(_TAGS.sub(" ", fragment)).split())


@dataclass(frozen=True)
class Page:
    """A console response after redirects: its status, HTML and final path."""

    status: int
    text: str
    url: str
    headers: Any = None

    def error_for(self, name: str) -> str | None:
        """The error shown beside field `name` (the macros' #err-NAME), or None."""
        found = re.search(rf'id="err-{re.escape(name)}"[^>]*>(.*?)</p>', self.text, re.S)
        return plain(found.group(1)) if found else None

    @property
    def flash(self) -> str | None:
        """The one-time message at the top of the page, or None."""
        found = _FLASH.search(self.text)
        return plain(found.group(1)) if found else None

    def has(self, text: str) -> bool:
        """Whether a reader sees `text` on the page."""
        return text in plain(self.text)

    def by_id(self, element_id: str) -> str | None:
        """The text inside the element with this id (up to its first closing tag)."""
        found = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</', self.text, re.S)
        return plain(found.group(1)) if found else None


class ConsoleClient:
    """The console as a signed-in organiser's browser sees it."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.csrf = ""

    async def _page(self, resp: aiohttp.ClientResponse) -> Page:
        text = await resp.text()
        found = _CSRF.search(text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return Page(resp.status, text, resp.url.path_qs, resp.headers)

    async def get(self, path: str, **kw: Any) -> Page:
        """GET a page (following redirects)."""
        async with self.client.get(path, **kw) as resp:
            return await self._page(resp)

    async def post(self, path: str, data: Any = None, *, csrf: bool = True, **kw: Any) -> Page:
        """POST a form (a dict, a list of pairs, or aiohttp.FormData for uploads), with the
        CSRF token a page gave unless csrf=False."""
        if not self.csrf and csrf:
            await self.get("/console")
        if isinstance(data, aiohttp.FormData):
            if csrf:
                data.add_field("csrf", self.csrf)
            body: Any = data
        else:
            pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
            if csrf:
                pairs.append(("csrf", self.csrf))
            body = pairs
        async with self.client.post(path, data=body, **kw) as resp:
            return await self._page(resp)

    async def sign_in_token(self, token: str) -> Page:
        """Sign in with an API token through the sign-in form."""
        page = await self.get("/console/sign-in")
        found = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert found, "the sign-in page carries a CSRF field"
        return await self.post(
            "/console/sign-in", {"token": token, "csrf": found.group(1)}, csrf=False
        )

    async def sign_in(self, login: str, password: str) -> Page:
        """Sign in with a user name and password through the sign-in form."""
        page = await self.get("/console/sign-in")
        found = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert found, "the sign-in page carries a CSRF field"
        return await self.post(
            "/console/sign-in",
            {"login": login, "password": password, "csrf": found.group(1)},
            csrf=False,
        )

"""The landing page at `/`: what anyone opening the printed address sees (the real app)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.community import resident
from tests.conftest import Api
from tests.console import ConsoleClient

CONSOLE_PAGES = (
    "/console",
    "/console/events",
    "/console/residents",
    "/console/rooms",
    "/console/messages",
)


def _hrefs(html: str) -> set[str]:
    return set(re.findall(r'href="([^"?]+)"', html))


async def test_home_says_what_linli_is_and_leads_to_the_console_and_the_api(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert resp.headers["Cache-Control"] == "no-store"
        zh = await resp.text()
    assert '<html lang="zh-CN">' in zh and "邻里" in zh and "管理后台" in zh
    assert {*CONSOLE_PAGES, "/api/v1/openapi.json"} <= _hrefs(zh)
    async with client.get("/", params={"lang": "en"}) as resp:
        en = await resp.text()
    assert '<html lang="en">' in en and "Open the console" in en and "API reference" in en
    async with client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
    for path in CONSOLE_PAGES:  # not signed in: each asks for a sign-in, then comes back
        async with client.get(path, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == f"/console/sign-in?next={quote(path)}"


async def test_home_answers_head_without_a_body(client: TestClient[Any, Any]) -> None:
    async with client.head("/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert await resp.read() == b""


async def test_home_leads_a_signed_in_organiser_to_their_pages_and_shows_no_personal_data(
    console: ConsoleClient, api: Api
) -> None:
    await resident(api, "张秀英", "1-1-101", ("sms", "+8613800138000"))
    page = await console.get("/")
    assert page.status == 200 and page.url == "/"
    for private in ("张秀英", "13800138000", "王组织"):  # a resident, their phone, the user
        assert private not in page.text
    for path in CONSOLE_PAGES:
        assert path in _hrefs(page.text)
        reached = await console.get(path)
        assert reached.status == 200 and reached.url == path
    assert "张秀英" in (await console.get("/console/residents")).text

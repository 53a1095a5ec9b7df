"""Browser tests: a real Linli server on 127.0.0.1 (the real app factory under aiohttp's
AppRunner, a SQLite file in tmp_path, the file channel) and Debian's Chromium driven by
Playwright. Playwright's own browser download cannot be reached here, so the tests take
the system's Chromium: $CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH.
Without one they fail, never skip: `make test` installs it with apt-get (see the Makefile)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from service.app import create_app
from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from service.settings import load_settings
from tests.conftest import START, Api, PinnedClock, base_overrides

# Root has no sandbox; the rest keeps Chromium off a network it cannot reach anyway.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """The system Chromium to drive, or a failure that says how to get one."""
    found = os.environ.get("CHROMIUM_PATH") or next(
        filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser"))), None
    )
    if not found or not Path(found).exists():
        pytest.fail(
            "browser tests need Chromium: `apt-get install -y --no-install-recommends chromium`"
            " (as `make test` does as root), or set CHROMIUM_PATH to a Chromium binary",
            pytrace=False,
        )
    return found


class LiveClient:
    """What tests.conftest.Api needs of a client, over HTTP to the live server."""

    def __init__(self, app: web.Application, session: aiohttp.ClientSession) -> None:
        self.app = app
        self.session = session

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.session.request(method, path, **kwargs)


@dataclass(frozen=True)
class Live:
    """The running server: its base URL and an organiser's API on it."""

    url: str
    api: Api


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """Linli serving on a free port of 127.0.0.1, its clock pinned to tests.conftest.START."""
    port = _free_port()
    overrides = base_overrides(tmp_path, tmp_path / "linli.db")
    # The port goes into the settings so that the links in messages point at this server.
    overrides.update({"server.host": "127.0.0.1", "server.port": port})
    app = create_app(load_settings(overrides=overrides), clock=PinnedClock())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    url = f"http://127.0.0.1:{port}"
    _, token = await auth.issue_token(app[store_key], role=Role.ORGANISER, name="王组织", now=START)
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            yield Live(url, Api(LiveClient(app, session), token))
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium under Playwright."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            await launched.close()


PHONE: Final = {"width": 375, "height": 740}
DESKTOP: Final = {"width": 1280, "height": 860}


async def sign_in(page: Page, live: Live) -> None:
    """Sign in to the console through its sign-in page, with the organiser's API token."""
    await page.goto(f"{live.url}/console/sign-in")
    await page.click("#token-sign-in summary")
    await page.fill("#f-token", live.api.token or "")
    await page.click("#sign-in-token")
    await page.wait_for_url(f"{live.url}/console")


@pytest.fixture
async def signed_in_page(browser: Browser, live: Live) -> AsyncIterator[Page]:
    """A desktop-sized Chromium page signed in to the console as `live.api`'s organiser."""
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    await sign_in(page, live)
    try:
        yield page
    finally:
        await context.close()

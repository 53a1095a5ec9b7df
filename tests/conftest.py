"""Fixtures: a real app on a real SQLite file in tmp_path, a pinned clock, real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from service.settings import Settings, load_settings
from tests.console import ConsoleClient
from tests.fakes.sms_gateway import FakeSmsGateway

START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class PinnedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> PinnedClock:
    return PinnedClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "linli.db"


def base_overrides(tmp_path: Path, db_path: Path) -> dict[str, Any]:
    """Settings every test app uses: its own files, and a worker that looks often."""
    return {
        "store.path": str(db_path),
        "server.access_log": False,
        "server.secret_file": str(tmp_path / "linli.secret"),
        "channels.file.path": str(tmp_path / "outbox"),
        "delivery.poll_interval_s": 0.02,
    }


@pytest.fixture
def settings(tmp_path: Path, db_path: Path) -> Settings:
    return load_settings(overrides=base_overrides(tmp_path, db_path))


class Api:
    """A test client that sends one token's Authorization header."""

    def __init__(self, client: TestClient[Any, Any], token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        async with self.client.request(
            method, path, headers=self._headers(headers), **kwargs
        ) as resp:
            body: Any = await resp.text()
            if resp.content_type == "application/json" and body:
                body = await resp.json()
            return resp.status, body

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("PATCH", path, **kw)

    async def put(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, **kw)


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, clock: PinnedClock
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, clock=clock))


async def _token(client: TestClient[Any, Any], role: Role, name: str, **kw: Any) -> str:
    store = client.app[store_key]
    _, token = await auth.issue_token(store, role=role, name=name, now=START, **kw)
    return token


@pytest.fixture
async def api(client: TestClient[Any, Any]) -> Api:
    """The API as an organiser."""
    return Api(client, await _token(client, Role.ORGANISER, "王组织"))


@pytest.fixture
async def console(client: TestClient[Any, Any], api: Api) -> ConsoleClient:
    """The console, signed in (with `api`'s token) as the same organiser as `api`."""
    browser = ConsoleClient(client)
    page = await browser.sign_in_token(api.token or "")
    assert page.url.startswith("/console"), page.text
    return browser


@pytest.fixture
async def admin(client: TestClient[Any, Any]) -> Api:
    """The API as an admin."""
    return Api(client, await _token(client, Role.ADMIN, "管理员"))


@pytest.fixture
def anonymous(client: TestClient[Any, Any]) -> Api:
    """The API with no token."""
    return Api(client, None)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def make_api(
    aiohttp_client: AiohttpClient, tmp_path: Path, db_path: Path, clock: PinnedClock
) -> MakeApi:
    """An organiser's API on an app with some settings changed: make_api(**{"a.b": v})."""

    async def make(**overrides: Any) -> Api:
        values = base_overrides(tmp_path, db_path)
        values.update(overrides)
        client = await aiohttp_client(create_app(load_settings(overrides=values), clock=clock))
        return Api(client, await _token(client, Role.ORGANISER, "王组织"))

    return make


# What the Android gateway stand-in signs residents' texts with in the `android` app.
GATEWAY_SECRET = "gateway-webhook-signing-key"


@pytest.fixture
async def gateway() -> AsyncIterator[FakeSmsGateway]:
    """The Android SMS gateway stand-in, on 127.0.0.1."""
    async with FakeSmsGateway() as fake:
        yield fake


@pytest.fixture
async def android(make_api: MakeApi, gateway: FakeSmsGateway) -> Api:
    """The organiser's API on an app sending SMS through the Android gateway stand-in,
    which reports residents' texts signed with GATEWAY_SECRET."""
    from tests.community import android_settings  # community.py imports this module

    return await make_api(**android_settings(gateway, GATEWAY_SECRET))

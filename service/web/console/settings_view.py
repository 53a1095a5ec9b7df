"""The organiser's settings view: the community, quiet hours and each channel's settings
(secrets never shown), and a test send through one channel.

The test send goes straight through the channel, not through the outbox: the organiser is
checking the channel's setup, so they need the provider's answer (its id, or the error) on
the page at once, not a retried message that may fail quietly an hour later; and a test
is not a message to a resident, so it belongs in no resident's log. It is admin only: it
sends to any address the form names, on the community's paid SMS or e-mail account."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from channels.base import ChannelFailure, OutboundMessage
from channels.file import FileChannel
from channels.registry import NAMES

from ...contacts import canonical_address
from ...errors import PermissionDeniedError, ServiceError
from ...keys import delivery_key
from ...models import Channel, Role
from .base import Console, console_routes, page_route, view

routes = console_routes()
# The channels' settings tables, in the order shown.
TABLES: Final = ("file", *NAMES)
# A test send gives up after this long, so the page answers even if a provider hangs.
TEST_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True)
class Setting:
    """One channel setting as shown: a secret only says whether it is set."""

    key: str
    value: str
    secret: bool
    is_set: bool


@dataclass(frozen=True)
class ChannelView:
    """A channel's table: enabled, what carries its messages, and its settings."""

    name: str
    enabled: bool
    offered: bool
    stand_in: bool
    settings: tuple[Setting, ...]


@dataclass(frozen=True)
class TestResult:
    """What one test send did."""

    channel: str
    address: str
    ok: bool
    provider_id: str
    detail: str


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def channel_views(c: Console, request: web.Request) -> list[ChannelView]:
    """Every channel's settings, secrets reduced to set / not set."""
    routes_by_name = request.app[delivery_key].routes
    views: list[ChannelView] = []
    for name in TABLES:
        table = getattr(c.settings.channels, name)
        shown = tuple(
            Setting(
                key=f.name,
                # A secret's value never reaches the template, not even masked in part.
                value="" if f.metadata.get("secret") else _shown(getattr(table, f.name)),
                secret=bool(f.metadata.get("secret")),
                is_set=bool(getattr(table, f.name)),
            )
            for f in dataclasses.fields(table)
            if f.name != "enabled"
        )
        route = routes_by_name.get(name)
        views.append(
            ChannelView(
                name=name,
                enabled=bool(table.enabled),
                offered=route is not None or (name == "file" and table.enabled),
                stand_in=route is not None
                and name != "file"
                and isinstance(route.channel, FileChannel),
                settings=shown,
            )
        )
    return views


def _render(
    c: Console,
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    result: TestResult | None = None,
) -> web.Response:
    delivery = c.settings.delivery
    return c.render(
        "settings/view.html",
        status,
        community_settings=c.settings.community,
        quiet=(delivery.quiet_start, delivery.quiet_end, ", ".join(delivery.quiet_channels)),
        channels=channel_views(c, request),
        testable=[n for n in NAMES if n in request.app[delivery_key].routes],
        may_test=c.me.role == Role.ADMIN,
        errors=errors or {},
        values=values or {},
        result=result,
    )


_page = page_route(routes, "Settings")


@_page("GET", "/settings", "the community, quiet hours and channels (secrets masked)")
@view
async def settings_page(request: web.Request, c: Console) -> web.StreamResponse:
    """Read only: settings come from the config file and LINLI_* variables."""
    return _render(c, request)


async def send_test(request: web.Request, channel: str, address: str, lang: str) -> TestResult:
    """One test message straight through the channel that carries `channel`'s messages."""
    route = request.app[delivery_key].routes[channel]
    text = {
        "zh-CN": "这是一条来自邻里的测试消息。",
        "en": "This is a test message from Linli.",
    }[lang]
    message = OutboundMessage(
        id=f"test-{secrets.token_hex(8)}",
        channel=channel,
        address=address,
        kind="test",
        language=lang,
        subject=text,
        text=json.dumps({"type": "linli.test", "text": text}, ensure_ascii=False)
        if channel == "webhook"
        else text,
    )
    try:
        async with asyncio.timeout(TEST_TIMEOUT_S):
            receipt = await route.channel.send(message)
    except ChannelFailure as exc:
        return TestResult(channel, address, False, "", exc.reason)
    except TimeoutError:
        return TestResult(channel, address, False, "", f"no answer within {TEST_TIMEOUT_S:.0f} s")
    return TestResult(channel, address, True, receipt.provider_id or "", receipt.detail)


@_page("POST", "/settings/test", "send a test message through one channel (admin only)")
@view
async def settings_test(request: web.Request, c: Console) -> web.StreamResponse:
    """The address is checked as a contact's would be; the result shows on the page."""
    if c.me.role != Role.ADMIN:
        raise PermissionDeniedError("only an admin may send test messages", code="admin_only")
    channel = str(c.form.get("channel", ""))
    field = f"address_{channel}"
    raw = str(c.form.get(field, ""))
    if channel not in request.app[delivery_key].routes or channel not in NAMES:
        return _render(c, request, status=400, errors={"_form": c.t("settings.no_channel")})
    try:
        address = canonical_address(Channel(channel), raw, region=c.settings.community.phone_region)
    except ServiceError as exc:
        message = next(iter(exc.fields.values()), exc.message)
        return _render(c, request, status=exc.status, errors={field: message}, values={field: raw})
    result = await send_test(request, channel, address, c.lang)
    return _render(c, request, values={field: raw}, result=result)

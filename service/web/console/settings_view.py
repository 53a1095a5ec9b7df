"""The organiser's settings view: the community, quiet hours and each channel's settings
(secrets never shown), and a test send through one channel.

The test send goes straight through the channel, not through the outbox: the organiser is
checking the channel's setup, so they need the provider's answer (its id, or the error) on
the page at once, not a retried message that may fail quietly an hour later; and a test
is not a message to a resident, so it belongs in no resident's log. It is admin only: it
sends to any address the form names, on the community's paid SMS or e-mail account."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from ...core.errors import PermissionDeniedError, ServiceError
from ...core.models import Channel, Role
from ...dispatch import TestResult
from ...domain.contacts import canonical_address
from ...keys import delivery_key
from ...settings import CHANNEL_TABLES
from .base import Console, console_routes, page_route, view

routes = console_routes()
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


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def channel_views(c: Console, request: web.Request) -> list[ChannelView]:
    """Every channel's settings, secrets reduced to set / not set."""
    delivery = request.app[delivery_key]
    stand_ins = delivery.stand_ins()
    views: list[ChannelView] = []
    # The channels' tables in the order the channel table lists them (the file first).
    for name in CHANNEL_TABLES:
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
        views.append(
            ChannelView(
                name=name,
                enabled=bool(table.enabled),
                offered=name in delivery.routes or (name == "file" and table.enabled),
                stand_in=name in stand_ins,
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
        # The channels quiet hours hold back, named as the page names them ("短信、邮件").
        quiet=(
            delivery.quiet_start,
            delivery.quiet_end,
            c.t("common.list_sep").join(
                c.t(f"settings.channel_{ch}") for ch in delivery.quiet_channels
            ),
        ),
        channels=channel_views(c, request),
        testable=[ch.value for ch in Channel if ch.value in request.app[delivery_key].routes],
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
    text = {
        "zh-CN": "这是一条来自邻里的测试消息。",
        "en": "This is a test message from Linli.",
    }[lang]
    delivery = request.app[delivery_key]
    return await delivery.send_test(
        channel, address, language=lang, text=text, timeout_s=TEST_TIMEOUT_S
    )


@_page("POST", "/settings/test", "send a test message through one channel (admin only)")
@view
async def settings_test(request: web.Request, c: Console) -> web.StreamResponse:
    """The address is checked as a contact's would be; the result shows on the page."""
    if c.me.role != Role.ADMIN:
        raise PermissionDeniedError("only an admin may send test messages", code="admin_only")
    channel = str(c.form.get("channel", ""))
    field = f"address_{channel}"
    raw = str(c.form.get(field, ""))
    if channel not in request.app[delivery_key].routes or channel not in set(Channel):
        return _render(c, request, status=400, errors={"_form": c.t("settings.no_channel")})
    try:
        address = canonical_address(Channel(channel), raw, region=c.settings.community.phone_region)
    except ServiceError as exc:
        message = next(iter(exc.fields.values()), exc.message)
        return _render(c, request, status=exc.status, errors={field: message}, values={field: raw})
    result = await send_test(request, channel, address, c.lang)
    return _render(c, request, values={field: raw}, result=result)

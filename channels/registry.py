"""The channel table: every built-in channel module registers its channel class (the
`register` decorator in channels/base.py), and this module imports them in BUILT_IN's
order, the order the settings page shows them in. The settings build their [channels.*]
tables from CHANNELS, and the console and the delivery side read names from here or from
the core enum `service.models.Channel`.

Why two places name channels, and which one wins: the core enum is what an address, a
contact and a stored message may be (the database checks it too), and the layers below
channels (message rendering, the store, the domain) read it, since they may not import
channels/. The table here must match it, less the stand-ins: importing this module raises
when a channel has no enum member or an enum member no channel. So adding a channel is its
module, its entry in BUILT_IN, its enum member (with the migration that lets the database
store it) and its message templates; a test may build a Registry of its own with any name.

A channel that is not enabled is not offered, except that the file channel, when enabled,
stands in for every channel that is not (so the demo "sends" SMS, email, webhooks and
Telegram into var/outbox/)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from service.core.models import Channel as Address
from service.core.models import GroupChannel

from . import dingtalk, email, feishu, file, sms, telegram, webhook, wecom
from .base import REGISTRY, Channel, Context, Spec

# The built-in channel modules, in the order their tables are listed.
BUILT_IN: Final = (file, sms, email, telegram, webhook, wecom, dingtalk, feishu)


def _table() -> tuple[Spec, ...]:
    by_module = {spec.channel.__module__: spec for spec in REGISTRY.specs()}
    missing = [m.__name__ for m in BUILT_IN if m.__name__ not in by_module]
    if missing:
        raise ValueError(f"channel module(s) {', '.join(missing)} registered no channel")
    table = tuple(by_module[m.__name__] for m in BUILT_IN)
    carried = {spec.name for spec in table if not spec.stands_in and not spec.for_groups}
    if carried != {a.value for a in Address}:
        raise ValueError(
            f"channels {sorted(carried)} do not match service.models.Channel "
            f"{sorted(a.value for a in Address)}"
        )
    bots = {spec.name for spec in table if spec.for_groups}
    if bots != {g.value for g in GroupChannel}:
        raise ValueError(
            f"group channels {sorted(bots)} do not match service.models.GroupChannel "
            f"{sorted(g.value for g in GroupChannel)}"
        )
    return table


# Every built-in channel's declarations, in BUILT_IN's order.
CHANNELS: Final = _table()
# The names of the channels that carry residents' addresses (not the stand-ins or bots).
NAMES: Final = tuple(spec.name for spec in CHANNELS if not spec.stands_in and not spec.for_groups)


@dataclass(frozen=True)
class Route:
    """The channel that carries one kind of address, and its limits."""

    channel: Channel
    concurrency: int
    rate_per_s: float
    per_key_per_s: float


def _route(spec: Spec, table: Any, context: Context) -> Route:
    per_key = float(getattr(table, spec.per_key_setting)) if spec.per_key_setting else 0.0
    channel = spec.channel.from_settings(table, context)
    return Route(channel, table.concurrency, table.rate_per_s, per_key)


def build_routes(
    tables: Any, context: Context, specs: Iterable[Spec] = CHANNELS
) -> dict[str, Route]:
    """A route per offered channel name, from `tables` (settings.channels: one table per
    spec, by name); each channel checks its settings here, at start, raising SettingsError
    naming the key."""
    specs = tuple(specs)
    routes: dict[str, Route] = {}
    for spec in specs:
        table = getattr(tables, spec.name)
        if table.enabled and not spec.stands_in:
            routes[spec.name] = _route(spec, table, context)
    for spec in specs:
        table = getattr(tables, spec.name)
        if table.enabled and spec.stands_in:
            stand_in = _route(spec, table, context)
            for other in specs:
                if not other.stands_in:
                    routes.setdefault(other.name, stand_in)
    return routes


def distinct_channels(routes: dict[str, Route]) -> list[Channel]:
    """Each channel object once (the file channel may serve several names)."""
    seen: dict[int, Channel] = {}
    for route in routes.values():
        seen.setdefault(id(route.channel), route.channel)
    return list(seen.values())

"""Channels by name, built from the [channels.*] settings; a channel that is not enabled is
not offered, except that the file channel, when enabled, stands in for every channel that
is not (so the demo "sends" SMS, email, webhooks and Telegram into var/outbox/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service.settings import Settings

from .base import Channel
from .email import EmailChannel
from .file import FileChannel
from .sms import sms_channel
from .telegram import TelegramChannel
from .webhook import WebhookChannel

NAMES: Final = ("sms", "email", "telegram", "webhook")


@dataclass(frozen=True)
class Route:
    """The channel that carries one kind of address, and its limits."""

    channel: Channel
    concurrency: int
    rate_per_s: float
    per_key_per_s: float


def build_routes(settings: Settings) -> dict[str, Route]:
    """A route per offered channel name; each channel checks its settings here, at start,
    raising SettingsError naming the key."""
    configured = settings.channels
    routes: dict[str, Route] = {}
    if configured.email.enabled:
        email = configured.email
        routes["email"] = Route(
            EmailChannel(email, sender_name=settings.community.name),
            email.concurrency,
            email.rate_per_s,
            0.0,
        )
    if configured.sms.enabled:
        sms = configured.sms
        routes["sms"] = Route(sms_channel(sms), sms.concurrency, sms.rate_per_s, 0.0)
    if configured.webhook.enabled:
        hook = configured.webhook
        routes["webhook"] = Route(WebhookChannel(hook), hook.concurrency, hook.rate_per_s, 0.0)
    if configured.telegram.enabled:
        tg = configured.telegram
        routes["telegram"] = Route(
            TelegramChannel(tg), tg.concurrency, tg.rate_per_s, tg.per_chat_per_s
        )
    if configured.file.enabled:
        files = configured.file
        stand_in = FileChannel(files.path)
        for name in NAMES:
            routes.setdefault(name, Route(stand_in, files.concurrency, files.rate_per_s, 0.0))
    return routes


def distinct_channels(routes: dict[str, Route]) -> list[Channel]:
    """Each channel object once (the file channel may serve several names)."""
    seen: dict[int, Channel] = {}
    for route in routes.values():
        seen.setdefault(id(route.channel), route.channel)
    return list(seen.values())

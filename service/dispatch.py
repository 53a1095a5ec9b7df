"""Delivery wiring shared by `linli serve` and `linli worker`: the channels, the composer
that renders messages, and the worker, built from the settings.

Views reach channels only through here (import-linter keeps channels/ to delivery and the
wiring): a test send (`send_test`), the Telegram bot the webhook answers with
(`telegram_bot`, typed as `TelegramBot`), and `ChannelFailure`, whose reason is free of
secrets. Provider callbacks are read through service/delivery/sms_callbacks.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from channels.base import ChannelFailure, Context, OutboundMessage
from channels.registry import Route, build_routes, distinct_channels
from channels.telegram import TelegramChannel

from .core.clock import Clock
from .core.errors import NotReadyError
from .core.metrics import Metrics
from .core.secret import load_or_create
from .delivery.quiet import QuietHours
from .delivery.worker import Worker, running
from .domain import reconfirm, reminders
from .domain.followups import Followups
from .messages.compose import Composer, ComposeSettings
from .messages.links import Links
from .messages.render import Renderer
from .messages.sandbox import TemplateSandbox
from .settings import Settings
from .store import Store
from .store.outbox import OUTBOX

log = logging.getLogger("linli.delivery")

# For views: the failure a channel raises, and the bot the Telegram webhook answers with.
__all__ = ["ChannelFailure", "Delivery", "TelegramBot", "TestResult"]
TelegramBot = TelegramChannel


@dataclass(frozen=True)
class TestResult:
    """What one test send did."""

    channel: str
    address: str
    ok: bool
    provider_id: str
    detail: str


def composer_for(
    settings: Settings,
    key: bytes,
    renderer: Renderer,
    usable: frozenset[str],
    stand_ins: frozenset[str] = frozenset(),
    sandbox: TemplateSandbox | None = None,
) -> Composer:
    """A composer for this server's settings and secret. Channels in `stand_ins` go to
    the file channel, which wakes nobody, so quiet hours do not hold them back."""
    delivery = settings.delivery
    quiet_channels = tuple(c for c in delivery.quiet_channels if c not in stand_ins)
    quiet = QuietHours.from_settings(
        delivery.quiet_start, delivery.quiet_end, quiet_channels, settings.tz
    )
    email = settings.channels.email
    options = ComposeSettings(
        community_name=settings.community.name,
        tz=settings.tz,
        organizer_email=email.from_address,
        organizer_name=email.from_name or settings.community.name,
        uid_domain=urlsplit(settings.public_url).hostname or "localhost",
        reply_mailbox=settings.mail_in.reply_address if settings.mail_in.reads_replies else "",
        sms_status_callback=settings.channels.sms.provider == "twilio",
    )
    links = Links(key, settings.public_url)
    return Composer(renderer, links, options, quiet, usable, sandbox)


@dataclass
class Delivery:
    """The delivery side of one process; the composer exists once the secret is loaded."""

    settings: Settings
    routes: dict[str, Route]
    renderer: Renderer = field(default_factory=Renderer)
    composer: Composer | None = None
    worker: Worker | None = None

    @classmethod
    def build(cls, settings: Settings) -> Delivery:
        """Channels built and checked now, so a bad channel setting stops the start."""
        return cls(settings, build_routes(settings.channels, Context(settings.community.name)))

    def stand_ins(self) -> frozenset[str]:
        """The channel names a stand-in (the file channel) carries."""
        return frozenset(name for name, route in self.routes.items() if route.channel.stands_in)

    def telegram_bot(self) -> TelegramBot | None:
        """The Telegram bot when the telegram channel is enabled (not stood in for)."""
        route = self.routes.get("telegram")
        if route is None or not isinstance(route.channel, TelegramChannel):
            return None
        return route.channel

    async def send_test(
        self,
        channel: str,
        address: str,
        *,
        language: str,
        text: str,
        timeout_s: float,
        credentials: tuple[str, ...] = (),
    ) -> TestResult:
        """One test message straight through the channel that carries `channel`'s messages
        (not through the outbox: the organiser needs the provider's answer at once). A
        webhook gets a {"type": "linli.test", "text": …} body."""
        message = OutboundMessage(
            id=f"test-{secrets.token_hex(8)}",
            channel=channel,
            address=address,
            kind="test",
            language=language,
            subject=text,
            text=json.dumps({"type": "linli.test", "text": text}, ensure_ascii=False)
            if channel == "webhook"
            else text,
            # A group robot's credentials (its address is the group's name).
            secrets=credentials,
        )
        try:
            async with asyncio.timeout(timeout_s):
                receipt = await self.routes[channel].channel.send(message)
        except ChannelFailure as exc:
            return TestResult(channel, address, False, "", exc.reason)
        except TimeoutError:
            return TestResult(channel, address, False, "", f"no answer within {timeout_s:.0f} s")
        return TestResult(channel, address, True, receipt.provider_id or "", receipt.detail)

    def ready(self) -> Composer:
        """The composer; only None before the process has started."""
        if self.composer is None:
            raise NotReadyError("delivery is starting; try again in a moment")
        return self.composer

    def followups(self) -> Followups:
        """What queues the messages that follow an answer or a promotion."""
        return Followups(self.ready())

    @contextlib.asynccontextmanager
    async def started(
        self,
        store: Store,
        clock: Clock,
        *,
        run_worker: bool,
        name: str = "server",
        metrics: Metrics | None = None,
        sandbox: TemplateSandbox | None = None,
    ) -> AsyncIterator[Delivery]:
        """Load the secret, build the composer, and run the worker while open, with the
        reminder scheduler beside it (so reminders go out from whichever process
        delivers: `linli serve`, or `linli worker` when that runs apart)."""
        key = load_or_create(self.settings.server.secret_file)
        self.composer = composer_for(
            self.settings, key, self.renderer, frozenset(self.routes), self.stand_ins(), sandbox
        )
        if not run_worker:
            try:
                yield self
            finally:
                # The web side may have opened a channel's session (the Telegram webhook's
                # replies); without a worker here, nothing else closes it.
                for channel in distinct_channels(self.routes):
                    await channel.close()
            return
        self.worker = Worker(
            store,
            self.composer,
            self.routes,
            self.settings.delivery,
            clock,
            name=name,
            metrics=metrics,
        )
        log.info("delivery worker %s started; channels: %s", name, ", ".join(sorted(self.routes)))
        # Every commit that makes messages due wakes the worker (store/outbox.py's OUTBOX),
        # whoever wrote them: a view, the reminders below, the worker's own fallbacks.
        stop_hearing = store.on_commit(OUTBOX, self.worker.wake)
        try:
            async with (
                running(self.worker),
                reminders.running(
                    store,
                    self.composer,
                    clock,
                    interval_s=self.settings.delivery.reminder_interval_s,
                ),
                # Reconfirmation's stages run beside the reminders, on the same beat.
                reconfirm.running(
                    store,
                    Followups(self.composer),
                    clock,
                    interval_s=self.settings.delivery.reminder_interval_s,
                ),
            ):
                yield self
        finally:
            stop_hearing()
        self.worker = None

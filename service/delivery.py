"""Delivery wiring shared by `linli serve` and `linli worker`: the channels, the composer
that renders messages, and the worker, built from the settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from channels.file import FileChannel
from channels.registry import Route, build_routes, distinct_channels

from . import reminders
from .clock import Clock
from .errors import NotReadyError
from .followups import Followups
from .links import Links
from .messages.compose import Composer, ComposeSettings
from .metrics import Metrics
from .quiet import QuietHours
from .render import Renderer
from .sandbox import TemplateSandbox
from .secret import load_or_create
from .settings import Settings
from .store import Store
from .worker import Worker, running

log = logging.getLogger("linli.delivery")


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
        return cls(settings, build_routes(settings))

    def ready(self) -> Composer:
        """The composer; only None before the process has started."""
        if self.composer is None:
            raise NotReadyError("delivery is starting; try again in a moment")
        return self.composer

    def followups(self) -> Followups:
        """What queues the messages that follow an answer or a promotion."""
        return Followups(self.ready())

    def wake(self) -> None:
        """Tell an in-process worker that messages were queued."""
        if self.worker is not None:
            self.worker.wake()

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
        stand_ins = frozenset(
            name for name, route in self.routes.items() if isinstance(route.channel, FileChannel)
        )
        self.composer = composer_for(
            self.settings, key, self.renderer, frozenset(self.routes), stand_ins, sandbox
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
        async with (
            running(self.worker),
            reminders.running(
                store,
                self.composer,
                clock,
                interval_s=self.settings.delivery.reminder_interval_s,
                wake=self.worker.wake,
            ),
        ):
            yield self
        self.worker = None

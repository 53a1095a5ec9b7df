"""Mail in while the server runs: the SMTP receiver and the IMAP reader that [mail_in]
enables, both acting through service/domain/calendar_replies.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ..core.clock import Clock
from ..core.mail_settings import MailIn, MailInSettings
from ..domain.calendar_replies import ReplyOptions
from ..domain.followups import Followups
from ..messages.compose import Composer
from ..store import Store
from .imap import reading
from .smtp import receiving


@contextlib.asynccontextmanager
async def running(
    settings: MailInSettings, store: Store, clock: Clock, composer: Composer, state: MailIn
) -> AsyncIterator[MailIn]:
    """Run what [mail_in] enables until closed; nothing when replies are not read."""
    if not settings.reads_replies:
        yield state
        return
    options = ReplyOptions(
        key=composer.links.key,
        mailbox=settings.reply_address,
        uid_domain=composer.settings.uid_domain,
    )
    followups = Followups(composer)
    async with contextlib.AsyncExitStack() as stack:
        if settings.smtp_enabled:
            server = await stack.enter_async_context(
                receiving(settings, store, options, followups, clock)
            )
            state.smtp_port = int(server.sockets[0].getsockname()[1])
        if settings.imap_enabled:
            await stack.enter_async_context(reading(settings, store, options, followups, clock))
            state.imap_reading = True
        try:
            yield state
        finally:
            state.smtp_port, state.imap_reading = None, False

"""The SMTP receiver `linli serve` runs for a relay or MX that forwards the community's
reply address: aiosmtpd on the server's own event loop. It takes mail only for the reply
address and its +tags, refuses a forged tag at RCPT TO (550, logged), and answers 250
once the mail has been acted on (451 when that failed, so the relay tries again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..core.clock import Clock
from ..core.mail_settings import MailInSettings
from ..domain.calendar_replies import ReplyOptions, is_reply_address, receive_mail
from ..domain.followups import Followups
from ..store import Store

log = logging.getLogger("linli.mail")


class ReplyHandler:
    """aiosmtpd's handler: recipients checked, each message acted on."""

    def __init__(
        self, store: Store, options: ReplyOptions, followups: Followups, clock: Clock
    ) -> None:
        self.store = store
        self.options = options
        self.followups = followups
        self.clock = clock

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        """250 for the reply address and its verified tags, 550 for anything else."""
        taken = is_reply_address(self.options, address)
        if taken is None:
            return "550 5.1.1 No such mailbox here"
        if not taken:
            log.warning("smtp: RCPT TO a reply address with a forged token; refused")
            return "550 5.1.1 Unknown or forged reply address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Act on the message, then say 250; 451 when that failed, so it comes again."""
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        try:
            outcome = await receive_mail(
                self.store,
                data,
                options=self.options,
                followups=self.followups,
                now=self.clock(),
                envelope=tuple(envelope.rcpt_tos),
            )
        except Exception:
            log.exception("smtp: a message could not be acted on; the sender will retry")
            return "451 4.3.0 Try again later"
        log.info("smtp: a message to the reply address: %s", outcome)
        return "250 OK"


@contextlib.asynccontextmanager
async def receiving(
    settings: MailInSettings,
    store: Store,
    options: ReplyOptions,
    followups: Followups,
    clock: Clock,
) -> AsyncIterator[asyncio.Server]:
    """The SMTP receiver listening while open, on the event loop that runs it."""
    handler = ReplyHandler(store, options, followups, clock)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=settings.smtp_max_bytes,
            enable_SMTPUTF8=True,
            hostname=options.uid_domain,
        ),
        host=settings.smtp_host,
        port=settings.smtp_port,
    )
    log.info("smtp receiver for %s on %s:%s", settings.reply_address, *_where(server))
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def _where(server: asyncio.Server) -> tuple[str, int]:
    name = server.sockets[0].getsockname()
    return str(name[0]), int(name[1])

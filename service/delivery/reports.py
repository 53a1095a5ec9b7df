"""Providers' delivery reports: a message moves forward only, and a late failure falls
back to the resident's next channel as a failed send does."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Final

from ..core.errors import ValidationError
from ..core.models import MessageStatus
from ..messages.compose import Composer
from ..store import Store, Tx
from ..store import outbox as sql
from ..store.outbox import NewMessage
from .fallback import fallback

log = logging.getLogger("linli.reports")
# A report's status by value; one the model does not know moves nothing.
_STATUSES: Final = {member.value: member for member in MessageStatus}


async def record_report(
    store: Store,
    channel: str,
    provider_id: str,
    status: str,
    *,
    error: str | None,
    now: datetime,
    composer: Composer | None = None,
) -> bool:
    """Apply a provider's delivery report; reports arrive out of order and twice, so a
    message only ever moves forward, and never out of delivered or failed. A report of
    failure is a permanent failure told late: with a `composer`, the message falls back to
    the resident's next channel, as the worker does when a send fails. True when the
    report moved a message."""

    reported = _STATUSES.get(status)

    async def txn(tx: Tx) -> int | None:
        found = await sql.by_provider_id(tx, channel, provider_id)
        if found is None:
            return None
        message_id, current = found
        if reported is None or not MessageStatus(current).reported_to(reported):
            return None
        await sql.set_status(tx, message_id, reported, error, now)
        return message_id

    moved = await store.write(txn)
    if moved is None:
        return False
    if reported is MessageStatus.FAILED and composer is not None:
        # Only the report that moved it here gets this far: a repeat falls back no more.
        message = await sql.get_message(store.reader, moved)
        try:
            backup = None if message is None else await fallback(store, composer, message, now=now)
        except ValidationError as exc:  # an override failing on this resident's values
            log.warning("message %s failed; no fallback: %s", moved, exc.message)
            return True
        if backup is not None:
            await store.write(partial(_queue_backup, backup=backup, now=now))
    return True


async def _queue_backup(tx: Tx, *, backup: NewMessage, now: datetime) -> None:
    await sql.insert_messages(tx, [backup], now)

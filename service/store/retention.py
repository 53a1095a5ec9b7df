"""SQL that forgets what has aged out: message texts, attempt logs, the log of inbound
requests and check-ins, each a bounded batch per call so no transaction runs long."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ..core.clock import to_db
from .core import Tx

# A message still to be sent keeps its text whatever its age.
_WAITING: Final = "('queued', 'sending')"


async def blank_bodies(tx: Tx, before: datetime, limit: int) -> int:
    """Blank subject, text, HTML and extras of up to `limit` messages created before
    `before` and done with; their rows, addresses and statuses stay for the counts. How many.

    Already blank ones are skipped, read again each call: the walk is the created_at index
    over the old messages, which housekeeping does once an hour."""
    return await tx.execute_count(
        "UPDATE message_bodies SET subject = '', body_text = '', body_html = NULL, extra = '{}'"
        " WHERE message_id IN (SELECT m.id FROM messages m"
        " JOIN message_bodies b ON b.message_id = m.id"
        f" WHERE m.created_at < ? AND m.status NOT IN {_WAITING}"
        " AND (b.body_text != '' OR b.subject != '' OR b.body_html IS NOT NULL"
        " OR b.extra != '{}') LIMIT ?)",
        (to_db(before), limit),
    )


async def delete_attempts(tx: Tx, before: datetime, limit: int) -> int:
    """Forget up to `limit` attempts made before `before` (a message keeps its count of
    attempts and its status); how many."""
    return await tx.execute_count(
        "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE at < ? LIMIT ?)",
        (to_db(before), limit),
    )


async def delete_seen(tx: Tx, before: datetime, limit: int) -> int:
    """Forget up to `limit` inbound requests (residents' SMS, Telegram updates, answers by
    link) seen before `before`; a provider resending one after that would apply again.
    How many."""
    return await tx.execute_count(
        "DELETE FROM seen_requests WHERE key IN"
        " (SELECT key FROM seen_requests WHERE at < ? LIMIT ?)",
        (to_db(before), limit),
    )


async def delete_handled_mail(tx: Tx, before: datetime, limit: int) -> int:
    """Forget up to `limit` mails of the organiser's inbox that were received before
    `before` and have been handled (applied or set aside); how many. Open ones stay."""
    return await tx.execute_count(
        "DELETE FROM mail_inbox WHERE id IN (SELECT id FROM mail_inbox"
        " WHERE handled_at IS NOT NULL AND received_at < ? LIMIT ?)",
        (to_db(before), limit),
    )


async def delete_checkins(tx: Tx, before: datetime, limit: int) -> int:
    """Forget up to `limit` check-ins made before `before`; how many."""
    return await tx.execute_count(
        "DELETE FROM checkins WHERE id IN (SELECT id FROM checkins WHERE at < ? LIMIT ?)",
        (to_db(before), limit),
    )

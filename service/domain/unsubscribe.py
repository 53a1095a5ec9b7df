"""Opting out: the one-click unsubscribe link's contact, and opting it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..core.privacy import mask_address
from ..store import Store, Tx
from ..store import recipients as sql


async def unsubscribe(store: Store, contact_id: int, *, now: datetime) -> bool:
    """Opt a contact out (idempotent); False when it no longer exists."""

    async def txn(tx: Tx) -> bool:
        if await sql.contact(tx, contact_id, now) is None:
            return False
        await sql.opt_out_contact(tx, contact_id, now)
        return True

    return await store.write(txn)


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What the unsubscribe page may show: a masked address, and in which language."""

    contact_id: int
    masked: str
    language: str
    opted_out: bool


async def unsubscribe_target(store: Store, contact_id: int) -> UnsubscribeTarget | None:
    """The contact an unsubscribe link names, or None when it is gone."""
    found = await sql.contact(store.reader, contact_id, datetime.now(UTC))
    if found is None:
        return None
    person = await sql.recipient(store.reader, found.resident_id)
    return UnsubscribeTarget(
        contact_id,
        mask_address(found.channel, found.address),
        person.language if person else "zh-CN",
        found.opted_out,
    )

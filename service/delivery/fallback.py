"""Fallback: a message that failed for good goes again on the resident's next usable
channel, rendered afresh for it (each channel once per message group)."""

from __future__ import annotations

from datetime import datetime

from ..core.models import Message
from ..messages import plan
from ..messages.compose import Composer, pick_contact
from ..messages.plan import invited_to, overrides_of, room_name_of
from ..store import Store
from ..store import events as event_sql
from ..store import outbox as sql
from ..store import recipients as recipients_sql
from ..store.outbox import NewMessage


async def fallback(
    store: Store, composer: Composer, message: Message, *, now: datetime
) -> NewMessage | None:
    """The same notification on the resident's next usable channel not tried yet (each
    channel once), rendered afresh for that channel; None when none is left."""
    if message.resident_id is None or message.event_id is None:
        return None
    event = await event_sql.get_event(store.reader, message.event_id)
    if event is None:  # deleted since: nothing to fall back to
        return None
    # Built as the send built it: a reminder falling back keeps its party and door code.
    person = await recipients_sql.recipient(
        store.reader, message.resident_id, invited_to(message.kind, message.event_id)
    )
    if person is None:
        return None
    tried = await sql.group_channels(store.reader, message.group_uid)
    contacts = (await recipients_sql.contacts_of(store.reader, [person.id]))[person.id]
    contact, suppressed = pick_contact(contacts, composer.usable_for(event), tried)
    if contact is None or suppressed:
        return None
    overrides = await overrides_of(store.reader, event.id)
    return await plan.message(
        composer,
        event,
        await room_name_of(store.reader, event),
        person,
        message.kind,
        contact,
        group_uid=message.group_uid,
        invitation_id=message.invitation_id,
        note=message.note,
        urgent=message.urgent,
        override=overrides.get((str(message.kind), contact.channel, person.language)),
        now=now,
    )

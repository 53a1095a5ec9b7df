"""The page a group post links to: a resident gives their unit, Linli sends a one-time
code to that resident's own channel (never to the group), and the code, typed back, opens
the resident's own RSVP page, where the answer goes through rsvp.apply_answer as every
answer does. So a neighbour who knows a unit cannot answer for it, and an answer given
through the group is recorded once, on the resident's one invitation."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ..core.errors import TooManyRequestsError, ValidationError
from ..core.models import AnswerVia, Event
from ..core.phrases import Text
from ..core.secret import mac
from ..messages.compose import Composer, reply_message
from ..store import Store, Tx
from ..store import group_codes as sql
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from ..store.recipients import Reach
from .events import get_event
from .households import clean_unit
from .rsvp import answers_open

CODE_LIFETIME: Final = timedelta(minutes=15)
# Wrong tries a code takes before it is spent; a unit's codes asked for in an hour.
MAX_TRIES: Final = 5
MAX_CODES_PER_HOUR: Final = 3
# The channels a person reads a code on (a webhook is a machine's).
CODE_CHANNELS: Final = ("sms", "email", "telegram")
_PURPOSE: Final = "group-page-code"


@dataclass(frozen=True)
class CodeSent:
    """What asking for a code did: how many residents of the unit were sent one."""

    event: Event
    unit: str
    sent: int


def _code_mac(key: bytes, event_id: int, resident_id: int, code: str) -> str:
    return mac(key, _PURPOSE, f"{event_id}.{resident_id}.{code}")


def _reachable(contacts: list[Reach], usable: frozenset[str]) -> Reach | None:
    for contact in contacts:
        usable_here = contact.channel in CODE_CHANNELS and contact.channel in usable
        if usable_here and not contact.opted_out and not contact.disabled:
            return contact
    return None


def clean_code(code: str) -> str:
    """Six digits (spaces dropped, full-width digits read); else a 400 naming `code`."""
    digits = "".join(str(int(c)) for c in code if c.isdigit())
    if len(digits) != 6:
        raise ValidationError.field("code", "must be the 6 digits sent to you", code="invalid_code")
    return digits


async def send_code(
    store: Store, composer: Composer, event_id: int, unit: str, *, now: datetime
) -> CodeSent:
    """Send a fresh code to each resident of `unit` in the event's audience, on their first
    contact a person reads; at most MAX_CODES_PER_HOUR per unit and event (429)."""
    event = await get_event(store, event_id)
    answers_open(event, now, AnswerVia.LINK)
    unit = clean_unit(unit)
    people = await sql.residents_at(store.reader, unit, event.audience_tags)
    contacts = await recipients_sql.contacts_of(store.reader, [p.id for p in people])
    key = composer.links.key
    planned = []
    for person in people:
        contact = _reachable(contacts[person.id], composer.usable)
        if contact is None:
            continue
        code = f"{secrets.randbelow(1_000_000):06d}"
        text = Text(person.language)(
            "group_page.code_message",
            community=composer.settings.community_name,
            title=event.title,
            code=code,
            minutes=int(CODE_LIFETIME.total_seconds() // 60),
        )
        message = reply_message(
            contact, text, person.language, now=now, expires_at=now + CODE_LIFETIME
        )
        planned.append((person.id, _code_mac(key, event.id, person.id, code), message))
    if not planned:
        return CodeSent(event, unit, 0)

    async def txn(tx: Tx) -> None:
        ids = [resident_id for resident_id, _, _ in planned]
        if await sql.sent_since(tx, event.id, ids, now - timedelta(hours=1)) >= (
            MAX_CODES_PER_HOUR * len(ids)
        ):
            raise TooManyRequestsError(
                "unit: too many codes asked for in an hour",
                retry_after_s=3600,
                code="too_many_codes",
            )
        for resident_id, code_mac, _ in planned:
            await sql.insert(tx, event.id, resident_id, code_mac, now, now + CODE_LIFETIME)
        await outbox_sql.insert_messages(tx, [message for _, _, message in planned], now)

    await store.write(txn)
    return CodeSent(event, unit, len(planned))


async def check_code(
    store: Store, key: bytes, event_id: int, unit: str, code: str, *, now: datetime
) -> int:
    """The resident a code was sent to, who now has an invitation to the event (made here
    when the event was only posted to the groups); the code is spent. A wrong code counts
    a try against the unit's codes and is a 400 naming `code`."""
    event = await get_event(store, event_id)
    answers_open(event, now, AnswerVia.LINK)
    unit = clean_unit(unit)
    code = clean_code(code)
    people = await sql.residents_at(store.reader, unit, event.audience_tags)
    if not people:
        raise ValidationError.field("code", "is not the code sent to you", code="wrong_code")

    async def txn(tx: Tx) -> int | None:
        found = await sql.pending(tx, event.id, [p.id for p in people], now, MAX_TRIES)
        for row in found:
            if hmac.compare_digest(row.code_mac, _code_mac(key, event.id, row.resident_id, code)):
                await sql.use(tx, row.id, now)
                await recipients_sql.insert_invitations(tx, event.id, [row.resident_id], now)
                return row.resident_id
        await sql.tried(tx, [row.id for row in found])
        return None

    resident_id = await store.write(txn)
    if resident_id is None:
        raise ValidationError.field("code", "is not the code sent to you", code="wrong_code")
    return resident_id

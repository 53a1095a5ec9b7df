"""Outcomes told back: publishing decided items' outcomes (apart from saving them, and in
batches), one notice to each raiser and supporter on their channel and in their language,
once ever; an item never published notifies nobody."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from ..core.clock import utc_text
from ..core.consultation import Item, ItemStatus, PublishReport
from ..core.errors import ConflictError, ValidationError
from ..core.models import IntegrationEvent
from ..core.phrases import phrase
from ..messages.compose import Composer, pick_contact
from ..store import Store, Tx
from ..store import consultation as sql
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from . import items, subscriptions
from .booking_rules import language_of

# Items one call publishes; more go in further calls (each item is its own transaction).
PUBLISH_MAX: Final = 100


def item_published(item: Item, now: datetime) -> subscriptions.Occurrence:
    """An item's outcome was published."""
    return subscriptions.Occurrence(
        IntegrationEvent.ITEM_PUBLISHED,
        None,
        {
            "item_id": item.id,
            "code": item.code,
            "status": str(item.status),
            "decision": None if item.decision is None else str(item.decision),
            "at": utc_text(now),
        },
    )


def _notice_part(item: Item, language: str) -> dict[str, Any]:
    """The template's `item` in one language."""
    decision = "" if item.decision is None else str(item.decision)
    return {
        "code": item.code,
        "title": item.title,
        "decision": decision,
        "decision_text": phrase(f"consultation.decision_{decision}", language) if decision else "",
        "outcome": item.published_outcome or "",
    }


async def _tell(
    tx: Tx, composer: Composer, item: Item, resident_ids: Sequence[int], now: datetime
) -> tuple[int, int]:
    """Queue the notice owed to each of these residents, in the transaction that marks it
    told; (queued, already told)."""
    queued = already = 0
    contacts = await recipients_sql.contacts_of(tx, list(resident_ids))
    rows = []
    for resident_id in resident_ids:
        if not await sql.claim_notice(tx, item.id, resident_id, now):
            already += 1
            continue
        person = await recipients_sql.recipient(tx, resident_id)
        contact, suppressed = pick_contact(contacts.get(resident_id, []), composer.usable)
        if person is None or contact is None:
            continue  # nobody to reach: marked told, so a new contact later gets nothing
        language = language_of(person.language)
        message = composer.outcome_message(
            _notice_part(item, language),
            replace(person, language=language),
            contact,
            suppressed=suppressed,
            send_at=now,
        )
        await sql.note_notice_uid(tx, item.id, resident_id, message.uid)
        rows.append(message)
        queued += 1
    await outbox_sql.insert_messages(tx, rows, now)
    return queued, already


async def publish_outcomes(
    store: Store, composer: Composer, item_ids: Sequence[int], *, actor: str, now: datetime
) -> PublishReport:
    """Publish the saved outcomes of decided items and tell their raisers and supporters,
    each once ever: publishing again, or again after a crash, tells nobody twice. An item
    not decided yet is a 409 item_not_decided, and nothing of the batch is published."""
    chosen = list(dict.fromkeys(item_ids))
    if not chosen:
        raise ValidationError.field("item_ids", "name at least one item")
    if len(chosen) > PUBLISH_MAX:
        raise ValidationError.field("item_ids", f"at most {PUBLISH_MAX} items a call")

    async def check(tx: Tx) -> None:
        for item_id in chosen:
            item = await items.current(tx, item_id)
            if item.status.rank < ItemStatus.DECIDED.rank:
                raise ConflictError(
                    f"item_ids: item {item.code} is {item.status}; only a decided item"
                    " has an outcome to publish",
                    code="item_not_decided",
                    fields={"item_ids": f"{item.code} is not decided"},
                )

    await store.write(check)
    notices = already = 0
    for item_id in chosen:

        async def one(tx: Tx, item_id: int = item_id) -> tuple[int, int]:
            item = await items.current(tx, item_id)
            await sql.mark_published(tx, item_id, item.outcome, now)
            await sql.add_step(
                tx, item_id, actor=actor, action="published", now=now, reason=item.outcome
            )
            published = await items.current(tx, item_id)
            await subscriptions.emit(tx, [item_published(published, now)], now)
            people = await sql.people_to_tell(tx, item_id)
            return await _tell(tx, composer, published, people, now)

        queued, told = await store.write(one)
        notices += queued
        already += told
    return PublishReport(published=tuple(chosen), notices=notices, already_told=already)

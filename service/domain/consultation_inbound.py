"""Needs and support from residents' own channels: an SMS keyword ("建议 …", "支持 A3",
"撤回 A3") or Telegram's /need. Each message is applied once, on its provider id, in the
transaction that records it and queues the reply."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ..core.consultation import NeedVia
from ..core.errors import ServiceError
from ..core.phrases import phrase
from ..store import Store, Tx
from ..store import inbound as inbound_sql
from ..store import rsvp as rsvp_sql
from ..store.inbound import Sender
from . import items, needs
from .followups import Followups
from .sms_replies import NeedText, SupportItem

Outcome = Literal["need", "supported", "refused", "repeated"]


async def need_by_sms(
    store: Store, said: NeedText, sender: Sender, key: str, followups: Followups, now: datetime
) -> Outcome:
    """Record the need the sender texted, for their household, and thank them once."""

    async def txn(tx: Tx) -> Outcome:
        if not await rsvp_sql.mark_seen(tx, key, now):
            return "repeated"
        language = sender.language
        try:
            await needs.record_need(
                tx,
                needs.NeedInput(
                    text=said.text,
                    via=NeedVia.SMS,
                    actor="resident",
                    resident_id=sender.contact.resident_id,
                    request_key=key,
                ),
                now=now,
            )
        except ServiceError:  # too long, say: the help of the page says how
            return "refused"
        text = phrase("consultation.sms_need_thanks", language)
        await followups.reply(tx, sender.contact, text, language, now)
        return "need"

    return await store.write(txn)


async def support_by_sms(
    store: Store, said: SupportItem, sender: Sender, key: str, followups: Followups, now: datetime
) -> Outcome:
    """Support or withdraw from an item for the sender's household; say the new count."""
    language = sender.language
    code = said.item_code
    item_id = items.parse_code(code)

    async def txn(tx: Tx) -> Outcome:
        if not await rsvp_sql.mark_seen(tx, key, now):
            return "repeated"
        try:
            if item_id is None:
                raise ServiceError("no such item", code="item_not_found")
            outcome = await items.support_in(
                tx,
                item_id,
                supporting=said.supporting,
                resident_id=sender.contact.resident_id,
                via="sms",
                now=now,
            )
            item = await items.current(tx, item_id)
        except ServiceError as exc:
            reason = "sms_item_closed" if exc.code == "item_decided" else "sms_unknown_item"
            text = phrase(f"consultation.{reason}", language, code=code)
            await followups.reply(tx, sender.contact, text, language, now)
            return "refused"
        words = "sms_supported" if said.supporting else "sms_withdrawn"
        text = phrase(
            f"consultation.{words}", language, code=code, title=item.title, n=outcome.support_count
        )
        await followups.reply(tx, sender.contact, text, language, now)
        return "supported"

    return await store.write(txn)


async def need_by_telegram(
    tx: Tx, chat_id: int, text: str, update_id: int, now: datetime
) -> str | None:
    """`/need <text>` in a linked private chat, inside the update's write job: the need
    for the chat's resident and the bot's thanks; the usage without a text; None from a
    chat no resident linked (the caller's help then)."""
    found = await inbound_sql.senders(tx, str(chat_id), "telegram")
    if not found:
        return None
    sender = found[0]
    if not text:
        return phrase("consultation.telegram_need_usage", sender.language)
    try:
        await needs.record_need(
            tx,
            needs.NeedInput(
                text=text,
                via=NeedVia.TELEGRAM,
                actor="resident",
                resident_id=sender.contact.resident_id,
                request_key=f"tg:update:{update_id}:need",
            ),
            now=now,
        )
    except ServiceError as exc:
        return exc.message
    return phrase("consultation.sms_need_thanks", sender.language)

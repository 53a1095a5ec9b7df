"""SMS replies from residents: an answer goes through `apply_answer`, STOP opts the number
out, START back in, and anything else earns one short help text. service/web/hooks.py
calls `receive_sms` for Twilio's and the Android gateway's inbound webhooks.

Which invitation an answer is for: with an event code ("A7 1"), that event's; without,
the newest invitation SMS sent to that number for an event still open (published, not
ended), whatever was answered before; failing that, the number's one open invitation
if it has exactly one (sent by email, say). A number shared by a household answers for
the resident that invitation was sent to.

Every message is applied once: its provider id ("sms-in:twilio:<MessageSid>",
"sms-in:android:<event id>") is remembered in the transaction that acts on it, replies
included. Who hears back: a number no resident has, nothing (it could be anyone, or a
machine that would answer our help text with its own); an opted-out number only the
confirmation of its STOP and an answer to HELP. A STOP from a number already opted out
gets no second confirmation, and unrecognised text gets the help text at most once an
hour, so two machines cannot talk to each other for long."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final, Literal

from ..core.errors import ServiceError
from ..core.inbound import InboundSms
from ..core.models import AnswerVia
from ..core.phrases import area
from ..messages.event_code import read_event_code
from ..store import Db, Store, Tx
from ..store import events as event_sql
from ..store import inbound as sql
from ..store import recipients as recipients_sql
from ..store import rsvp as rsvp_sql
from ..store.inbound import Sender
from .consultation_inbound import need_by_sms, support_by_sms
from .contacts import phone_or_none
from .followups import Followups
from .rsvp import AnswerRequest, apply_answer
from .sms_replies import Answer, Help, NeedText, OptIn, OptOut, SupportItem, read_reply

log = logging.getLogger("linli.sms")

# Unrecognised text earns the help text again only after this long.
HELP_PAUSE: Final = timedelta(hours=1)

Outcome = Literal[
    "answered", "refused", "opted_out", "opted_in", "help", "repeated", "ignored",
    "unknown_sender", "need", "supported",
]  # fmt: skip


def texts(language: str) -> Mapping[str, str]:
    """The replies (area sms) in `language`, the sender's own (one of ours)."""
    return area("sms", language)


def inbound_key(sms: InboundSms) -> str:
    """The request key that makes a provider's message apply once."""
    return f"sms-in:{sms.provider}:{sms.message_id}"


async def receive_sms(
    store: Store,
    sms: InboundSms,
    *,
    followups: Followups,
    community: str,
    region: str,
    now: datetime,
) -> Outcome:
    """Act on one text a resident sent (see the module's docstring); never raises for
    what the text says, so the provider gets its 2xx."""
    number = phone_or_none(sms.sender, region=region)
    found = [] if number is None else await sql.senders(store.reader, number)
    if number is None or not found:
        # Logged without the number: the log is not the place for strangers' numbers.
        log.info("sms from %s: the sender is no resident's number; ignored", sms.provider)
        return "unknown_sender"
    reply = read_reply(sms.text)
    key = inbound_key(sms)
    if isinstance(reply, Answer):
        return await _answer(store, reply, number, found, key, followups, community, now)
    if isinstance(reply, NeedText):
        return await need_by_sms(store, reply, found[0], key, followups, now)
    if isinstance(reply, SupportItem):
        return await support_by_sms(store, reply, found[0], key, followups, now)

    async def txn(tx: Tx) -> Outcome:
        if not await rsvp_sql.mark_seen(tx, key, now):
            return "repeated"
        senders = await sql.senders(tx, number)
        if not senders:
            return "unknown_sender"
        first = senders[0]
        said = texts(first.language)
        if isinstance(reply, OptOut):
            changed = [await recipients_sql.opt_out_contact(tx, s.contact.id, now) for s in senders]
            if any(changed) and not sms.provider_replied:
                text = said["opted_out"].format(name=community)
                await followups.reply(tx, first.contact, text, first.language, now)
            return "opted_out"
        if isinstance(reply, OptIn):
            for sender in senders:
                # Disabled too: a number that has just written to us takes SMS.
                await recipients_sql.enable_contact(
                    tx, sender.contact.id, "the resident texted to opt in", now
                )
            if not sms.provider_replied:
                text = said["opted_in"].format(name=community)
                await followups.reply(tx, first.contact, text, first.language, now)
            return "opted_in"
        text = said["help"].format(name=community)
        if not isinstance(reply, Help):
            # Unasked-for help: not to an opted-out number, and not again within the hour.
            if all(s.contact.opted_out for s in senders):
                return "ignored"
            if await sql.replied_since(tx, number, text, now - HELP_PAUSE):
                return "ignored"
        await followups.reply(tx, first.contact, text, first.language, now)
        return "help"

    return await store.write(txn)


async def _answer(
    store: Store,
    reply: Answer,
    number: str,
    senders: list[Sender],
    key: str,
    followups: Followups,
    community: str,
    now: datetime,
) -> Outcome:
    """Apply the answer to the invitation it is for; a refusal is said back in one SMS."""
    target = await _target(store.reader, reply, number, senders, now)
    if target is None:
        said = texts(senders[0].language)
        if reply.event_code is None:
            text = said["no_invitation"].format(name=community)
        else:
            text = said["no_invitation_code"].format(name=community, code=reply.event_code)
        return await _say(store, followups, key, senders[0], text, now)
    event_id, sender = target
    try:
        outcome = await apply_answer(
            store,
            AnswerRequest(
                event_id,
                sender.contact.resident_id,
                reply.answer,
                AnswerVia.SMS,
                party_size=reply.party_size,
                key=key,
                address=number,
            ),
            now=now,
            after=followups.after_answer,
        )
    except ServiceError as exc:
        text = await _refusal(store.reader, exc, event_id, sender, community)
        return await _say(store, followups, key, sender, text, now)
    return "repeated" if outcome.repeated else "answered"


async def _target(
    db: Db, reply: Answer, number: str, senders: list[Sender], now: datetime
) -> tuple[int, Sender] | None:
    """(event id, the sender it is for) of the invitation the answer is for, or None."""
    by_resident = {s.contact.resident_id: s for s in senders}
    residents = list(by_resident)
    found: tuple[int, int] | None
    if reply.event_code is not None:
        event_id = read_event_code(reply.event_code)
        if event_id is None:
            return None
        # Closed events are found too: the refusal then says why.
        found = await sql.latest_invitation(db, residents, number, event_id=event_id)
        if found is None:
            invited = await sql.invitations_of(db, residents, event_id=event_id, limit=1)
            found = invited[0] if invited else None
    else:
        found = await sql.latest_invitation(db, residents, number, open_at=now)
        if found is None:
            invited = await sql.invitations_of(db, residents, open_at=now, limit=2)
            found = invited[0] if len(invited) == 1 else None
    if found is None:
        return None
    return found[0], by_resident[found[1]]


async def _refusal(db: Db, exc: ServiceError, event_id: int, sender: Sender, name: str) -> str:
    """Why an answer was not recorded, in a sentence for the resident."""
    said = texts(sender.language)
    event = await event_sql.get_event(db, event_id)
    if event is None or exc.code in ("invitation_not_found", "event_not_found"):
        return said["no_invitation"].format(name=name)
    if exc.code in ("event_closed", "answers_closed"):
        return said[exc.code].format(name=name, title=event.title)
    if exc.code == "not_enough_seats" and event.capacity is not None:
        current = await rsvp_sql.invitation(db, event_id, sender.contact.resident_id)
        besides = 0 if current is None else current.id
        free = max(event.capacity - await rsvp_sql.seats_taken(db, event_id, besides=besides), 0)
        return said["no_seats"].format(name=name, title=event.title, free=free)
    if exc.code == "party_size_out_of_range":
        return said["party_cap"].format(name=name, title=event.title, max=event.max_party_size)
    log.warning("sms answer refused with %s; told the resident to try later", exc.code)
    return said["try_later"].format(name=name)


async def _say(
    store: Store, followups: Followups, key: str, sender: Sender, text: str, now: datetime
) -> Outcome:
    """Queue one reply for this message, once: not again when the provider resends it,
    and not to an opted-out number."""

    async def txn(tx: Tx) -> Outcome:
        if not await rsvp_sql.mark_seen(tx, key, now):
            return "repeated"
        contact = await recipients_sql.contact(tx, sender.contact.id, now)
        if contact is not None and not contact.opted_out:
            await followups.reply(tx, contact, text, sender.language, now)
        return "refused"

    return await store.write(txn)

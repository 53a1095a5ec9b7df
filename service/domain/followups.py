"""The messages that follow an answer: a confirmation back on the channel it came from,
and a notice to each party moved up from the waitlist. They are queued in the answer's
own transaction, so an answer is never committed without them, nor they without it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.errors import ValidationError
from ..core.models import AnswerVia, Channel, Event, Invitation, MessageKind, RsvpState
from ..messages.compose import Composer, reply_message
from ..messages.plan import Batch, overrides_of, room_name_of
from ..store import Tx
from ..store import outbox as sql
from ..store import recipients as recipients_sql
from ..store import reconfirm as reconfirm_sql
from ..store.checkin import invitation_code
from ..store.outbox import NewMessage
from ..store.recipients import Reach, Recipient
from . import subscriptions
from .rsvp import AnswerOutcome

# Answers confirmed where they were given, so no message follows them: a Telegram answer
# by editing the message it came from (door code included: see telegram_bot.press_button),
# a promotion by its own waitlist offer. A link answer is confirmed by a message too: the
# page is gone once closed, and the door code must stay with the resident (issue 23, 8).
_CONFIRMED_IN_PLACE = frozenset({AnswerVia.TELEGRAM, AnswerVia.SYSTEM})
log = logging.getLogger("linli.followups")
# A reply that could not go out within a day answers nothing any more.
REPLY_LIFETIME = timedelta(days=1)


@dataclass(frozen=True)
class Followups:
    """Queues follow-up messages through the composer; `after_answer` is what
    `rsvp.apply_answer` calls inside its transaction."""

    composer: Composer

    async def after_answer(self, tx: Tx, outcome: AnswerOutcome, now: datetime) -> int:
        """A confirmation when the answer changed something, and the promotions' notices;
        returns how many messages were queued."""
        request = outcome.request
        queued = 0
        # A yes after a reconfirmation request reconfirms (service/domain/reconfirm.py);
        # said again unchanged, it is still confirmed back, as the resident expects.
        again = outcome.invitation.answer is RsvpState.YES and await reconfirm_sql.mark_reconfirmed(
            tx, outcome.invitation.id, now
        )
        if (outcome.changed or again) and request.via not in _CONFIRMED_IN_PLACE:
            queued += await self.queue(
                tx,
                outcome.event,
                [outcome.invitation],
                MessageKind.RSVP_CONFIRMATION,
                now,
                via=request.via,
                address=request.address,
            )
        queued += await subscriptions.answer_changed(tx, outcome, now)
        return queued + await self.after_promotion(tx, outcome.event, outcome.promoted, now)

    async def after_promotion(
        self, tx: Tx, event: Event, promoted: Sequence[Invitation], now: datetime
    ) -> int:
        """Tell each promoted party, on their first usable channel, that they are in;
        returns how many messages were queued."""
        queued = await self.queue(tx, event, promoted, MessageKind.WAITLIST_OFFER, now)
        return queued + await subscriptions.parties_promoted(tx, event, promoted, now)

    async def reply(self, tx: Tx, contact: Reach, text: str, language: str, now: datetime) -> None:
        """Queue `text` to `contact` as a reply (a help text, an opt-out confirmation): sent
        at once, quiet hours or not, since the resident just wrote. It goes even to an
        opted-out address, because confirming the opt-out is the one message owed to it."""
        message = reply_message(contact, text, language, now=now, expires_at=now + REPLY_LIFETIME)
        await sql.insert_messages(tx, [message], now)

    async def queue(
        self,
        tx: Tx,
        event: Event,
        invitations: Sequence[Invitation],
        kind: MessageKind,
        now: datetime,
        *,
        via: AnswerVia | None = None,
        address: str | None = None,
    ) -> int:
        """Queue a message of `kind` about `event` to each party, on their first usable
        channel (the one the answer came by first, when `via` says); how many were queued."""
        if not invitations:
            return 0
        contacts = await recipients_sql.contacts_of(tx, [i.resident_id for i in invitations])
        room = await room_name_of(tx, event)
        overrides = await overrides_of(tx, event.id)
        # Said in reply to the resident this minute: not held for quiet hours.
        urgent = via is not None
        batch = Batch(self.composer, event, room, kind, overrides, note="", urgent=urgent, now=now)
        rows: list[NewMessage] = []
        for invitation in invitations:
            person = Recipient(
                invitation.resident_id,
                invitation.resident_name,
                invitation.language,
                invitation.unit,
                invitation_id=invitation.id,
                answer=str(invitation.answer),
                party_size=invitation.party_size,
                # A yes has its door code by now (made in this transaction).
                checkin_code=await invitation_code(tx, invitation.id),
            )
            try:
                message = batch.to_invitee_waiting(
                    person, _answering_first(contacts[invitation.resident_id], via, address)
                )
            except ValidationError as exc:
                # An organiser's template failing on this resident's values must not
                # cost them their answer or their place: the answer stands, unconfirmed.
                log.warning("event %s: no %s queued: %s", event.id, kind, exc.message)
                continue
            if message is not None:
                rows.append(message)
        await sql.insert_messages(tx, rows, now)
        return len(rows)


def _answering_first(
    contacts: list[Reach], via: AnswerVia | None, address: str | None
) -> list[Reach]:
    """The resident's contacts with the one the answer came from first, then the others
    on that channel, then the rest in their own order (a link or an organiser's answer
    names no channel: their own order, so the first usable one)."""
    if via is None:
        return contacts
    # A calendar reply came by email: the confirmation goes back by email.
    channel = str(Channel.EMAIL) if via is AnswerVia.CALENDAR else str(via)
    return sorted(
        contacts,
        key=lambda c: (c.channel != channel, address is None or c.address != address),
    )

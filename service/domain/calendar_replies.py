"""Mail to the reply address, acted on: a calendar client's iTIP REPLY becomes an answer
through `rsvp.apply_answer` (via = calendar), a plain reply or a TENTATIVE goes to the
organiser's inbox, a bounce fails the message it names and falls back.

Matching (RFC 5546 / 6047, read by service/domain/mail_reading.py):
- The reply is matched by the token in the address it was sent to (`local+token@domain`,
  the invitation's ORGANIZER), never by the sender's address, since people answer from
  other addresses. The recipients come first (the SMTP envelope, then To, Cc,
  Delivered-To, X-Original-To), then the ORGANIZER the reply repeats. A token that does
  not verify is refused and logged; the SMTP receiver refuses it already at RCPT TO.
- The reply's UID must be the event's; among several VEVENTs the newest is read.
- ACCEPTED → yes, DECLINED → no, TENTATIVE → left as it is and put before the organiser.
- A SEQUENCE lower than the event's is an answer to an older version: ignored. Among
  replies with the same SEQUENCE the newest DTSTAMP wins, whatever order they arrive in
  (kept per invitation in calendar_replies, in the answer's own transaction).
- The same Message-ID twice changes nothing (its key is remembered with the answer).
- Auto-Submitted mail (out-of-office replies) and list mail never reach the inbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from ..core.errors import ConflictError, ServiceError
from ..core.models import AnswerVia, RsvpState
from ..delivery.reports import record_report
from ..messages.calendar import event_uid
from ..messages.links import read_reply_token, reply_token_of
from ..store import Store, Tx
from ..store import events as event_sql
from ..store import mailin as sql
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from ..store import rsvp as rsvp_sql
from .followups import Followups
from .mail_reading import CalendarReply, Mail, read_mail
from .mail_words import suggest
from .rsvp import AnswerOutcome, AnswerRequest, apply_answer

log = logging.getLogger("linli.mail")

_ANSWERS: Final = {"ACCEPTED": RsvpState.YES, "DECLINED": RsvpState.NO}

Outcome = Literal[
    "answered",
    "repeated",
    "stale",
    "inbox",
    "forged",
    "unmatched",
    "ignored",
    "bounced",
]


@dataclass(frozen=True)
class ReplyOptions:
    """What reading replies needs: the server secret that signs the tokens, the reply
    mailbox (`local@domain`) and the calendar UIDs' domain."""

    key: bytes
    mailbox: str
    uid_domain: str


class _StaleReply(ConflictError):
    code = "stale_reply"


async def receive_mail(
    store: Store,
    raw: bytes,
    *,
    options: ReplyOptions,
    followups: Followups,
    now: datetime,
    envelope: tuple[str, ...] = (),
) -> Outcome:
    """Act on one message to the reply address (see the module's docstring); never raises
    for what the message says, so a receiver can always take it."""
    mail = read_mail(raw, envelope)
    if mail.bounce is not None:
        return await _bounced(store, mail, followups, now)
    target, forged = _target(mail, options)
    if target is None:
        if forged:
            log.warning("mail %s: its reply address carries a forged token; refused", mail.key)
            return "forged"
        if mail.replies:
            log.info("mail %s: a calendar reply to no invitation's address; ignored", mail.key)
            return "unmatched"
        return await _to_inbox(store, mail, "plain", None, None, now)
    event_id, resident_id = target
    if not mail.replies:
        if mail.other_methods or mail.automatic:
            return "ignored"
        return await _to_inbox(store, mail, "plain", event_id, resident_id, now)
    uid = event_uid(event_id, options.uid_domain)
    ours = [r for r in mail.replies if r.uid == uid]
    if not ours:
        log.warning("mail %s: a calendar reply whose UID is not its event's; ignored", mail.key)
        return "unmatched"
    reply = max(ours, key=lambda r: (r.sequence, r.dtstamp))
    return await _apply(store, mail, reply, event_id, resident_id, followups, now)


def is_reply_address(options: ReplyOptions, address: str) -> bool | None:
    """Whether an SMTP RCPT TO may be taken: True for the mailbox or a verified token,
    False for a forged token, None for another address altogether."""
    if address.strip().lower() == options.mailbox.lower():
        return True
    token = reply_token_of(options.mailbox, address)
    if token is None:
        return None
    return read_reply_token(options.key, token) is not None


def _target(mail: Mail, options: ReplyOptions) -> tuple[tuple[int, int] | None, bool]:
    """(event id, resident id) the mail's reply address names, and whether a forged token
    was seen."""
    addresses = [*mail.recipients, *(r.organizer for r in mail.replies if r.organizer)]
    forged = False
    for address in addresses:
        token = reply_token_of(options.mailbox, address)
        if token is None:
            continue
        found = read_reply_token(options.key, token)
        if found is not None:
            return found, False
        forged = True
    return None, forged


async def _apply(
    store: Store,
    mail: Mail,
    reply: CalendarReply,
    event_id: int,
    resident_id: int,
    followups: Followups,
    now: datetime,
) -> Outcome:
    event = await event_sql.get_event(store.reader, event_id)
    if event is None:
        return "unmatched"
    if reply.sequence < event.sequence:
        log.info(
            "mail %s: a reply to SEQUENCE %s, the event is at %s; ignored",
            mail.key,
            reply.sequence,
            event.sequence,
        )
        return "stale"
    answer = _ANSWERS.get(reply.partstat)
    if answer is None:  # TENTATIVE: nothing changes; the organiser sees it
        return await _to_inbox(
            store, mail, "tentative", event_id, resident_id, now, suggested=RsvpState.MAYBE
        )

    async def after(tx: Tx, outcome: AnswerOutcome, at: datetime) -> int:
        # In the answer's transaction: an older reply arriving later rolls it all back.
        fresh = await sql.newer_reply(
            tx, outcome.invitation.id, reply.sequence, reply.dtstamp, reply.partstat, at
        )
        if not fresh:
            raise _StaleReply("a newer calendar reply was applied")
        return await followups.after_answer(tx, outcome, at)

    request = AnswerRequest(
        event_id,
        resident_id,
        answer,
        AnswerVia.CALENDAR,
        key=f"mail:{mail.key}",
        address=mail.sender or None,
    )
    try:
        outcome = await apply_answer(store, request, now=now, after=after)
    except _StaleReply:
        log.info("mail %s: an older calendar reply than the one applied; ignored", mail.key)
        return "stale"
    except ServiceError as exc:
        log.info("mail %s: the calendar reply was refused: %s", mail.key, exc.code)
        return await _to_inbox(
            store, mail, "refused", event_id, resident_id, now, reason=exc.code, suggested=answer
        )
    return "repeated" if outcome.repeated else "answered"


async def _to_inbox(
    store: Store,
    mail: Mail,
    kind: str,
    event_id: int | None,
    resident_id: int | None,
    now: datetime,
    *,
    reason: str = "",
    suggested: RsvpState | None = None,
) -> Outcome:
    """Put the mail before the organiser, once; a plain text is read as an SMS reply is,
    to suggest an answer ("我来，两个人" → yes, 2)."""
    if mail.automatic and kind == "plain":
        return "ignored"
    party = None
    if suggested is None and mail.text:
        suggested, party = suggest(mail.text)

    async def txn(tx: Tx) -> Outcome:
        if not await rsvp_sql.mark_seen(tx, f"mail:{mail.key}", now):
            return "repeated"
        await sql.add_to_inbox(
            tx,
            sql.NewInboxItem(
                message_key=mail.key,
                kind=kind,
                event_id=event_id,
                resident_id=resident_id,
                sender=mail.sender,
                subject=mail.subject[:300],
                body=mail.text,
                reason=reason,
                suggested=None if suggested is None else str(suggested),
                party_size=party,
            ),
            now,
        )
        return "inbox"

    return await store.write(txn)


async def _bounced(store: Store, mail: Mail, followups: Followups, now: datetime) -> Outcome:
    """A bounce fails the message it names (which falls back to the resident's next
    channel, as a failed send does) and, when the address does not exist, disables it."""
    bounce = mail.bounce
    assert bounce is not None
    if bounce.original_id is None:
        log.info("mail %s: a bounce that names no message; ignored", mail.key)
        return "ignored"
    found = await outbox_sql.by_provider_id(store.reader, "email", bounce.original_id)
    message = None if found is None else await outbox_sql.get_message(store.reader, found[0])
    if message is None:
        log.info("mail %s: a bounce of no message of ours; ignored", mail.key)
        return "ignored"
    if bounce.address_gone and message.contact_id is not None:
        contact_id = message.contact_id
        reason = f"the mail server said the address does not exist ({bounce.status})"

        async def txn(tx: Tx) -> None:
            await recipients_sql.disable_contact(tx, contact_id, reason, now)

        await store.write(txn)
    error = f"bounced: {bounce.status} {bounce.diagnostic}".strip()
    await record_report(
        store,
        "email",
        bounce.original_id,
        "failed",
        error=error,
        now=now,
        composer=followups.composer,
    )
    return "bounced"

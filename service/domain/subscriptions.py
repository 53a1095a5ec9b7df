"""Integrators' webhook subscriptions, and the events they are told of: rsvp.changed,
waitlist.promoted, event.updated and checkin.created. Each is queued in the transaction of
the change it reports, so an integrator hears of exactly the changes that were committed,
once each (per Standard Webhooks: a thin payload of ids and states, signed, the message uid
as the webhook-id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from ..core.clock import utc_text
from ..core.errors import NotFoundError, ValidationError
from ..core.models import (
    AnswerVia,
    Channel,
    Event,
    EventStatus,
    IntegrationEvent,
    Invitation,
    Page,
    RsvpState,
    Subscription,
)
from ..core.ssrf import DestinationRefusedError, IPNetwork, resolve_checked
from ..core.text import check_text
from ..core.webhook_rules import is_valid_secret, new_secret
from ..messages.compose import integration_message
from ..store import Store, Tx
from ..store import outbox as outbox_sql
from ..store import subscriptions as sql
from ..store.checkin import CheckinRow
from ..store.outbox import NewMessage
from ..store.subscriptions import Listener
from .contacts import canonical_address
from .rsvp import AnswerOutcome

DESCRIPTION_MAX: Final = 200
# How long a rotated-out secret still signs beside the new one: a day to deploy the new one.
ROTATION_OVERLAP: Final = timedelta(hours=24)


@dataclass(frozen=True)
class SubscriptionInput:
    """A new subscription; without a signing secret one is generated."""

    url: str
    event_types: Sequence[str]
    description: str = ""
    signing_secret: str | None = None


@dataclass(frozen=True)
class SubscriptionChanges:
    """What to change; None leaves a field as it is."""

    event_types: Sequence[str] | None = None
    description: str | None = None
    # A new secret: this one, or (rotate_secret) a generated one; the old one goes on
    # signing beside it for ROTATION_OVERLAP.
    signing_secret: str | None = None
    rotate_secret: bool = False
    # False turns the endpoint off; True turns it on again (after a 410, say).
    enabled: bool | None = None


def _event_types(types: Sequence[str]) -> tuple[str, ...]:
    known = {t.value for t in IntegrationEvent}
    unknown = sorted(set(types) - known)
    if unknown:
        raise ValidationError.field(
            "event_types",
            f"unknown type {unknown[0]!r}; known: {', '.join(sorted(known))}",
            code="unknown_event_type",
        )
    if not types:
        raise ValidationError.field("event_types", "name at least one type")
    return tuple(sorted(set(types)))


def _secret(given: str | None) -> str:
    if given is None:
        return new_secret()
    if not is_valid_secret(given):
        raise ValidationError.field(
            "signing_secret", "must be whsec_ followed by base64 of 24 to 64 random bytes"
        )
    return given


async def check_url(raw: str, allow: Sequence[IPNetwork]) -> str:
    """`raw` as a webhook URL whose host resolves only to public addresses (or to ones
    `allow` lists); else a 400 naming `url`. Delivery checks again, since DNS can change."""
    try:
        url = canonical_address(Channel.WEBHOOK, raw, region="")
    except ValidationError as exc:
        problem = exc.fields.get("address", exc.message)
        raise ValidationError.field("url", problem, code=exc.code) from None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # The channel refuses them too: credentials in a URL end up in logs.
        raise ValidationError.field("url", "must not carry a user name or password")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        await resolve_checked(host, port, allow)
    except DestinationRefusedError:
        raise ValidationError.field(
            "url",
            f"{host} is a private, loopback or link-local address; only the networks in"
            " channels.webhook.allow_private may be",
            code="url_not_allowed",
        ) from None
    except OSError:
        raise ValidationError.field(
            "url", f"cannot resolve {host}", code="url_unresolvable"
        ) from None
    return url


def _not_found(subscription_id: int) -> NotFoundError:
    return NotFoundError(f"no subscription {subscription_id}", code="subscription_not_found")


async def create_subscription(
    store: Store, data: SubscriptionInput, *, allow: Sequence[IPNetwork], now: datetime
) -> Subscription:
    """A new subscription, with its signing secret: the one time the secret is shown."""
    types = _event_types(data.event_types)
    description = check_text("description", data.description, DESCRIPTION_MAX)
    secret = _secret(data.signing_secret)
    url = await check_url(data.url, allow)

    async def txn(tx: Tx) -> Subscription:
        new_id = await sql.insert(
            tx, url=url, event_types=types, description=description, secret=secret, now=now
        )
        created = await sql.get(tx, new_id)
        assert created is not None
        return created

    created = await store.write(txn)
    return _with_secret(created, secret)


def _with_secret(subscription: Subscription, secret: str) -> Subscription:
    return replace(subscription, signing_secret=secret)


async def list_subscriptions(store: Store, *, limit: int, offset: int) -> Page[Subscription]:
    """A page of subscriptions, oldest first, never with their secrets."""
    items, total = await sql.page(store.reader, limit=limit, offset=offset)
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def get_subscription(store: Store, subscription_id: int) -> Subscription:
    """One subscription without its secret, or 404 subscription_not_found."""
    found = await sql.get(store.reader, subscription_id)
    if found is None:
        raise _not_found(subscription_id)
    return found


async def update_subscription(
    store: Store, subscription_id: int, changes: SubscriptionChanges, *, now: datetime
) -> Subscription:
    """Change types, description, secret or whether it is on; a new secret is shown in this
    answer only. Messages sent in the next ROTATION_OVERLAP carry a signature with the old
    secret too, so the receiver can switch over without dropping any."""
    types = None if changes.event_types is None else _event_types(changes.event_types)
    description = (
        None
        if changes.description is None
        else check_text("description", changes.description, DESCRIPTION_MAX)
    )
    if changes.rotate_secret and changes.signing_secret is not None:
        raise ValidationError.field(
            "rotate_secret", "send either rotate_secret or signing_secret, not both"
        )
    secret = _secret(changes.signing_secret) if changes.signing_secret is not None else None
    if changes.rotate_secret:
        secret = new_secret()

    async def txn(tx: Tx) -> Subscription:
        if await sql.get(tx, subscription_id) is None:
            raise _not_found(subscription_id)
        await sql.update(
            tx,
            subscription_id,
            event_types=types,
            description=description,
            secret=secret,
            previous_until=now + ROTATION_OVERLAP,
        )
        if changes.enabled is True:
            await sql.enable(tx, subscription_id)
        elif changes.enabled is False:
            await sql.disable(tx, subscription_id, "turned off by staff", now)
        updated = await sql.get(tx, subscription_id)
        assert updated is not None
        return updated

    updated = await store.write(txn)
    return updated if secret is None else _with_secret(updated, secret)


async def delete_subscription(store: Store, subscription_id: int) -> None:
    """Remove a subscription; its messages, sent or still queued, go with it."""

    async def txn(tx: Tx) -> None:
        if not await sql.delete(tx, subscription_id):
            raise _not_found(subscription_id)

    await store.write(txn)


# Emitting: called inside the transaction of the change.


@dataclass(frozen=True)
class Occurrence:
    """Something integrators may be told of: its type, the event it concerns, its data."""

    type: IntegrationEvent
    event_id: int | None  # None: a room booking's check-in, which concerns no event
    data: dict[str, object]


def rsvp_changed(
    invitation: Invitation, *, previous: RsvpState, previous_party: int, via: str
) -> Occurrence:
    """An invitation's answer or party size changed: ids and states, no names or addresses."""
    return Occurrence(
        IntegrationEvent.RSVP_CHANGED,
        invitation.event_id,
        {
            "event_id": invitation.event_id,
            "invitation_id": invitation.id,
            "resident_id": invitation.resident_id,
            "answer": str(invitation.answer),
            "previous": str(previous),
            "party_size": invitation.party_size,
            "previous_party_size": previous_party,
            "via": via,
        },
    )


def waitlist_promoted(invitation: Invitation) -> Occurrence:
    """A waitlisted party moved up into free seats."""
    return Occurrence(
        IntegrationEvent.WAITLIST_PROMOTED,
        invitation.event_id,
        {
            "event_id": invitation.event_id,
            "invitation_id": invitation.id,
            "resident_id": invitation.resident_id,
            "party_size": invitation.party_size,
        },
    )


def event_updated(event: Event) -> Occurrence:
    """An event as it now stands: its state, times and capacity."""
    return Occurrence(
        IntegrationEvent.EVENT_UPDATED,
        event.id,
        {
            "event_id": event.id,
            "status": str(event.status),
            "sequence": event.sequence,
            "starts_at": utc_text(event.starts_at),
            "ends_at": utc_text(event.ends_at),
            "capacity": event.capacity,
        },
    )


def checkin_created(row: CheckinRow) -> Occurrence:
    """Someone checked in at a door: ids, code, counts and time; no names."""
    return Occurrence(
        IntegrationEvent.CHECKIN_CREATED,
        row.event_id,
        {
            "checkin_id": row.id,
            "code": row.code,
            "event_id": row.event_id,
            "invitation_id": row.invitation_id,
            "booking_id": row.booking_id,
            "room_id": row.room_id,
            "party_size": row.party_size,
            "walk_ins": row.walk_ins,
            "via": row.via,
            "at": utc_text(row.at),
        },
    )


def _message(listener: Listener, occurrence: Occurrence, now: datetime) -> NewMessage:
    return integration_message(
        listener.id,
        listener.url,
        str(occurrence.type),
        occurrence.event_id,
        occurrence.data,
        timestamp=utc_text(now),
        now=now,
    )


async def emit(tx: Tx, occurrences: Sequence[Occurrence], now: datetime) -> int:
    """Queue one message per occurrence and active subscription wanting its type; returns
    how many."""
    if not occurrences:
        return 0
    listeners = await sql.listeners(tx)
    if not listeners:  # the common case: nothing to build
        return 0
    rows = [
        _message(listener, occurrence, now)
        for occurrence in occurrences
        for listener in listeners
        if occurrence.type in listener.event_types
    ]
    await outbox_sql.insert_messages(tx, rows, now)
    return len(rows)


async def answer_changed(tx: Tx, outcome: AnswerOutcome, now: datetime) -> int:
    """rsvp.changed for an answer that changed something (its promotions are told by
    `parties_promoted`); returns how many messages were queued."""
    # Most communities have no listener: then there is nothing to build (every answer
    # comes here, and the list is read once per write transaction).
    if not outcome.changed or not await sql.listeners(tx):
        return 0
    occurrence = rsvp_changed(
        outcome.invitation,
        previous=outcome.previous,
        previous_party=outcome.previous_party,
        via=str(outcome.request.via),
    )
    return await emit(tx, [occurrence], now)


async def parties_promoted(
    tx: Tx, event: Event, promoted: Sequence[Invitation], now: datetime
) -> int:
    """For each party moved up from the waitlist: rsvp.changed (it is a change of answer,
    via system) and waitlist.promoted; returns how many messages were queued."""
    occurrences: list[Occurrence] = []
    for party in promoted:
        occurrences.append(
            rsvp_changed(
                party,
                previous=RsvpState.WAITLISTED,
                previous_party=party.party_size,
                via=str(AnswerVia.SYSTEM),
            )
        )
        occurrences.append(waitlist_promoted(party))
    return await emit(tx, occurrences, now)


SYSTEM_VIA: Final = str(AnswerVia.SYSTEM)


async def parties_released(tx: Tx, released: Sequence[Invitation], now: datetime) -> int:
    """rsvp.changed (yes → no, via system) for parties that did not reconfirm in time and
    were released; returns how many messages were queued."""
    if not released or not await sql.listeners(tx):
        return 0
    occurrences = [
        rsvp_changed(
            party,
            previous=RsvpState.YES,
            previous_party=party.party_size,
            via=str(AnswerVia.SYSTEM),
        )
        for party in released
    ]
    return await emit(tx, occurrences, now)


async def event_changed(tx: Tx, before: Event, after: Event, now: datetime) -> None:
    """event.updated when a published event changes or is cancelled, or a draft is
    published; a draft's edits concern nobody outside yet."""
    if EventStatus.PUBLISHED not in (before.status, after.status):
        return
    await emit(tx, [event_updated(after)], now)

"""The points passbook (积分存折): postings, balances, earning at the door, bulk credits,
reversals and the proof that the books hold (`linli passbook verify`).

Every posting is one write job: its idempotency key is looked up, its rules checked and
its lines written in the same transaction, so a repeated key returns the first posting
and two concurrent postings cannot both spend the same points.

Error codes: insufficient_points (409: a household would owe points), already_reversed
(409), not_reversible (409: a reversal is not reversed again; post anew),
posting_not_found, household_not_found, event_not_found (404), reason_required and
invalid (400, naming the field).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.clock import utc_text
from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import IntegrationEvent
from ..core.points import PassbookSettings
from ..store import Db, Store, Tx
from ..store import ledger as sql
from ..store import points_store as shelf
from ..store.ledger import (
    ISSUING,
    LedgerDrift,
    LedgerLine,
    LedgerPosting,
    NewPosting,
    PostingFilter,
)
from . import subscriptions

KINDS: Final = ("earn", "redeem", "adjust", "bonus", "expire", "reversal")
# What an organiser may post by hand: credits (and, for adjust, debits) of households.
MANUAL_KINDS: Final = ("earn", "adjust", "bonus")
POINTS_MAX: Final = 1_000_000
KEY_MAX: Final = 200
REASON_MAX: Final = 500
BULK_MAX: Final = 10_000

__all__ = ["Credit", "LedgerDrift", "LedgerPosting", "PointsPosted", "PostingFilter"]


@dataclass(frozen=True)
class Credit:
    """Points for one household in a manual posting (minus: an adjustment's debit)."""

    household_id: int
    points: int


@dataclass(frozen=True)
class PointsPosted:
    """A posting as made, or as first made under the same key (`repeated`)."""

    posting: LedgerPosting
    repeated: bool


def check_key(key: str) -> str:
    """An idempotency key as given, or 400 naming the field."""
    key = key.strip()
    if not 1 <= len(key) <= KEY_MAX:
        raise ValidationError.field("idempotency_key", f"must be 1 to {KEY_MAX} characters")
    return key


async def _first(tx: Tx, key: str) -> PointsPosted | None:
    found = await sql.posting_by_key(tx, key)
    return None if found is None else PointsPosted(found, repeated=True)


# A webhook names each household's points up to this many lines; a bulk credit of
# thousands says how many households and how many points in all.
HOOK_LINES_MAX: Final = 100


def posted_occurrence(posting: LedgerPosting) -> subscriptions.Occurrence:
    """points.posted: a posting's kind, ids and households' points; no names."""
    households = [ln for ln in posting.lines if ln.household_id is not None]
    data: dict[str, object] = {
        "posting_id": posting.id,
        "kind": posting.kind,
        "event_id": posting.event_id,
        "redemption_id": posting.redemption_id,
        "reverses_id": posting.reverses_id,
        "households": len(households),
        "points": sum(ln.amount for ln in households),
        "at": utc_text(posting.at),
    }
    if len(households) <= HOOK_LINES_MAX:
        data["lines"] = [
            {"household_id": ln.household_id, "points": ln.amount} for ln in households
        ]
    return subscriptions.Occurrence(IntegrationEvent.POINTS_POSTED, posting.event_id, data)


async def _sealed(tx: Tx, posting_id: int) -> PointsPosted:
    made = await sql.posting(tx, posting_id)
    assert made is not None
    now = made.at
    await subscriptions.emit(tx, [posted_occurrence(made)], now)
    return PointsPosted(made, repeated=False)


def _insufficient(household_id: int, balance: int, wanted: int) -> ConflictError:
    return ConflictError(
        f"household {household_id} has {balance} points, not {wanted}",
        code="insufficient_points",
    )


async def credit_in(
    tx: Tx,
    credits: Sequence[Credit],
    *,
    kind: str,
    key: str,
    operator: str,
    reason: str,
    now: datetime,
    event_id: int | None = None,
    checkin_id: int | None = None,
    expires_at: datetime | None = None,
) -> PointsPosted:
    """Inside a write job: one posting of these households' credits (and debits) against
    the issuing account; the first posting when `key` was used before."""
    earlier = await _first(tx, key)
    if earlier is not None:
        return earlier
    missing = {c.household_id for c in credits} - await sql.existing_households(
        tx, [c.household_id for c in credits]
    )
    if missing:
        raise NotFoundError(f"no household {min(missing)}", code="household_not_found")
    accounts = await sql.ensure_accounts(tx, [c.household_id for c in credits], now)
    owed = {c.household_id: -c.points for c in credits if c.points < 0}
    if owed:
        have = await sql.balances(tx, list(owed))
        for household_id, wanted in owed.items():
            if have.get(household_id, 0) < wanted:
                raise _insufficient(household_id, have.get(household_id, 0), wanted)
    lines = [
        LedgerLine(
            accounts[c.household_id],
            c.household_id,
            c.points,
            expires_at if c.points > 0 else None,
        )
        for c in credits
    ]
    lines.append(LedgerLine(ISSUING, None, -sum(c.points for c in credits)))
    if lines[-1].amount == 0:
        raise ValidationError.field("credits", "the credits and debits sum to zero")
    posting_id = await sql.insert_posting(
        tx,
        NewPosting(kind, key, operator, reason, now, event_id=event_id, checkin_id=checkin_id),
        lines,
    )
    return await _sealed(tx, posting_id)


def expiry_of(settings: PassbookSettings, now: datetime) -> datetime | None:
    """When points earned now lapse (None: expiry is off)."""
    if settings.expiry_months == 0:
        return None
    month = now.month - 1 + settings.expiry_months
    year, month = now.year + month // 12, month % 12 + 1
    day = min(now.day, 28)  # the same day of a later month, kept valid in February
    return now.replace(year=year, month=month, day=day)


def _check_manual(kind: str, credits: Sequence[Credit], reason: str) -> str:
    if kind not in MANUAL_KINDS:
        raise ValidationError.field("kind", f"must be one of {', '.join(MANUAL_KINDS)}")
    if not credits:
        raise ValidationError.field("credits", "give at least one household")
    if len(credits) > BULK_MAX:
        raise ValidationError.field("credits", f"at most {BULK_MAX} households at once")
    seen: set[int] = set()
    for credit in credits:
        if credit.household_id in seen:
            raise ValidationError.field("credits", f"household {credit.household_id} twice")
        seen.add(credit.household_id)
        if credit.points == 0 or abs(credit.points) > POINTS_MAX:
            raise ValidationError.field("points", f"must be 1 to {POINTS_MAX}")
        if credit.points < 0 and kind != "adjust":
            raise ValidationError.field("points", "only an adjust posting may take points")
    return check_reason(reason)


def check_reason(reason: str) -> str:
    """Why an entry is made by hand, trimmed; 400 reason_required when empty (the auditor
    reads it)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError.field("reason", "say why", code="reason_required")
    if len(reason) > REASON_MAX:
        raise ValidationError.field("reason", f"at most {REASON_MAX} characters")
    return reason


async def post_credits(
    store: Store,
    credits: Sequence[Credit],
    *,
    kind: str,
    key: str,
    operator: str,
    reason: str,
    settings: PassbookSettings,
    now: datetime,
    event_id: int | None = None,
) -> PointsPosted:
    """An organiser's posting crediting (or adjusting) many households in one step."""
    reason = _check_manual(kind, credits, reason)
    key = check_key(key)

    async def txn(tx: Tx) -> PointsPosted:
        if event_id is not None and await sql.event_points(tx, event_id) is None:
            raise NotFoundError(f"no event {event_id}", code="event_not_found")
        return await credit_in(
            tx,
            credits,
            kind=kind,
            key=key,
            operator=operator,
            reason=reason,
            now=now,
            event_id=event_id,
            expires_at=expiry_of(settings, now),
        )

    return await store.write(txn)


def points_for(event: sql.EventPoints, people: int, settings: PassbookSettings) -> int:
    """What `people` who came to `event` earn (0: the event gives no points)."""
    if event.per_person is not None:
        return event.per_person * people
    if event.per_hour is not None:
        # Whole hours' worth, rounded up to a point: an organiser reads "2 分/小时".
        return math.ceil(event.per_hour * event.hours) * people
    if event.kind == "volunteer":
        return settings.volunteer_points * people
    return 0


async def earn_at_checkin(
    tx: Tx, checkin_id: int, *, operator: str, settings: PassbookSettings, now: datetime
) -> PointsPosted | None:
    """Inside the check-in's write job: credit the household for the people who came, once
    per check-in (the key and the journal's unique checkin_id both say so)."""
    found = await sql.checkin_household(tx, checkin_id)
    if found is None:
        return None
    household_id, event_id, people = found
    event = await sql.event_points(tx, event_id)
    if event is None or people < 1:
        return None
    points = points_for(event, people, settings)
    if points < 1:
        return None
    return await credit_in(
        tx,
        [Credit(household_id, points)],
        kind="earn",
        key=f"checkin:{checkin_id}",
        operator=operator,
        reason="check-in",
        now=now,
        event_id=event_id,
        checkin_id=checkin_id,
        expires_at=expiry_of(settings, now),
    )


async def credit_checked_in(
    store: Store,
    event_id: int,
    *,
    points: int,
    key: str,
    operator: str,
    reason: str,
    settings: PassbookSettings,
    now: datetime,
) -> PointsPosted:
    """Credit every household checked in at an event `points` per person, in one posting.

    Refused (409 event_earns_at_checkin) for an event that already credits at the door,
    which would pay twice."""
    reason = _check_manual("bonus", [Credit(0, points)], reason)
    key = check_key(key)

    async def txn(tx: Tx) -> PointsPosted:
        earlier = await _first(tx, key)
        if earlier is not None:
            return earlier
        event = await sql.event_points(tx, event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}", code="event_not_found")
        if points_for(event, 1, settings) > 0:
            raise ConflictError(
                "this event credits each household at check-in already",
                code="event_earns_at_checkin",
            )
        people: dict[int, int] = {}
        for _checkin, household_id, party in await sql.event_checkins(tx, event_id):
            people[household_id] = people.get(household_id, 0) + party
        credits = [Credit(h, points * n) for h, n in people.items() if n > 0]
        if not credits:
            raise ConflictError("nobody has checked in at this event", code="no_checkins")
        return await credit_in(
            tx,
            credits,
            kind="bonus",
            key=key,
            operator=operator,
            reason=reason,
            now=now,
            event_id=event_id,
            expires_at=expiry_of(settings, now),
        )

    return await store.write(txn)


async def reverse(
    store: Store, posting_id: int, *, key: str, operator: str, reason: str, now: datetime
) -> PointsPosted:
    """A reversal posting: the same lines with their signs turned. A redemption's reversal
    puts its goods back in stock. Reversing twice is refused (409 already_reversed)."""
    key = check_key(key)
    reason = check_reason(reason)

    async def txn(tx: Tx) -> PointsPosted:
        earlier = await _first(tx, key)
        if earlier is not None:
            return earlier
        return await reverse_in(tx, posting_id, key=key, operator=operator, reason=reason, now=now)

    return await store.write(txn)


async def reverse_in(
    tx: Tx, posting_id: int, *, key: str, operator: str, reason: str, now: datetime
) -> PointsPosted:
    """Inside a write job: reverse one posting (see `reverse`)."""
    original = await sql.posting(tx, posting_id)
    if original is None:
        raise NotFoundError(f"no posting {posting_id}", code="posting_not_found")
    if original.kind == "reversal":
        raise ConflictError("a reversal is not reversed; post anew", code="not_reversible")
    if original.reversed_by is not None:
        raise ConflictError(
            f"posting {posting_id} was reversed by posting {original.reversed_by}",
            code="already_reversed",
        )
    # Taking back points a household has spent already would leave it owing.
    taken = {
        ln.household_id: ln.amount for ln in original.lines if ln.household_id and ln.amount > 0
    }
    if taken:
        have = await sql.balances(tx, list(taken))
        for household_id, wanted in taken.items():
            if have.get(household_id, 0) < wanted:
                raise _insufficient(household_id, have.get(household_id, 0), wanted)
    if original.redemption_id is not None:
        await shelf.restock(tx, original.redemption_id)
    new_id = await sql.insert_posting(
        tx,
        NewPosting(
            "reversal",
            key,
            operator,
            reason,
            now,
            event_id=original.event_id,
            reverses_id=original.id,
        ),
        [LedgerLine(ln.account_id, ln.household_id, -ln.amount) for ln in original.lines],
    )
    return await _sealed(tx, new_id)


@dataclass(frozen=True)
class PassbookBalance:
    """A household's balance as the sum of its lines, and its passbook code."""

    household_id: int
    balance: int
    code: str | None


async def balance(db: Db, household_id: int) -> PassbookBalance:
    """A household's balance, summed from its lines (the cache is not trusted here)."""
    account = await sql.account_of(db, household_id)
    if account is None:
        if not await sql.existing_households(db, [household_id]):
            raise NotFoundError(f"no household {household_id}", code="household_not_found")
        return PassbookBalance(household_id, 0, None)
    return PassbookBalance(household_id, await sql.line_sum(db, account.id), account.code)


async def verify(db: Db) -> tuple[LedgerDrift | None, tuple[int, int, int]]:
    """The first drift in the books (None: every posting sums to zero and every cached
    balance is its lines' sum), and the (postings, lines, accounts) checked."""
    return await sql.first_drift(db), await sql.counts(db)


async def totals(db: Db) -> tuple[int, int]:
    """(points issued, points redeemed), net of reversals and expiry, for /metrics."""
    return await sql.totals(db)

"""Answers: the one function every RSVP goes through, whatever path it came by (link,
SMS reply, Telegram button, webhook action URL, organiser), with capacity, the waitlist,
the deadline and idempotency; and the attendance an organiser reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import AnswerVia, Event, EventStatus, Invitation, RsvpState
from ..store import Db, Store, Tx
from ..store import events as event_sql
from ..store import reconfirm as reconfirm_sql
from ..store import rsvp as sql
from ..store.checkin import door_counts

# What a resident may ask for; waitlisted and pending are states, not answers.
ANSWERS: Final = frozenset({RsvpState.YES, RsvpState.NO, RsvpState.MAYBE})
RESIDENT: Final = "resident"
SYSTEM: Final = "system"


@dataclass(frozen=True)
class AnswerRequest:
    """An answer as it arrived. `party_size` None keeps the current size; `key` makes a
    repeated request (a form's nonce, a provider's message id) change nothing."""

    event_id: int
    resident_id: int
    answer: RsvpState
    via: AnswerVia
    party_size: int | None = None
    # People to add to the party as it stands when the answer applies (Telegram's "+1"):
    # read in the answer's transaction, so two presses at once count twice.
    party_more: int = 0
    actor: str = RESIDENT
    key: str | None = None
    # The address it came from (the phone number of an SMS reply), to confirm to.
    address: str | None = None


@dataclass(frozen=True)
class AnswerOutcome:
    """What an answer did. `repeated`: its key was seen before, so nothing changed."""

    event: Event
    invitation: Invitation
    previous: RsvpState
    previous_party: int
    request: AnswerRequest
    repeated: bool = False
    promoted: tuple[Invitation, ...] = ()
    # How many messages were queued with it (by `after`).
    queued: int = 0

    @property
    def changed(self) -> bool:
        """Whether the answer or the party size moved."""
        return not self.repeated and (
            self.invitation.answer is not self.previous
            or self.invitation.party_size != self.previous_party
        )


# Runs inside the answer's transaction, so the messages that follow an answer are queued
# exactly when the answer is committed: see followups.Followups. It must change no
# event and no subscription, and may run twice (the answer's job is memo_safe and
# rerunnable: see Store.write).
# It returns how many messages it queued.
AfterAnswer = Callable[[Tx, AnswerOutcome, datetime], Awaitable[int]]
# The same for parties promoted by a change to the event (a raised capacity).
AfterPromotion = Callable[[Tx, Event, Sequence[Invitation], datetime], Awaitable[object]]


def answers_open(event: Event, now: datetime, via: AnswerVia) -> None:
    """Raise a ConflictError when this event takes no answer now by this path."""
    if event.status is not EventStatus.PUBLISHED or event.ends_at <= now:
        raise ConflictError(
            f"event {event.id} is {event.status}; answers are closed", code="event_closed"
        )
    # An organiser may still record what a resident said at the door or on the phone.
    if via is not AnswerVia.ORGANISER and event.rsvp_deadline and now > event.rsvp_deadline:
        raise ConflictError("the answer deadline has passed", code="answers_closed")


def _checked_size(event: Event, size: int) -> int:
    if not 1 <= size <= event.max_party_size:
        raise ValidationError.field(
            "party_size",
            f"must be between 1 and {event.max_party_size} (you and up to"
            f" {event.max_party_size - 1} others)",
            code="party_size_out_of_range",
        )
    return size


async def _event(tx: Tx, event_id: int) -> Event:
    # The answers of one group commit mostly concern one event: read it once per batch
    # (answer jobs are memo_safe, and any other job empties the memo after it runs).
    key = ("event", event_id)
    event: Event | None = tx.memo.get(key)
    if event is None:
        event = await event_sql.get_event(tx, event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}", code="event_not_found")
        tx.memo[key] = event
    return event


async def apply_answer(
    store: Store,
    request: AnswerRequest,
    *,
    now: datetime,
    after: AfterAnswer | None = None,
) -> AnswerOutcome:
    """Apply one answer in one transaction: capacity, waitlist, deadline, history, the
    promotions it causes, and (through `after`) the messages that follow.

    A yes that does not fit the capacity is waitlisted, in arrival order; a waitlisted
    party asking yes again keeps its place. A confirmed party asking for more seats than
    are free is refused (409 not_enough_seats) and keeps its seats. A no or maybe frees
    seats, and the first waitlisted parties that fit move up. The store runs write jobs
    one at a time, so concurrent answers cannot overbook."""
    if request.answer not in ANSWERS:
        raise ValidationError.field("answer", "must be yes, no or maybe", code="invalid_answer")

    async def txn(tx: Tx) -> AnswerOutcome:
        event = await _event(tx, request.event_id)
        current = await sql.invitation(tx, request.event_id, request.resident_id)
        if request.key is not None and not await sql.mark_seen(tx, request.key, now):
            if current is None:
                raise NotFoundError("no such invitation", code="invitation_not_found")
            return AnswerOutcome(
                event,
                await placed(tx, current),
                current.answer,
                current.party_size,
                request,
                repeated=True,
            )
        answers_open(event, now, request.via)
        if current is None and request.via is AnswerVia.ORGANISER:
            await sql.create_invitation(tx, event.id, request.resident_id, now)
            current = await sql.invitation(tx, request.event_id, request.resident_id)
            if current is None:  # none was made: the resident does not exist
                raise NotFoundError(f"no resident {request.resident_id}", code="resident_not_found")
        if current is None:
            raise NotFoundError(
                f"resident {request.resident_id} is not invited to event {event.id}",
                code="invitation_not_found",
            )
        state = request.answer
        # A no brings nobody: the party is not kept for it (the page, the CSV and the
        # resident's selector would show it), and a later yes starts from the resident.
        size = (
            1
            if state is RsvpState.NO
            else _checked_size(
                event,
                (current.party_size if request.party_size is None else request.party_size)
                + request.party_more,
            )
        )
        keep_place = False
        if state is RsvpState.YES and event.capacity is not None:
            taken = await sql.seats_taken(tx, event.id, besides=current.id)
            if taken + size > event.capacity:
                if current.answer is RsvpState.YES:
                    free = max(event.capacity - taken, 0)
                    raise ConflictError(
                        f"only {free} seats are free; the party keeps its {current.party_size}",
                        code="not_enough_seats",
                    )
                state = RsvpState.WAITLISTED
                keep_place = current.answer is RsvpState.WAITLISTED
        moved = state is not current.answer or size != current.party_size
        if moved:
            await sql.set_answer(
                tx,
                current.id,
                state,
                size,
                via=str(request.via),
                actor=request.actor,
                now=now,
                keep_place=keep_place,
            )
        # Only a confirmed party giving up seats frees any; capacity raises promote in
        # events.update_event.
        freed = current.answer is RsvpState.YES and (
            state is not RsvpState.YES or size < current.party_size
        )
        promoted = await promote(tx, event, now) if freed else []
        updated = current
        if moved:
            answered = current.answered_at if request.via is AnswerVia.SYSTEM else now
            updated = replace(
                current, answer=state, party_size=size, answered_at=answered, updated_at=now
            )
        outcome = AnswerOutcome(
            event,
            await placed(tx, updated),
            current.answer,
            current.party_size,
            request,
            promoted=tuple(p for p in promoted if p.id != current.id),
        )
        if after is not None:
            outcome = replace(outcome, queued=await after(tx, outcome, now))
        return outcome

    # memo_safe: an answer (and what follows it) changes no event and no subscription.
    # rerunnable: txn depends on its transaction and `request` alone.
    return await store.write(txn, memo_safe=True, rerunnable=True)


async def placed(db: Db, invitation: Invitation) -> Invitation:
    """The invitation with its waitlist position filled in when it is waitlisted: every
    answer's outcome carries it, so each path (API, link, chat) can say where it stands."""
    if invitation.answer is not RsvpState.WAITLISTED:
        return invitation
    found = await sql.invitations_page(
        db, invitation.event_id, answer=None, after_id=invitation.id - 1, limit=1
    )
    if not found or found[0].id != invitation.id or found[0].waitlist_position is None:
        return invitation
    return invitation.placed(found[0].waitlist_position)


async def promote(tx: Tx, event: Event, now: datetime) -> list[Invitation]:
    """Move the first waitlisted parties that fit into the free seats, in arrival order.
    A party too large for the seats left is passed over for smaller ones behind it, and
    keeps its place for the next seats that free up."""
    waiting = await sql.waitlist(tx, event.id)
    if not waiting:
        return []
    free = None if event.capacity is None else event.capacity - await sql.seats_taken(tx, event.id)
    promoted: list[Invitation] = []
    for party in waiting:
        if free is not None:
            if party.party_size > free:
                continue
            free -= party.party_size
        await sql.set_answer(
            tx, party.id, RsvpState.YES, party.party_size, via=SYSTEM, actor=SYSTEM, now=now
        )
        moved = await sql.invitation_by_id(tx, party.id)
        assert moved is not None
        promoted.append(moved)
    return promoted


@dataclass(frozen=True)
class AnswerCounts:
    """An event's invitations by answer, and the people coming."""

    yes: int = 0
    people: int = 0
    no: int = 0
    maybe: int = 0
    waitlisted: int = 0
    pending: int = 0


async def answer_counts(store: Store, event_ids: Sequence[int]) -> dict[int, AnswerCounts]:
    """Answer counts of several events (lists and the dashboard), in one query."""
    found = await sql.counts_of_events(store.reader, event_ids)

    def of(counts: dict[str, tuple[int, int]], state: str) -> int:
        return counts.get(state, (0, 0))[0]

    return {
        event_id: AnswerCounts(
            yes=of(counts, "yes"),
            people=counts.get("yes", (0, 0))[1],
            no=of(counts, "no"),
            maybe=of(counts, "maybe"),
            waitlisted=of(counts, "waitlisted"),
            pending=of(counts, "pending"),
        )
        for event_id, counts in found.items()
    }


async def latest_answers(store: Store, event_id: int, limit: int = 5) -> list[sql.RecentAnswer]:
    """The event's most recent answers, newest first (the attendance page's strip)."""
    return await sql.latest_answers(store.reader, event_id, limit)


async def attendance_mark(store: Store, event_id: int) -> tuple[int, int, int]:
    """A value that changes whenever the event's attendance does (answers, check-ins)."""
    return await sql.change_mark(store.reader, event_id)


@dataclass(frozen=True)
class Attendance:
    """An event's answers: counts by state, people in total, who came and who did not,
    and a page of invitations."""

    event_id: int
    yes: int
    no: int
    maybe: int
    waitlisted: int
    pending: int
    invited: int
    people_yes: int
    people_waitlisted: int
    capacity: int | None
    checked_in: int  # parties checked in by their code
    people_checked_in: int  # everyone counted at the door, walk-ins included
    no_shows: int  # yes parties that never came, once the event has ended
    items: tuple[Invitation, ...]
    next_after: int | None


async def attendance(
    store: Store,
    event_id: int,
    *,
    answer: RsvpState | None = None,
    after_id: int = 0,
    limit: int = 500,
    with_history: bool = True,
) -> Attendance:
    """Counts and one page of invitations (by id after `after_id`) with their history."""
    event = await event_sql.get_event(store.reader, event_id)
    if event is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    counts = await sql.counts(store.reader, event_id)
    door = await door_counts(store.reader, event_id)
    page = await sql.invitations_page(
        store.reader,
        event_id,
        answer=None if answer is None else str(answer),
        after_id=after_id,
        limit=limit,
    )
    if with_history:
        changes = await sql.history(store.reader, [item.id for item in page])
        page = [item.with_history(tuple(changes[item.id])) for item in page]
    # Who was asked to reconfirm, and who did (service/domain/reconfirm.py).
    asked = await reconfirm_sql.states(store.reader, [item.id for item in page])
    page = [
        replace(
            item,
            reconfirm_requested_at=asked[item.id].requested_at,
            reconfirmed_at=asked[item.id].reconfirmed_at,
            reconfirm_outcome=asked[item.id].outcome,
        )
        if item.id in asked
        else item
        for item in page
    ]

    def count(state: RsvpState) -> int:
        return counts.get(str(state), (0, 0))[0]

    return Attendance(
        event_id=event_id,
        yes=count(RsvpState.YES),
        no=count(RsvpState.NO),
        maybe=count(RsvpState.MAYBE),
        waitlisted=count(RsvpState.WAITLISTED),
        pending=count(RsvpState.PENDING),
        invited=sum(n for n, _ in counts.values()),
        people_yes=counts.get("yes", (0, 0))[1],
        people_waitlisted=counts.get("waitlisted", (0, 0))[1],
        capacity=event.capacity,
        checked_in=door.parties,
        people_checked_in=door.people,
        no_shows=door.no_shows,
        items=tuple(page),
        next_after=page[-1].id if len(page) == limit else None,
    )

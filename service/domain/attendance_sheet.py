"""The attendance list as an organiser exports it: every invitation with its answer, the
path the answer came by, when the party checked in at the door, and whether a party that
said yes never came."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from ..core.models import Event, EventStatus, Invitation, RsvpState
from ..store import Store
from . import checkin, rsvp
from .events import get_event


@dataclass(frozen=True)
class SheetRow:
    """One invitation of the sheet, with what the door knows of it."""

    invitation: Invitation
    # How the answer standing now arrived (an AnswerVia value); "" while there is none.
    via: str
    checked_in_at: datetime | None
    # A yes whose party never checked in, once the event has ended.
    no_show: bool

    @property
    def has_party(self) -> bool:
        """Whether the party size means anything: a no (or no answer) brings nobody."""
        return self.invitation.answer not in (RsvpState.NO, RsvpState.PENDING)


def has_ended(event: Event, now: datetime) -> bool:
    """Whether a yes that never checked in is a no-show by now: the event is over and was
    not cancelled (the rule of checkin.mark_no_shows, read at once, not after housekeeping)."""
    return event.ends_at <= now and event.status is not EventStatus.CANCELLED


async def attendance_sheet(
    store: Store, event_id: int, *, now: datetime, page: int = 500
) -> AsyncIterator[list[SheetRow]]:
    """The event's invitations by id, a page at a time (404 event_not_found first)."""
    event = await get_event(store, event_id)
    arrived = {
        a.invitation_id: a.at
        for a in await checkin.event_arrivals(store, event_id)
        if a.invitation_id is not None
    }
    ended = has_ended(event, now)
    after = 0
    while True:
        found = await rsvp.attendance(store, event_id, after_id=after, limit=page)
        yield [_row(item, arrived.get(item.id), ended=ended) for item in found.items]
        if found.next_after is None:
            return
        after = found.next_after


def _row(item: Invitation, came: datetime | None, *, ended: bool) -> SheetRow:
    last = item.history[-1] if item.history else None
    answered = item.answer is not RsvpState.PENDING
    return SheetRow(
        invitation=item,
        via=last.via if last is not None and answered else "",
        checked_in_at=came,
        no_show=ended and item.answer is RsvpState.YES and came is None,
    )

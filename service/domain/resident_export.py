"""Everything Linli holds about one resident, as one document (PIPL art. 45, GDPR art. 15
and 20): who they are, their household, contacts and tags, their invitations with each
change of answer, bookings, check-ins and the messages that reached them with attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.models import Household, Invitation, Message, Resident
from ..store import Store
from ..store import bookings as booking_sql
from ..store import checkin as checkin_sql
from ..store import households as household_sql
from ..store import message_log as log_sql
from ..store import rsvp as rsvp_sql
from ..store.bookings import Booking
from ..store.checkin import CheckinRow
from . import residents

# Bookings are read a page at a time (list_bookings pages); a resident rarely has one page.
_PAGE: Final = 500


@dataclass(frozen=True)
class ResidentExport:
    """One resident's data: each part as the API shows it elsewhere. Messages are those
    sent to them (or to an address only they have), with every attempt."""

    exported_at: datetime
    resident: Resident
    household: Household
    invitations: tuple[Invitation, ...]
    bookings: tuple[Booking, ...]
    checkins: tuple[CheckinRow, ...]
    messages: tuple[Message, ...]


async def _bookings(store: Store, resident_id: int) -> list[Booking]:
    found: list[Booking] = []
    while True:
        page, total = await booking_sql.list_bookings(
            store.reader, resident_id=resident_id, limit=_PAGE, offset=len(found)
        )
        found += page
        if not page or len(found) >= total:
            return found


async def export_resident(store: Store, resident_id: int, *, now: datetime) -> ResidentExport:
    """Everything held about `resident_id` (404 resident_not_found when there is none)."""
    resident = await residents.get_resident(store, resident_id)
    household = await household_sql.get_household(store.reader, resident.household_id)
    assert household is not None  # residents.household_id is a RESTRICT foreign key
    return ResidentExport(
        exported_at=now,
        resident=resident,
        household=household,
        invitations=tuple(await rsvp_sql.invitations_of_resident(store.reader, resident_id)),
        bookings=tuple(await _bookings(store, resident_id)),
        checkins=tuple(await checkin_sql.resident_checkins(store.reader, resident_id)),
        messages=tuple(await log_sql.resident_messages(store.reader, resident_id)),
    )

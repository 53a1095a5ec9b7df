"""iCalendar objects for events, built with the icalendar library: iMIP invitations and
cancellations (RFC 6047 / RFC 5546) and a plain PUBLISH file for "add to calendar"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import icalendar  # type: ignore[import-untyped]  # icalendar ships no type information

from ..core.models import Event, EventStatus

PRODID: Final = "-//Linli//Community events//EN"
_INVITATION_METHODS: Final = frozenset({"REQUEST", "CANCEL"})
# Short enough never to be folded, and an address nobody has (RFC 2606).
_PLACEHOLDER: Final = "mailto:attendee@linli.invalid"


def event_uid(event_id: int, uid_domain: str) -> str:
    """The UID every calendar object of one event carries, so clients update, not add."""
    return f"linli-event-{event_id}@{uid_domain}"


@dataclass(frozen=True)
class InvitationFrame:
    """An iMIP calendar without its ATTENDEE line: the same for every resident of one
    event, so a send builds it once and `invitation` adds each resident's line."""

    method: str
    head: str  # up to where the ATTENDEE line goes
    tail: str

    def invitation(self, attendee_email: str, attendee_name: str) -> str:
        """The calendar for one attendee."""
        attendee = _cal_address(attendee_email, attendee_name)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        if self.method == "REQUEST":
            attendee.params["PARTSTAT"] = "NEEDS-ACTION"
            attendee.params["RSVP"] = "TRUE"
        line: bytes = icalendar.Event().content_line("ATTENDEE", attendee).to_ical()
        return f"{self.head}{line.decode('utf-8')}\r\n{self.tail}"


def invitation_frame(
    event: Event,
    *,
    organizer_email: str,
    organizer_name: str,
    uid_domain: str,
    now: datetime,
    method: str = "REQUEST",
    sequence: int | None = None,
    room_name: str | None = None,
) -> InvitationFrame:
    """An iMIP REQUEST, or a CANCEL when the event is cancelled, awaiting its attendee.

    `sequence` defaults to `event.sequence`, plus one for a cancelled event (RFC 5546
    counts a STATUS change as significant). `method="CANCEL"` on a live event uninvites
    the attendee only, so STATUS is left out. LOCATION is the booked room's name (the
    Event holds only its id), then the typed location. Times go out in UTC, which needs
    no VTIMEZONE and which every client shows in its reader's zone.
    """
    cancelled = event.status is EventStatus.CANCELLED
    if cancelled:
        method = "CANCEL"
    if method not in _INVITATION_METHODS:
        raise ValueError(f"an invitation's method is REQUEST or CANCEL, not {method!r}")
    if sequence is None:
        sequence = event.sequence + 1 if cancelled else event.sequence
    vevent = _vevent(event, uid_domain=uid_domain, now=now, sequence=sequence, room_name=room_name)
    if method == "CANCEL" and not cancelled:
        del vevent["STATUS"]
    vevent.add("organizer", _cal_address(organizer_email, organizer_name))
    vevent.add("attendee", icalendar.vCalAddress(_PLACEHOLDER))
    head, placeholder, tail = _calendar(method, vevent).partition(f"ATTENDEE:{_PLACEHOLDER}\r\n")
    assert placeholder, "the placeholder attendee is always written on one line"
    return InvitationFrame(method=method, head=head, tail=tail)


def event_ics(event: Event, *, uid_domain: str, now: datetime, room_name: str | None = None) -> str:
    """A METHOD:PUBLISH calendar of one event, for an "add to calendar" download."""
    vevent = _vevent(
        event, uid_domain=uid_domain, now=now, sequence=event.sequence, room_name=room_name
    )
    return _calendar("PUBLISH", vevent)


def _vevent(
    event: Event, *, uid_domain: str, now: datetime, sequence: int, room_name: str | None
) -> Any:
    """The VEVENT every calendar object of an event shares; callers add the people."""
    vevent = icalendar.Event()
    vevent.add("uid", event_uid(event.id, uid_domain))
    vevent.add("sequence", sequence)
    vevent.add("dtstamp", _utc(now))
    vevent.add("dtstart", _utc(event.starts_at))
    vevent.add("dtend", _utc(event.ends_at))
    vevent.add("last-modified", _utc(event.updated_at))
    vevent.add("summary", event.title)
    if event.description:
        vevent.add("description", event.description)
    places = [place for place in (room_name, event.location) if place]
    if places:
        vevent.add("location", ", ".join(dict.fromkeys(places)))
    cancelled = event.status is EventStatus.CANCELLED
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return vevent


def _calendar(method: str, vevent: Any) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(vevent)
    data: bytes = calendar.to_ical()
    return data.decode("utf-8")


def _cal_address(email: str, name: str) -> Any:
    address = icalendar.vCalAddress(f"mailto:{email}")
    # A parameter value cannot hold a double quote (RFC 5545 3.1), and a name is free text.
    name = name.replace('"', "'").strip()
    if name:
        address.params["CN"] = name
    return address


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        # astimezone() would read a naive time as the server's local time, silently.
        raise ValueError("naive datetime given to the calendar builder")
    return moment.astimezone(UTC)

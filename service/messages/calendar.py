"""iCalendar objects for events, built with the icalendar library: iMIP invitations and
cancellations (RFC 6047 / RFC 5546) and a plain PUBLISH file for "add to calendar".

An invitation asks for a reply (`RSVP=TRUE`, which makes mail clients show Accept and
Decline) only when Linli reads the replies: its ORGANIZER is then the invitation's own
reply address (service/messages/links.py `reply_address`), so a reply is matched by the
token in it. Otherwise it says `RSVP=FALSE`, and the link in the message is the way to
answer: a reply nobody reads would be an answer lost without anyone noticing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import icalendar  # type: ignore[import-untyped]  # icalendar ships no type information

from ..core.models import Event, EventStatus

PRODID: Final = "-//Linli//Community events//EN"
_INVITATION_METHODS: Final = frozenset({"REQUEST", "CANCEL"})
# Short enough never to be folded, and addresses nobody has (RFC 2606).
_PLACEHOLDER: Final = "mailto:attendee@linli.invalid"
_ORGANIZER_PLACEHOLDER: Final = "mailto:organizer@linli.invalid"
# icalendar writes a component's properties in its own order, ATTENDEE before ORGANIZER
# with others between them.
_ATTENDEE_LINE: Final = f"ATTENDEE:{_PLACEHOLDER}\r\n"
_ORGANIZER_LINE: Final = f"ORGANIZER:{_ORGANIZER_PLACEHOLDER}\r\n"


def event_uid(event_id: int, uid_domain: str) -> str:
    """The UID every calendar object of one event carries, so clients update, not add."""
    return f"linli-event-{event_id}@{uid_domain}"


@dataclass(frozen=True)
class InvitationFrame:
    """An iMIP calendar without its ORGANIZER and ATTENDEE lines: the same for every
    resident of one event, so a send builds it once and `invitation` adds each
    resident's lines (the organizer is per invitation when replies are read)."""

    method: str
    head: str  # up to where the ATTENDEE line goes
    middle: str  # from there to where the ORGANIZER line goes
    tail: str
    organizer_email: str
    organizer_name: str

    def invitation(
        self, attendee_email: str, attendee_name: str, *, reply_to: str | None = None
    ) -> str:
        """The calendar for one attendee. `reply_to`: the invitation's own reply address,
        which becomes the ORGANIZER and asks for a reply (RSVP=TRUE); without it the
        community's address is the ORGANIZER and RSVP=FALSE."""
        organizer = _cal_address(reply_to or self.organizer_email, self.organizer_name)
        attendee = _cal_address(attendee_email, attendee_name)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        if self.method == "REQUEST":
            attendee.params["PARTSTAT"] = "NEEDS-ACTION"
            attendee.params["RSVP"] = "TRUE" if reply_to else "FALSE"
        lines = [
            icalendar.Event().content_line(name, value).to_ical().decode("utf-8")
            for name, value in (("ATTENDEE", attendee), ("ORGANIZER", organizer))
        ]
        return f"{self.head}{lines[0]}\r\n{self.middle}{lines[1]}\r\n{self.tail}"


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
    vevent.add("organizer", icalendar.vCalAddress(_ORGANIZER_PLACEHOLDER))
    vevent.add("attendee", icalendar.vCalAddress(_PLACEHOLDER))
    head, attendee, rest = _calendar(method, vevent).partition(_ATTENDEE_LINE)
    middle, organizer, tail = rest.partition(_ORGANIZER_LINE)
    assert attendee and organizer, "the placeholders are written on one line each, in order"
    return InvitationFrame(method, head, middle, tail, organizer_email, organizer_name)


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

"""Meetings of the consultation list (板凳会, 院会): an agenda of items, the printed roster
and its paper ticks (check-ins via 'paper'), and closing with minutes and a decision per
item, which moves the items forward."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.checkin_codes import normalise
from ..core.consultation import (
    Decision,
    ItemStatus,
    Meeting,
    RosterRow,
    TickReport,
)
from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import Event, EventKind, SendReport
from ..core.privacy import mask_name
from ..core.text import check_text, normal
from ..messages.compose import Composer
from ..store import Db, Store, Tx
from ..store import checkin as checkin_sql
from ..store import consultation as consultation_sql
from ..store import events as event_sql
from ..store import meetings as sql
from ..store.meetings import RosterLine
from . import items, sending

AGENDA_MAX: Final = 50
MINUTES_MAX: Final = 20_000
TICKS_MAX: Final = 2000


@dataclass(frozen=True)
class ItemDecision:
    """What a meeting decided on one item of its agenda, and the words residents will read
    once it is published."""

    item_id: int
    decision: str
    outcome: str = ""


async def _event(tx: Tx, event_id: int) -> Event:
    event = await event_sql.get_event(tx, event_id)
    if event is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    return event


async def _meeting_event(tx: Tx, event_id: int) -> Event:
    event = await _event(tx, event_id)
    if event.kind is not EventKind.MEETING:
        raise ConflictError(
            f"event {event_id} is a {event.kind}, not a meeting", code="not_a_meeting"
        )
    return event


async def _open(tx: Tx, event_id: int) -> Event:
    event = await _meeting_event(tx, event_id)
    if await sql.record(tx, event_id) is not None:
        raise ConflictError(f"meeting {event_id} is closed already", code="meeting_closed")
    return event


async def _meeting(db: Db, event: Event) -> Meeting:
    record = await sql.record(db, event.id)
    return Meeting(
        event_id=event.id,
        title=event.title,
        agenda=tuple(await sql.agenda(db, event.id)),
        closed_at=None if record is None else record.closed_at,
        minutes="" if record is None else record.minutes,
        attendees=0 if record is None else record.attendees,
    )


async def get_meeting(store: Store, event_id: int) -> Meeting:
    """A meeting's agenda and, once closed, its record."""
    db = store.reader
    event = await event_sql.get_event(db, event_id)
    if event is None or event.kind is not EventKind.MEETING:
        raise NotFoundError(f"no meeting {event_id}", code="meeting_not_found")
    return await _meeting(db, event)


async def set_agenda(
    store: Store, event_id: int, item_ids: Sequence[int], *, actor: str, now: datetime
) -> Meeting:
    """Put items on a meeting's agenda, in order; a collected item moves on to
    discussing. A decided item is not discussed again (409 item_decided)."""
    chosen = list(dict.fromkeys(item_ids))
    if len(chosen) > AGENDA_MAX:
        raise ValidationError.field("item_ids", f"at most {AGENDA_MAX} items")

    async def txn(tx: Tx) -> Meeting:
        event = await _open(tx, event_id)
        for item_id in chosen:
            item = await items.current(tx, item_id)
            if item.status.rank > ItemStatus.DISCUSSING.rank:
                raise ConflictError(
                    f"item_ids: item {item.code} is {item.status} already",
                    code="item_decided",
                    fields={"item_ids": f"{item.code} is {item.status}"},
                )
            if item.status is ItemStatus.COLLECTED:
                await items.move_in(
                    tx,
                    item,
                    ItemStatus.DISCUSSING,
                    decision=None,
                    outcome=None,
                    reason=event.title,
                    actor=actor,
                    now=now,
                )
        await sql.replace_agenda(tx, event_id, chosen)
        return await _meeting(tx, event)

    return await store.write(txn)


async def invite_first(
    store: Store, composer: Composer, event_id: int, *, now: datetime, batch: int = 500
) -> SendReport:
    """Invite the raisers and supporters of the agenda's items before anyone else; the
    meeting's ordinary send later skips them (nobody is invited twice)."""
    meeting = await get_meeting(store, event_id)
    people: set[int] = set()
    for entry in meeting.agenda:
        people.update(await consultation_sql.people_to_tell(store.reader, entry.item_id))
    return await sending.send_event(
        store, composer, event_id, now=now, batch=batch, only=sorted(people)
    )


def _per_household(lines: Sequence[RosterLine]) -> list[RosterLine]:
    """The first line of each household (the store orders the likeliest first)."""
    seen: set[int] = set()
    picked = []
    for line in lines:
        if line.household_id not in seen:
            seen.add(line.household_id)
            picked.append(line)
    return picked


async def roster(store: Store, event_id: int) -> list[RosterRow]:
    """The printed sign-in sheet: a row per invited household, by unit, with its masked
    name, party size, door code and whether it is checked in."""
    if await event_sql.get_event(store.reader, event_id) is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")
    lines = _per_household(await sql.roster_lines(store.reader, event_id))
    return [
        RosterRow(
            invitation_id=line.invitation_id,
            unit=line.unit,
            name=mask_name(line.name),
            answer=line.answer,
            party_size=line.party_size,
            code=line.code,
            checked_in=line.via is not None,
            via=line.via,
        )
        for line in lines
    ]


async def _tick(tx: Tx, event: Event, typed: str, actor: str, now: datetime) -> bool | None:
    """One tick: True checked in now, False already, None matching no invitation."""
    code = normalise(typed)
    lines = await sql.lines_by_code(tx, event.id, code) if code else []
    if not lines:
        lines = await sql.lines_by_unit(tx, event.id, normal(typed, "NFKC"))
    if not lines:
        return None
    line = lines[0]
    if line.via is not None:
        return False
    # A household ticked on paper that never said yes has no door code yet: it gets one,
    # so the check-in (and any later tablet scan) is counted once, by code.
    door = line.code or await checkin_sql.ensure_code(tx, invitation_id=line.invitation_id, now=now)
    return await sql.paper_checkin(
        tx,
        code=door,
        room_id=event.room_id,
        event_id=event.id,
        party_size=line.party_size,
        device=actor,
        now=now,
    )


async def enter_ticks(
    store: Store, event_id: int, entries: Sequence[str], *, actor: str, now: datetime
) -> TickReport:
    """The printed roster's ticks, each a door code or a unit, as check-ins via 'paper'.
    Entering them again, or a tick for someone the tablet checked in, counts nobody twice."""
    typed = [check_text("entries", e, 50) for e in entries]
    typed = [e for e in typed if e]
    if len(typed) > TICKS_MAX:
        raise ValidationError.field("entries", f"at most {TICKS_MAX}")

    async def txn(tx: Tx) -> TickReport:
        event = await _event(tx, event_id)
        done = already = 0
        unknown: list[str] = []
        for entry in dict.fromkeys(typed):
            result = await _tick(tx, event, entry, actor, now)
            if result is None:
                unknown.append(entry)
            elif result:
                done += 1
            else:
                already += 1
        return TickReport(checked_in=done, already=already, unknown=tuple(unknown))

    return await store.write(txn)


def _decisions(decided: Sequence[ItemDecision]) -> dict[int, tuple[Decision, str]]:
    found: dict[int, tuple[Decision, str]] = {}
    for entry in decided:
        try:
            decision = Decision(entry.decision)
        except ValueError:
            names = ", ".join(d.value for d in Decision)
            raise ValidationError.field("decisions", f"must be one of {names}") from None
        outcome = check_text("outcome", entry.outcome, items.OUTCOME_MAX, multiline=True)
        found[entry.item_id] = (decision, outcome)
    return found


async def close_meeting(
    store: Store,
    event_id: int,
    *,
    minutes: str,
    decisions: Sequence[ItemDecision],
    actor: str,
    now: datetime,
) -> Meeting:
    """Close a meeting: its head count from every check-in (tablet and paper), its
    minutes, and a decision per agenda item, which moves each decided item forward (the
    outcome is saved, not published). Closing again is 409 meeting_closed."""
    text = check_text("minutes", minutes, MINUTES_MAX, multiline=True)
    chosen: Mapping[int, tuple[Decision, str]] = _decisions(decisions)

    async def txn(tx: Tx) -> Meeting:
        event = await _open(tx, event_id)
        on_agenda = {entry.item_id for entry in await sql.agenda(tx, event_id)}
        stray = sorted(set(chosen) - on_agenda)
        if stray:
            raise ValidationError.field("decisions", f"item {stray[0]} is not on the agenda")
        for item_id, (decision, outcome) in chosen.items():
            item = await items.current(tx, item_id)
            await sql.set_decision(tx, event_id, item_id, str(decision))
            if item.status.rank < ItemStatus.DECIDED.rank:
                await items.move_in(
                    tx,
                    item,
                    ItemStatus.DECIDED,
                    decision=decision,
                    outcome=outcome or None,
                    reason=event.title,
                    actor=actor,
                    now=now,
                )
        head_count = await sql.attendees(tx, event_id)
        await sql.insert_record(tx, event_id, text, head_count, actor, now)
        return await _meeting(tx, event)

    return await store.write(txn)

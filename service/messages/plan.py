"""Composing an event's messages: one resident's, or a batch of invitees' at a time, each
rendered from the shipped templates in-process or from the organiser's override in the
sandbox (a batch a round trip), then made into outbox rows by the Composer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from ..core.errors import ValidationError
from ..core.extras import Extras
from ..core.models import Event, MessageKind
from ..store import Db
from ..store import rooms as room_sql
from ..store import templates as sql
from ..store.outbox import NewMessage
from ..store.recipients import Reach, Recipient
from .compose import Composer, expiry, pick_contact
from .render import Rendered
from .sandbox import Job
from .stencil import Stencils

# Renders between two turns of the event loop while a batch is composed (see _breathe).
_RENDER_SLICE: Final = 25
# ... or once this long has passed since the loop last ran (see _breathe).
_RENDER_TURN_S: Final = 0.02
_turn: ContextVar[float] = ContextVar("render_turn", default=0.0)


async def room_name_of(db: Db, event: Event) -> str | None:
    """The name of the event's room, if it has one."""
    if event.room_id is None:
        return None
    room = await room_sql.get_room(db, event.room_id)
    return None if room is None else room.name


async def overrides_of(db: Db, event_id: int) -> dict[tuple[str, str, str], str]:
    """An event's template overrides by (kind, channel, language)."""
    return {
        (kind, channel, language): source
        for kind, channel, language, source, _ in await sql.template_overrides(db, event_id)
    }


async def render(
    composer: Composer,
    event: Event,
    room_name: str | None,
    person: Recipient,
    kind: MessageKind,
    channel: str,
    *,
    contact: Reach | None,
    note: str,
    urgent: bool,
    override: str | None,
) -> tuple[Rendered, Extras]:
    """The rendered message and its channel extras (calendar, buttons …); an override
    renders in the sandbox."""
    context = composer.context(
        event, room_name, person, kind, contact=contact, note=note, urgent=urgent
    )
    if override is None:
        rendered = composer.renderer.render(str(kind), channel, person.language, context)
    else:
        rendered = await composer.overrides().render(
            str(kind), channel, person.language, context, override
        )
    extras = composer.event_extras(event, room_name, person, kind, channel, context, contact)
    return rendered, extras


async def message(
    composer: Composer,
    event: Event,
    room_name: str | None,
    person: Recipient,
    kind: MessageKind,
    contact: Reach,
    *,
    group_uid: str | None,
    invitation_id: int | None,
    note: str,
    urgent: bool,
    override: str | None,
    now: datetime,
) -> NewMessage:
    """An outbox row for `person` through `contact` (a fallback: in `group_uid`)."""
    rendered, extras = await render(
        composer,
        event,
        room_name,
        person,
        kind,
        contact.channel,
        contact=contact,
        note=note,
        urgent=urgent,
        override=override,
    )
    return composer.row(
        person,
        kind,
        contact,
        rendered,
        extras,
        event_id=event.id,
        group_uid=group_uid,
        invitation_id=invitation_id,
        note=note,
        urgent=urgent,
        suppressed=False,
        send_at=now,
        expires_at=expiry(event, kind),
    )


@dataclass(frozen=True)
class Batch:
    """What every message of one batch shares: the event, its room and overrides, the
    kind, the note and the moment."""

    composer: Composer
    event: Event
    room_name: str | None
    kind: MessageKind
    overrides: Mapping[tuple[str, str, str], str]
    note: str
    urgent: bool
    now: datetime

    def to_invitee_waiting(self, person: Recipient, contacts: list[Reach]) -> NewMessage | None:
        """An outbox row for an invitee on their first usable contact, with the event's
        template override; None when they have no usable contact. For a write job, which
        runs on the store's writer thread and cannot await: an override's round trip to
        the sandbox runs on the event loop while this thread waits."""
        plans = [self._plan(person, contacts)]
        jobs = _jobs(plans)
        if jobs:
            plans = self._filled(plans, self.composer.overrides().render_waiting(jobs))
        (row,) = self._rows(plans)
        return row

    async def to_invitees(
        self,
        people: Sequence[tuple[Recipient, list[Reach]]],
        stencils: Stencils | None = None,
    ) -> list[NewMessage | None]:
        """An outbox row for each invitee on their first usable contact (None when they
        have none), with the event's template overrides: the shipped templates render
        here through `stencils`, the overrides in the sandbox, a batch a round trip."""
        plans: list[_Plan | None] = []
        for n, (person, contacts) in enumerate(people, start=1):
            plans.append(self._plan(person, contacts, stencils))
            await _breathe(n)
        jobs = _jobs(plans)
        if jobs:
            plans = self._filled(plans, await self.composer.overrides().render_many(jobs))
        return self._rows(plans)

    def _plan(
        self, person: Recipient, contacts: list[Reach], stencils: Stencils | None = None
    ) -> _Plan | None:
        """A message's contact and context, rendered when it uses a shipped template, or
        its sandbox job when it uses an override; None without a usable contact."""
        composer, kind = self.composer, self.kind
        contact, suppressed = pick_contact(contacts, composer.usable_for(self.event))
        if contact is None:
            return None
        context = composer.context(
            self.event,
            self.room_name,
            person,
            kind,
            contact=contact,
            note=self.note,
            urgent=self.urgent,
        )
        override = self.overrides.get((str(kind), contact.channel, person.language))
        rendered: Rendered | Job
        if override is None:
            rendered = (stencils or composer.renderer).render(
                str(kind), contact.channel, person.language, context
            )
        else:
            rendered = Job(str(kind), contact.channel, person.language, override, context)
        return _Plan(person, contact, suppressed, context, rendered)

    def _rows(self, plans: Sequence[_Plan | None]) -> list[NewMessage | None]:
        composer, event, kind = self.composer, self.event, self.kind
        expires_at = expiry(event, kind)
        rows: list[NewMessage | None] = []
        for plan in plans:
            if plan is None:
                rows.append(None)
                continue
            assert isinstance(plan.rendered, Rendered)
            extras = composer.event_extras(
                event,
                self.room_name,
                plan.person,
                kind,
                plan.contact.channel,
                plan.context,
                plan.contact,
            )
            rows.append(
                composer.row(
                    plan.person,
                    kind,
                    plan.contact,
                    plan.rendered,
                    extras,
                    event_id=event.id,
                    group_uid=None,
                    invitation_id=plan.person.invitation_id,
                    note=self.note,
                    urgent=self.urgent,
                    suppressed=plan.suppressed,
                    send_at=self.now,
                    expires_at=expires_at,
                )
            )
        return rows

    def _filled(
        self, plans: Sequence[_Plan | None], results: Sequence[Rendered | ValidationError]
    ) -> list[_Plan | None]:
        """The plans with the sandbox's results in place of their jobs, in order; the
        first error raised, saying whose message it was."""
        found = iter(results)
        filled: list[_Plan | None] = []
        for plan in plans:
            if plan is None or not isinstance(plan.rendered, Job):
                filled.append(plan)
                continue
            result = next(found)
            if isinstance(result, ValidationError):
                # The override passed its check on sample values and failed on this
                # resident's own (a name too short to divide by): say whose, so the
                # organiser can find it.
                where = f" (the {self.kind} {plan.contact.channel} {plan.person.language} template,"
                raise type(result)(
                    f"{result.message}{where} for resident {plan.person.id})",
                    code=result.code,
                    fields=result.fields,
                )
            filled.append(replace(plan, rendered=result))
        return filled


@dataclass(frozen=True)
class _Plan:
    """One invitee's message before its row is made: rendered, or a job for the sandbox."""

    person: Recipient
    contact: Reach
    suppressed: bool
    context: dict[str, Any]
    rendered: Rendered | Job


def _jobs(plans: Sequence[_Plan | None]) -> list[Job]:
    return [p.rendered for p in plans if p is not None and isinstance(p.rendered, Job)]


async def _breathe(rendered: int) -> None:
    """Let the event loop run after every _RENDER_SLICE renders of a batch, or sooner
    once _RENDER_TURN_S has passed since it last ran."""
    # A batch of 500 renders holds the loop for about 50 ms: without a pause the worker's
    # connections sit idle that long, each waiting for its reply to be read. (Overrides
    # render in the sandbox process, off the loop.)
    now = time.monotonic()
    if rendered % _RENDER_SLICE == 0 or now - _turn.get() > _RENDER_TURN_S:
        await asyncio.sleep(0)
        _turn.set(time.monotonic())


def invited_to(kind: MessageKind, event_id: int | None) -> int | None:
    """The event whose invitation shapes the recipient of a `kind` message, as a send
    builds it: none for an invitation, which goes out before any answer; the others carry
    the resident's answer, party size and door code."""
    return None if kind is MessageKind.INVITATION else event_id

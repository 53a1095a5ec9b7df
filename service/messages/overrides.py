"""Organisers' template overrides per event, kind, channel and language: checked in the
sandbox against sample values, then saved; listed; deleted."""

from __future__ import annotations

from datetime import datetime

from ..core.errors import NotFoundError
from ..core.models import Page, TemplateOverride
from ..store import Store
from ..store import events as event_sql
from ..store import templates as sql
from .sandbox import TemplateSandbox


async def _known_event(store: Store, event_id: int) -> None:
    """404 event_not_found unless the event exists (as the events module says it)."""
    if await event_sql.get_event(store.reader, event_id) is None:
        raise NotFoundError(f"no event {event_id}", code="event_not_found")


async def save_template(
    store: Store,
    sandbox: TemplateSandbox,
    event_id: int,
    kind: str,
    channel: str,
    language: str,
    source: str,
    *,
    now: datetime,
) -> TemplateOverride:
    """Check an override against sample data (syntax, undefined names, time and size) in
    the sandbox, then save it; refused with a 400 naming the problem."""
    await _known_event(store, event_id)
    await sandbox.check(kind, channel, language, source)
    await store.write(
        lambda tx: sql.put_template(tx, event_id, kind, channel, language, source, now)
    )
    return TemplateOverride(event_id, kind, channel, language, source, now)


async def list_templates(store: Store, event_id: int) -> Page[TemplateOverride]:
    """An event's overrides."""
    await _known_event(store, event_id)
    found = tuple(
        TemplateOverride(event_id, kind, channel, language, source, updated_at)
        for kind, channel, language, source, updated_at in await sql.template_overrides(
            store.reader, event_id
        )
    )
    return Page(items=found, total=len(found), limit=max(len(found), 1), offset=0)


async def delete_template(
    store: Store, event_id: int, kind: str, channel: str, language: str
) -> None:
    """Go back to the default template; 404 when there was no override."""
    dropped = await store.write(
        lambda tx: sql.delete_template(tx, event_id, kind, channel, language)
    )
    if not dropped:
        raise NotFoundError("this event has no such template override", code="template_not_found")

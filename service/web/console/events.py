"""The organiser's events pages: the list, the event form (new and edit), the event's page
with publish, update and cancel, and the message preview for one resident."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy

from ...core.errors import ServiceError, ValidationError
from ...core.models import Channel, Event, EventKind, MessageKind
from ...domain import events, residents, rooms, rsvp, sending, subscriptions
from ...keys import delivery_key
from ..delivery import NotifyIn
from ..events import EventIn, EventPatch, event_times
from ..jsonio import path_id, read_int
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
_page = page_route(routes, "Events")
LIST_SIZE: Final = 100
# Residents offered in the preview's list; a bigger audience types the id.
PREVIEW_CHOICES: Final = 300
CHANNELS: Final = tuple(channel.value for channel in Channel)
PREVIEW_KINDS: Final = ("invitation", "reminder", "update", "cancellation")
TIMES: Final = ("starts_at", "ends_at", "rsvp_deadline")
_SPLIT: Final = re.compile(r"[,，;；\s]+")


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


def event_values(event: Event | None, tz: Any) -> dict[str, Any]:
    """An event as the form shows it (a new event: the API's defaults)."""
    if event is None:
        return {
            "kind": "activity",
            "title": "",
            "description": "",
            "location": "",
            "room_id": "",
            "starts_at": "",
            "ends_at": "",
            "capacity": "",
            "max_party_size": "1",
            "rsvp_deadline": "",
            "audience_tags": [],
            "channels": [],
            "reminder_hours": "24, 2",
            "nudge_hours": "48",
        }

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")

    return {
        "kind": str(event.kind),
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "room_id": "" if event.room_id is None else str(event.room_id),
        "starts_at": local(event.starts_at),
        "ends_at": local(event.ends_at),
        "capacity": "" if event.capacity is None else str(event.capacity),
        "max_party_size": str(event.max_party_size),
        "rsvp_deadline": local(event.rsvp_deadline),
        "audience_tags": list(event.audience_tags),
        "channels": list(event.channels),
        "reminder_hours": ", ".join(str(h) for h in event.reminder_hours),
        "nudge_hours": "" if event.nudge_hours is None else str(event.nudge_hours),
    }


def form_values(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The typed form, kept as typed for showing again."""
    values: dict[str, Any] = {
        name: form_text(form, name)
        for name in event_values(None, None)
        if name not in ("kind", "audience_tags", "channels")
    }
    values["kind"] = form_text(form, "kind")
    values["audience_tags"] = [str(t) for t in form.getall("audience_tags", [])]
    values["channels"] = [str(ch) for ch in form.getall("channels", [])]
    return values


def event_data(c: Console, values: Mapping[str, Any]) -> dict[str, Any]:
    """The form as the API's event body: times read in the community's zone, as UTC; every
    problem found (times and the rest) raised at once, field by field."""
    fields: dict[str, str] = {}
    data: dict[str, Any] = {
        "kind": values["kind"],
        "title": values["title"],
        "description": values["description"],
        "location": values["location"],
        "room_id": values["room_id"] or None,
        "capacity": values["capacity"] or None,
        "max_party_size": values["max_party_size"] or 1,
        "audience_tags": values["audience_tags"],
        "channels": values["channels"],
        "reminder_hours": [h for h in _SPLIT.split(values["reminder_hours"]) if h],
        "nudge_hours": values["nudge_hours"] or None,
    }
    for name in TIMES:
        if name == "rsvp_deadline" and not values[name]:
            data[name] = None
            continue
        try:
            data[name] = c.local_input(values[name], name)
        except ValidationError as exc:
            fields.update(exc.fields)
            data[name] = None
    if fields:
        # The other fields' problems too, so one round trip shows them all.
        try:
            c.parse(EventIn, data)
        except ValidationError as exc:
            fields = {**exc.fields, **fields}
        raise ValidationError("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)
    return data


async def _form(
    c: Console,
    event: Event | None,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.Response:
    found = await rooms.list_rooms(c.store)
    tags = [tag for tag, _ in await residents.tags_in_use(c.store)]
    tags += [tag for tag in values["audience_tags"] if tag not in tags]
    return c.render(
        "events/form.html",
        status,
        event=event,
        values=values,
        errors=errors,
        kinds=[(str(k), c.t(f"events.kind_{k}")) for k in EventKind],
        rooms=[("", c.t("events.no_room"))] + [(str(r.id), r.name) for r in found.items],
        tags=tags,
        channels=[(ch, c.t(f"events.channel_{ch}")) for ch in CHANNELS],
    )


@_page("GET", "/events", "upcoming and past events with their answer counts")
@view
async def events_list(request: web.Request, c: Console) -> web.StreamResponse:
    """Upcoming events soonest first, or past ones (?when=past), with answer counts."""
    past = request.query.get("when") == "past"
    found = await events.list_events(
        c.store,
        status=[],
        starts_from=None if past else c.now,
        starts_before=c.now if past else None,
        limit=LIST_SIZE,
        offset=0,
    )
    items = list(reversed(found.items)) if past else list(found.items)
    counts = await rsvp.answer_counts(c.store, [e.id for e in items])
    return c.render("events/list.html", events=items, counts=counts, past=past)


@_page("GET", "/events/new", "the new event form")
@view
async def event_new(request: web.Request, c: Console) -> web.StreamResponse:
    """An empty event form with the API's defaults."""
    return await _form(c, None, event_values(None, c.tz), {})


@_page("POST", "/events/new", "create an event (as a draft)")
@view
async def event_create(request: web.Request, c: Console) -> web.StreamResponse:
    """The same checks as POST /api/v1/events; errors beside the fields."""
    values = form_values(c.form)
    try:
        body = c.parse(EventIn, event_data(c, values))
        data = events.EventInput(**event_times(body.model_dump(), c.tz))
        created = await events.create_event(c.store, data, now=c.now)
    except ServiceError as exc:
        return await _form(c, None, values, c.errors(exc), exc.status)
    return c.redirect(f"/console/events/{created.id}", "events.created", title=created.title)


@_page("GET", r"/events/{id:\d+}/edit", "the event form, filled in")
@view
async def event_edit(request: web.Request, c: Console) -> web.StreamResponse:
    """The event's fields to change."""
    event = await events.get_event(c.store, _event_id(request))
    return await _form(c, event, event_values(event, c.tz), {})


@_page("POST", r"/events/{id:\d+}/edit", "save changes to an event")
@view
async def event_update(request: web.Request, c: Console) -> web.StreamResponse:
    """The same checks as PATCH /api/v1/events/{id}; errors beside the fields."""
    event = await events.get_event(c.store, _event_id(request))
    values = form_values(c.form)
    delivery = request.app[delivery_key]
    try:
        body = c.parse(EventPatch, event_data(c, values))
        changes = events.EventChanges(**event_times(body.model_dump(), c.tz))
        updated = await events.update_event(
            c.store,
            event.id,
            changes,
            now=c.now,
            after_promotion=delivery.followups().after_promotion,
            after_change=subscriptions.event_changed,
        )
    except ServiceError as exc:
        return await _form(c, event, values, c.errors(exc), exc.status)
    return c.redirect(f"/console/events/{updated.id}", "events.saved")


async def _event_page(
    c: Console, event: Event, errors: Mapping[str, str], status: int = 200, **notify: Any
) -> web.Response:
    counts = await rsvp.attendance(c.store, event.id, limit=1, with_history=False)
    return c.render(
        "events/detail.html",
        status,
        event=event,
        counts=counts,
        errors=errors,
        notify={
            "kind": "update",
            "audience": "invited",
            "note": "",
            "urgent": False,
            "groups": False,
            **notify,
        },
    )


@_page("GET", r"/events/{id:\d+}", "an event: summary, answers, and what to do next")
@view
async def event_detail(request: web.Request, c: Console) -> web.StreamResponse:
    """The event, its answer counts, and its actions."""
    return await _event_page(c, await events.get_event(c.store, _event_id(request)), {})


@_page("POST", r"/events/{id:\d+}/publish", "publish a draft event")
@view
async def event_publish(request: web.Request, c: Console) -> web.StreamResponse:
    """As POST /api/v1/events/{id}/publish."""
    published = await events.publish_event(
        c.store, _event_id(request), now=c.now, after_change=subscriptions.event_changed
    )
    return c.redirect(f"/console/events/{published.id}", "events.published")


@_page("POST", r"/events/{id:\d+}/cancel", "cancel an event (asks for confirmation)")
@view
async def event_cancel(request: web.Request, c: Console) -> web.StreamResponse:
    """As POST /api/v1/events/{id}/cancel, once confirmed. Unlike the API, the form
    notifies the invited unless the organiser unticks "notify": its hidden `notify=no`
    comes before the checkbox's `yes`, so the last value is the box's state, and a post
    without the field at all keeps the form's default."""
    event_id = _event_id(request)
    c.require_confirm()
    notify = (c.form.getall("notify", None) or ["yes"])[-1] == "yes"
    delivery = request.app[delivery_key]
    cancelled, report = await sending.cancel_event(
        c.store,
        delivery.ready(),
        event_id,
        notify=notify,
        now=c.now,
        after_change=subscriptions.event_changed,
        batch=delivery.settings.delivery.enqueue_batch,
    )
    if report is not None:
        return c.redirect(
            f"/console/events/{cancelled.id}", "events.cancelled_notified", n=report.queued
        )
    return c.redirect(f"/console/events/{cancelled.id}", "events.cancelled")


@_page("POST", r"/events/{id:\d+}/notify", "send an update, reminder or cancellation")
@view
async def event_notify(request: web.Request, c: Console) -> web.StreamResponse:
    """As POST /api/v1/events/{id}/notify; a cancellation message asks for confirmation."""
    event = await events.get_event(c.store, _event_id(request))
    typed = {
        "kind": form_text(c.form, "kind") or "update",
        "audience": form_text(c.form, "audience") or "invited",
        "note": str(c.form.get("note", "")),
        "urgent": bool(c.form.get("urgent")),
        "groups": bool(c.form.get("groups")),
    }
    delivery = request.app[delivery_key]
    try:
        body = c.parse(NotifyIn, typed)
        if "\x00" in body.note:
            raise ValidationError.field("note", "must not contain NUL characters")
        report = await sending.notify_event(
            c.store,
            delivery.ready(),
            event.id,
            kind=MessageKind(body.kind),
            audience=body.audience,
            note=body.note,
            urgent=body.urgent,
            now=c.now,
            batch=delivery.settings.delivery.enqueue_batch,
            groups=body.groups,
        )
    except ServiceError as exc:
        return await _event_page(c, event, c.errors(exc), exc.status, **typed)
    queued = report.queued + report.group_posts
    return c.redirect(f"/console/events/{event.id}", "events.notified", n=queued)


@_page("GET", r"/events/{id:\d+}/preview", "a message rendered for one resident")
@view
async def event_preview(request: web.Request, c: Console) -> web.StreamResponse:
    """?resident=&channel=&kind=: the same rendering as GET /api/v1/events/{id}/preview."""
    event = await events.get_event(c.store, _event_id(request))
    audience = await residents.list_residents(
        c.store,
        text=None,
        unit=None,
        phone=None,
        tag=list(event.audience_tags),
        household_id=None,
        limit=PREVIEW_CHOICES,
        offset=0,
        region=c.settings.community.phone_region,
    )
    channel = request.query.get("channel", "sms")
    kind = request.query.get("kind", "invitation")
    errors: dict[str, str] = {}
    if channel not in CHANNELS:
        errors["channel"] = c.t("events.bad_choice")
        channel = "sms"
    if kind not in PREVIEW_KINDS:
        errors["kind"] = c.t("events.bad_choice")
        kind = "invitation"
    chosen = request.query.get("resident", "")
    if not chosen and audience.items:
        chosen = str(audience.items[0].id)
    shown = None
    status = 200
    if chosen and not errors:
        try:
            resident_id = read_int(chosen)
            if not resident_id:
                raise ValidationError.field("resident", "must be a resident id")
            shown = await sending.preview(
                c.store,
                request.app[delivery_key].ready(),
                event.id,
                resident_id,
                kind=MessageKind(kind),
                channel=channel,
            )
        except ServiceError as exc:
            errors = {"resident": c.error_text(exc)}
            status = exc.status
    return c.render(
        "events/preview.html",
        status,
        event=event,
        residents=[(str(r.id), f"{r.name} · {r.unit}") for r in audience.items],
        chosen=chosen,
        channel=channel,
        kind=kind,
        channels=[(ch, c.t(f"events.channel_{ch}")) for ch in CHANNELS],
        kinds=[(k, c.t(f"events.message_{k}")) for k in PREVIEW_KINDS],
        preview=shown,
        payload=None
        if shown is None or shown.payload is None
        else json.dumps(shown.payload, ensure_ascii=False, indent=2),
        errors=errors,
    )

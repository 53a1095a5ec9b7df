"""The organiser's consultation pages: needs to sort (typed in for a household at a
bench meeting, on a phone), items made or merged from them, moving an item forward,
publishing outcomes in batches, and a meeting's agenda, printable roster, paper ticks
and closing."""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from ...core.consultation import Category, Decision, ItemStatus, NeedVia
from ...core.errors import ValidationError
from ...core.privacy import mask_name
from ...domain import items, meetings, needs, outcomes
from ...keys import delivery_key
from ...store import consultation as sql
from ...store import meetings as meeting_sql
from ..consultation import csv_response
from ..jsonio import path_id, read_int
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
_page = page_route(routes, "Consultation")
HOME: Final = "/console/consultation"
SHOWN: Final = 200
_LINES: Final = re.compile(r"[\r\n,，;；]+")


def _ids(c: Console, name: str) -> list[int]:
    """The ids ticked in a form's checkboxes named `name`."""
    found = [read_int(v) for v in c.form.getall(name, [])]
    return [i for i in found if i is not None]


def _words(c: Console, prefix: str, values: Any) -> list[tuple[str, str]]:
    return [(str(v), c.t(f"consultation.{prefix}_{v}")) for v in values]


@_page("GET", "/consultation", "needs, items and meetings")
@view
async def consultation_home(request: web.Request, c: Console) -> web.Response:
    """Needs to sort, the list, outcomes to publish, reviews due, meetings."""
    store = c.store
    waiting, _ = await sql.list_needs(store.reader, unmerged=True, limit=SHOWN, offset=0)
    listed, _ = await sql.list_items(store.reader, limit=SHOWN, offset=0)
    today = c.now.astimezone(c.tz).date()
    return c.render(
        "consultation/home.html",
        needs=waiting,
        items=listed,
        merge_options=[(str(i.id), f"{i.code} {i.title}") for i in listed if i.status.rank < 2],
        due=await items.reviews_due(store, today),
        meetings=await meeting_sql.meeting_events(store.reader),
        categories=[
            ("", c.t("consultation.category_none")),
            *_words(c, "category", [x.value for x in Category]),
        ],
        errors={},
    )


@_page("GET", "/consultation.csv", "the consultation list as CSV")
@view
async def consultation_csv(request: web.Request, c: Console) -> web.Response:
    """UTF-8 with a BOM, for Excel and WPS."""
    return await csv_response(request)


@_page("POST", "/consultation/needs", "record a need for a household")
@view
async def consultation_record(request: web.Request, c: Console) -> web.StreamResponse:
    """Typed in at a bench meeting on the organiser's phone."""
    await needs.raise_need(
        c.store,
        needs.NeedInput(
            text=form_text(c.form, "text"),
            via=NeedVia.ORGANISER,
            actor=c.me.name,
            category=form_text(c.form, "category") or None,
            unit=form_text(c.form, "unit") or None,
            request_key=f"console:{form_text(c.form, 'nonce')}" if c.form.get("nonce") else None,
        ),
        now=c.now,
    )
    return c.redirect(HOME, "consultation.flash_need")


@_page("POST", "/consultation/items", "make an item of needs, or merge needs into one")
@view
async def consultation_sort(request: web.Request, c: Console) -> web.StreamResponse:
    """With a title: a new item; with an item chosen: the needs merge into it."""
    ticked = _ids(c, "need_id")
    into = read_int(c.form.get("item_id"))
    if into is not None and not form_text(c.form, "title"):
        await items.merge_needs(c.store, into, ticked, actor=c.me.name, now=c.now)
        return c.redirect(f"{HOME}/items/{into}", "consultation.flash_merged")
    made = await items.create_item(
        c.store,
        items.ItemInput(title=form_text(c.form, "title"), need_ids=ticked),
        actor=c.me.name,
        now=c.now,
    )
    return c.redirect(f"{HOME}/items/{made.id}", "consultation.flash_item")


@_page("GET", r"/consultation/items/{id:\d+}", "an item: needs, audit trail, move forward")
@view
async def consultation_item(request: web.Request, c: Console) -> web.Response:
    """Its needs with their raisers (masked), its steps, the move form."""
    item = await items.get_item(c.store, path_id(request, "item_not_found", "item"))
    later = [s for s in ItemStatus if s.rank > item.status.rank]
    return c.render(
        "consultation/item.html",
        item=item,
        mask=mask_name,
        statuses=_words(c, "status", [s.value for s in later]),
        decisions=_words(c, "decision", [d.value for d in Decision]),
        errors={},
    )


@_page("POST", r"/consultation/items/{id:\d+}/move", "move an item forward")
@view
async def consultation_move(request: web.Request, c: Console) -> web.StreamResponse:
    """Saving a decision and its outcome does not publish it."""
    item_id = path_id(request, "item_not_found", "item")
    await items.move_item(
        c.store,
        item_id,
        form_text(c.form, "status"),
        decision=form_text(c.form, "decision") or None,
        outcome=form_text(c.form, "outcome") or None,
        reason=form_text(c.form, "reason"),
        actor=c.me.name,
        now=c.now,
    )
    return c.redirect(f"{HOME}/items/{item_id}", "consultation.flash_moved")


@_page("POST", "/consultation/publish", "publish the outcomes of the items ticked")
@view
async def consultation_publish(request: web.Request, c: Console) -> web.StreamResponse:
    """Each raiser and supporter is told once, ever."""
    report = await outcomes.publish_outcomes(
        c.store,
        request.app[delivery_key].ready(),
        _ids(c, "item_id"),
        actor=c.me.name,
        now=c.now,
    )
    return c.redirect(
        HOME, "consultation.flash_published", items=len(report.published), n=report.notices
    )


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@_page("GET", r"/events/{id:\d+}/meeting", "a meeting: agenda, roster, ticks, closing")
@view
async def consultation_meeting(request: web.Request, c: Console) -> web.Response:
    """The agenda form, the roster's link, the ticks form and the closing form."""
    meeting = await meetings.get_meeting(c.store, _event_id(request))
    open_items, _ = await sql.list_items(
        c.store.reader, statuses=("collected", "discussing"), limit=SHOWN, offset=0
    )
    return c.render(
        "consultation/meeting.html",
        meeting=meeting,
        on_agenda={e.item_id for e in meeting.agenda},
        candidates=open_items,
        decisions=[
            ("", c.t("consultation.console_no_decision")),
            *_words(c, "decision", [d.value for d in Decision]),
        ],
    )


@_page("POST", r"/events/{id:\d+}/meeting/agenda", "set the agenda")
@view
async def consultation_agenda(request: web.Request, c: Console) -> web.StreamResponse:
    """In the order ticked."""
    event_id = _event_id(request)
    await meetings.set_agenda(c.store, event_id, _ids(c, "item_id"), actor=c.me.name, now=c.now)
    return c.redirect(f"/console/events/{event_id}/meeting", "consultation.flash_agenda")


@_page("POST", r"/events/{id:\d+}/meeting/invite-first", "invite raisers and supporters")
@view
async def consultation_invite(request: web.Request, c: Console) -> web.StreamResponse:
    """Before the ordinary send."""
    event_id = _event_id(request)
    report = await meetings.invite_first(
        c.store, request.app[delivery_key].ready(), event_id, now=c.now
    )
    return c.redirect(
        f"/console/events/{event_id}/meeting", "consultation.flash_invited", n=report.invited
    )


@_page("GET", r"/events/{id:\d+}/roster", "the printable sign-in sheet")
@view
async def consultation_roster(request: web.Request, c: Console) -> web.Response:
    """A4, a row per invited household; names masked."""
    event_id = _event_id(request)
    rows = await meetings.roster(c.store, event_id)
    agenda = await meeting_sql.agenda(c.store.reader, event_id)
    event = await c.store.reader.fetchone("SELECT title FROM events WHERE id = ?", (event_id,))
    return c.render(
        "consultation/roster.html",
        rows=rows,
        agenda=agenda,
        title="" if event is None else event["title"],
        event_id=event_id,
    )


@_page("POST", r"/events/{id:\d+}/meeting/ticks", "enter the paper roster's ticks")
@view
async def consultation_ticks(request: web.Request, c: Console) -> web.StreamResponse:
    """Codes or units, one a line; entering them again counts nobody twice."""
    event_id = _event_id(request)
    entries = [e.strip() for e in _LINES.split(form_text(c.form, "entries")) if e.strip()]
    if not entries:
        raise ValidationError.field("entries", "type a door code or a unit")
    report = await meetings.enter_ticks(c.store, event_id, entries, actor=c.me.name, now=c.now)
    response = c.redirect(
        f"/console/events/{event_id}/meeting",
        "consultation.flash_ticks",
        n=report.checked_in,
        already=report.already,
    )
    if report.unknown:
        response = c.redirect(
            f"/console/events/{event_id}/meeting",
            "consultation.flash_ticks_unknown",
            entries=", ".join(report.unknown),
        )
    return response


@_page("POST", r"/events/{id:\d+}/meeting/close", "close the meeting")
@view
async def consultation_close(request: web.Request, c: Console) -> web.StreamResponse:
    """A decision per agenda item (decision_<item id>, outcome_<item id>) and minutes."""
    event_id = _event_id(request)
    agenda = await meeting_sql.agenda(c.store.reader, event_id)
    decided = [
        meetings.ItemDecision(
            e.item_id,
            form_text(c.form, f"decision_{e.item_id}"),
            form_text(c.form, f"outcome_{e.item_id}"),
        )
        for e in agenda
        if form_text(c.form, f"decision_{e.item_id}")
    ]
    await meetings.close_meeting(
        c.store,
        event_id,
        minutes=form_text(c.form, "minutes"),
        decisions=decided,
        actor=c.me.name,
        now=c.now,
    )
    return c.redirect(f"/console/events/{event_id}/meeting", "consultation.flash_closed")

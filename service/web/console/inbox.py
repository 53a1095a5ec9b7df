"""The organiser's mail inbox: mail to the reply address no rule could apply (a plain
reply, a TENTATIVE, a refused calendar reply), each with the answer it seems to give and
one button to apply it (or another answer), or to set it aside. The same steps as
/api/v1/mail-inbox (service/domain/mail_inbox.py)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from ...core.errors import ServiceError
from ...core.models import RsvpState
from ...domain import mail_inbox
from ...keys import delivery_key
from ..jsonio import path_id, read_int
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
_page = page_route(routes, "Inbox")
# Refusals said in the organiser's words; any other falls back to `inbox.not_applied`.
_REFUSALS: Final = frozenset(
    {
        "not_enough_seats",
        "party_size_out_of_range",
        "event_closed",
        "inbox_item_handled",
        "inbox_item_unmatched",
        "invitation_not_found",
    }
)
_ANSWERS: Final = ("yes", "no", "maybe")
# Why a calendar reply was not applied, said in words (inbox.reason_<code>).
_REASONS: Final = frozenset(
    {"not_enough_seats", "event_closed", "answers_closed", "invitation_not_found"}
)


def _refused(c: Console, exc: ServiceError) -> web.HTTPSeeOther:
    """Back to the inbox, saying in words why nothing was recorded."""
    key = exc.code if exc.code in _REFUSALS else "not_applied"
    return c.redirect("/console/inbox", f"inbox.refused_{key}")


def _item_id(request: web.Request) -> int:
    return path_id(request, "inbox_item_not_found", "inbox item")


@_page("GET", "/inbox", "mail to the reply address waiting for an organiser")
@view
async def inbox_page(request: web.Request, c: Console) -> web.StreamResponse:
    """Open items, newest first."""
    items = await mail_inbox.inbox(c.store)
    return c.render("inbox.html", items=items, answers=_ANSWERS, reasons=_REASONS)


@_page("POST", r"/inbox/{id:\d+}/apply", "apply a mail's answer for its resident")
@view
async def inbox_apply(request: web.Request, c: Console) -> web.StreamResponse:
    """One click: the answer of the button pressed, with the party size in the form."""
    chosen = form_text(c.form, "answer")
    answer = RsvpState(chosen) if chosen in _ANSWERS else None
    try:
        await mail_inbox.apply_item(
            c.store,
            _item_id(request),
            actor=f"organiser:{c.me.name}",
            followups=request.app[delivery_key].followups(),
            now=c.now,
            answer=answer,
            party_size=read_int(form_text(c.form, "party_size")),
        )
    except ServiceError as exc:
        return _refused(c, exc)
    return c.redirect("/console/inbox", "inbox.applied")


@_page("POST", r"/inbox/{id:\d+}/dismiss", "set a mail aside without answering")
@view
async def inbox_dismiss(request: web.Request, c: Console) -> web.StreamResponse:
    """Handled, nothing answered."""
    try:
        await mail_inbox.dismiss_item(
            c.store, _item_id(request), actor=f"organiser:{c.me.name}", now=c.now
        )
    except ServiceError as exc:
        return _refused(c, exc)
    return c.redirect("/console/inbox", "inbox.dismissed")

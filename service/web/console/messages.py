"""The organiser's message log: every message filtered by event, channel and status, a
message's attempts and errors, and the retry button (the API's own retry)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from aiohttp import web
from pydantic import Field

from ...core.errors import ValidationError
from ...core.models import Channel, GroupChannel, Message, MessageStatus, Page
from ...delivery import delivery_log
from ...domain import events
from ..jsonio import Id, Query, path_id
from .base import Console, console_routes, page_route, view

routes = console_routes()
PAGE_SIZE: Final = 50
# Events offered in the filter, newest first; older ones are reached from their own page.
EVENT_CHOICES: Final = 200
# Messages an organiser can send again (as the API's retry allows).
RETRYABLE: Final = frozenset({MessageStatus.FAILED, MessageStatus.EXPIRED})


class LogQuery(Query):
    """The log's filters and page, from the GET form."""

    event_id: Id | None = None
    channel: Channel | GroupChannel | None = None
    status: MessageStatus | None = None
    offset: int = Field(0, ge=0, le=10_000_000)


_page = page_route(routes, "Messages")


def _message_id(request: web.Request) -> int:
    return path_id(request, "message_not_found", "message")


@_page("GET", "/messages", "the message log (?event_id=&channel=&status=&offset=)")
@view
async def message_log(request: web.Request, c: Console) -> web.StreamResponse:
    """Newest first, a page at a time; blank filters mean any."""
    raw = {k: v for k, v in request.query.items() if v and k in LogQuery.model_fields}
    errors: dict[str, str] = {}
    try:
        query = c.parse(LogQuery, raw)
    except ValidationError as exc:
        # The page again, with what is wrong beside its filter (not a bare error page).
        errors, query = c.errors(exc), LogQuery()
        page: Page[Message] = Page(items=(), total=0, limit=PAGE_SIZE, offset=0)
    else:
        page = await delivery_log.message_log(
            c.store,
            event_id=query.event_id,
            status=None if query.status is None else str(query.status),
            channel=None if query.channel is None else str(query.channel),
            limit=PAGE_SIZE,
            offset=query.offset,
            lang=c.lang,
        )
    choices = await events.list_events(
        c.store, status=[], starts_from=None, starts_before=None, limit=EVENT_CHOICES, offset=0
    )
    filters = {k: v for k, v in raw.items() if k in ("event_id", "channel", "status")}

    def link(offset: int) -> str:
        return "/console/messages?" + urlencode({**filters, "offset": offset})

    return c.render(
        "messages/list.html",
        400 if errors else 200,
        errors=errors,
        page=page,
        filters=filters,
        events=[(str(e.id), e.title) for e in choices.items],
        titles={e.id: e.title for e in choices.items},
        channels=[*(ch.value for ch in Channel), *(ch.value for ch in GroupChannel)],
        statuses=[s.value for s in MessageStatus],
        prev=link(max(0, query.offset - PAGE_SIZE)) if query.offset else None,
        next=link(query.offset + PAGE_SIZE) if query.offset + PAGE_SIZE < page.total else None,
        retryable=RETRYABLE,
    )


@_page("GET", r"/messages/{id:\d+}", "one message, its attempts and errors")
@view
async def message_detail(request: web.Request, c: Console) -> web.StreamResponse:
    """What was sent, to whom, and every attempt; a retry button when it failed."""
    message = await delivery_log.get_message(c.store, _message_id(request), c.lang)
    event = None
    if message.event_id is not None:
        event = await events.get_event(c.store, message.event_id)
    return c.render("messages/detail.html", message=message, event=event, retryable=RETRYABLE)


@_page("POST", r"/messages/{id:\d+}/retry", "queue a failed or expired message again")
@view
async def message_retry(request: web.Request, c: Console) -> web.StreamResponse:
    """The same step as POST /api/v1/messages/{id}/retry."""
    message = await delivery_log.retry_message(c.store, _message_id(request), now=c.now)
    return c.redirect(f"/console/messages/{message.id}", "messages.retried")

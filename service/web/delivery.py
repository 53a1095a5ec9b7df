"""/api/v1 routes for sending: invitations, updates, previews, template overrides, and
the delivery log."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from ..core.errors import NotFoundError, ValidationError
from ..core.models import Channel, Message, MessageKind, MessageStatus, SendReport, TemplateOverride
from ..delivery import delivery_log
from ..delivery.delivery_log import Deliveries
from ..domain import sending
from ..domain.sending import Preview
from ..keys import clock_key, delivery_key, sandbox_key, settings_key, store_key
from ..messages import overrides
from ..messages.catalog import KINDS, LANGUAGES
from .jsonio import NO_NUL, Body, Id, Query, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "delivery"


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


_GROUPS_HELP = "Also post to the audience's group chats (WeCom, DingTalk, Feishu groups)"
_PERSONAL_HELP = "false: post to the groups only, with no personal messages"


class SendQuery(Query):
    """Where an event's invitations go besides the residents' own channels."""

    groups: bool = Field(False, description=_GROUPS_HELP)
    personal: bool = Field(True, description=_PERSONAL_HELP)


@routes.route(
    "POST",
    r"/events/{id:\d+}/send",
    summary="Invite the event's audience",
    tag=TAG,
    roles=STAFF,
    query=SendQuery,
    response=SendReport,
    errors=(404, 409),
)
async def send_event(request: web.Request, query: SendQuery) -> web.Response:
    """One invitation and one queued message per resident not invited before, on their first
    usable channel; sending again invites only residents added since. With groups=true each
    group of the audience gets one post (once per event)."""
    delivery = request.app[delivery_key]
    report = await sending.send_event(
        request.app[store_key],
        delivery.ready(),
        _event_id(request),
        now=request.app[clock_key](),
        batch=delivery.settings.delivery.enqueue_batch,
        groups=query.groups,
        personal=query.personal,
    )
    return reply(request, report)


class NotifyIn(Body):
    """An update, reminder or cancellation for the people invited."""

    kind: Literal["update", "reminder", "cancellation"]
    audience: Literal["invited", "yes", "attending"] = Field(
        "invited",
        description="invited: everyone invited; yes: those who said yes; attending: yes, "
        "maybe and waitlisted",
    )
    note: str = Field(
        "",
        max_length=1000,
        pattern=NO_NUL,
        description="The organiser's words, in the message (no NUL characters)",
    )
    urgent: bool = Field(False, description="Send even in quiet hours (a same-day change)")
    groups: bool = Field(False, description=_GROUPS_HELP)
    personal: bool = Field(True, description=_PERSONAL_HELP)


@routes.route(
    "POST",
    r"/events/{id:\d+}/notify",
    summary="Send an update, reminder or cancellation to the invited",
    tag=TAG,
    roles=STAFF,
    body=NotifyIn,
    response=SendReport,
    errors=(404, 409),
)
async def notify_event(request: web.Request, body: NotifyIn) -> web.Response:
    """A cancellation needs the event cancelled first (409 event_not_cancelled)."""
    delivery = request.app[delivery_key]
    note = body.note
    if "\x00" in note:
        raise ValidationError.field("note", "must not contain NUL characters")
    report = await sending.notify_event(
        request.app[store_key],
        delivery.ready(),
        _event_id(request),
        kind=MessageKind(body.kind),
        audience=body.audience,
        note=note,
        urgent=body.urgent,
        now=request.app[clock_key](),
        batch=delivery.settings.delivery.enqueue_batch,
        groups=body.groups,
        personal=body.personal,
    )
    return reply(request, report)


class PreviewQuery(Query):
    """Which message to render, for whom."""

    resident_id: Id
    kind: Literal[
        "invitation",
        "reminder",
        "update",
        "cancellation",
        "rsvp_confirmation",
        "waitlist_offer",
        "booking_confirmation",
    ] = "invitation"
    channel: Channel = Channel.SMS
    # The note travels in the URL: 500 characters fit an 8 KB request line (aiohttp's
    # limit) even when each is four bytes of UTF-8, percent-encoded to twelve.
    note: str = Field("", max_length=500, pattern=NO_NUL)
    urgent: bool = False


@routes.route(
    "GET",
    r"/events/{id:\d+}/preview",
    summary="Render a message for one resident without sending it",
    tag=TAG,
    roles=STAFF,
    query=PreviewQuery,
    response=Preview,
    errors=(404,),
)
async def preview(request: web.Request, query: PreviewQuery) -> web.Response:
    """SMS previews report their encoding, length and segment count."""
    return reply(
        request,
        await sending.preview(
            request.app[store_key],
            request.app[delivery_key].ready(),
            _event_id(request),
            query.resident_id,
            kind=MessageKind(query.kind),
            channel=query.channel,
            note=query.note,
            urgent=query.urgent,
        ),
    )


class DeliveryQuery(PageQuery):
    """Filter an event's messages."""

    status: MessageStatus | None = None
    channel: Channel | None = None
    lang: Literal["zh-CN", "en"] | None = Field(
        None,
        description="The language of each error's plain sentence (last_error_text, "
        "error_text); default the community's. last_error and error keep the technical reason.",
    )


@routes.route(
    "GET",
    r"/events/{id:\d+}/deliveries",
    summary="Counts by status and channel, and a page of messages with their attempts",
    tag=TAG,
    roles=STAFF,
    query=DeliveryQuery,
    response=Deliveries,
    errors=(404,),
)
async def deliveries(request: web.Request, query: DeliveryQuery) -> web.Response:
    """Newest messages first."""
    return reply(
        request,
        await delivery_log.deliveries(
            request.app[store_key],
            _event_id(request),
            status=None if query.status is None else str(query.status),
            channel=query.channel,
            limit=query.limit,
            offset=query.offset,
            lang=query.lang or request.app[settings_key].community.default_language,
        ),
    )


@routes.route(
    "POST",
    r"/messages/{id:\d+}/retry",
    summary="Queue a failed or expired message again",
    tag=TAG,
    roles=STAFF,
    response=Message,
    errors=(404, 409),
)
async def retry(request: web.Request) -> web.Response:
    """Only failed or expired messages can be retried (409 message_not_retryable)."""
    message = await delivery_log.retry_message(
        request.app[store_key],
        path_id(request, "message_not_found", "message"),
        now=request.app[clock_key](),
    )
    return reply(request, message)


class TemplateIn(Body):
    """An organiser's template for one event (same blocks as templates/messages/)."""

    source: str = Field(min_length=1, max_length=65_536)


def _template_path(request: web.Request) -> tuple[str, str, str]:
    kind = request.match_info["kind"]
    channel = request.match_info["channel"]
    language = request.match_info["language"]
    if kind not in KINDS:
        raise NotFoundError(f"no message kind {kind!r}", code="template_not_found")
    if channel not in sending.CHANNELS:
        raise NotFoundError(f"no channel {channel!r}", code="template_not_found")
    if language not in LANGUAGES:
        raise NotFoundError(f"no language {language!r}", code="template_not_found")
    return kind, channel, language


_TEMPLATE = r"/events/{id:\d+}/templates/{kind}/{channel}/{language}"


@routes.route(
    "PUT",
    _TEMPLATE,
    summary="Override one message template for this event",
    tag=TAG,
    roles=STAFF,
    body=TemplateIn,
    response=TemplateOverride,
    errors=(404,),
)
async def put_template(request: web.Request, body: TemplateIn) -> web.Response:
    """Checked before it is saved: a syntax error is a 400 with its line number; so is a
    template that takes over 1 s or makes over 64 KB with sample data."""
    kind, channel, language = _template_path(request)
    saved = await overrides.save_template(
        request.app[store_key],
        request.app[sandbox_key],
        _event_id(request),
        kind,
        channel,
        language,
        body.source,
        now=request.app[clock_key](),
    )
    return reply(request, saved)


@routes.route(
    "DELETE",
    _TEMPLATE,
    summary="Go back to the default template",
    tag=TAG,
    roles=STAFF,
    status=204,
    errors=(404,),
)
async def delete_template(request: web.Request) -> web.Response:
    """404 template_not_found when the event had no such override."""
    kind, channel, language = _template_path(request)
    await overrides.delete_template(
        request.app[store_key], _event_id(request), kind, channel, language
    )
    return web.Response(status=204)


@routes.route(
    "GET",
    r"/events/{id:\d+}/templates",
    summary="The event's template overrides",
    tag=TAG,
    roles=STAFF,
    response=ListOf(TemplateOverride),
    errors=(404,),
)
async def list_templates(request: web.Request) -> web.Response:
    """Every override, by kind, channel and language."""
    return reply(
        request, await overrides.list_templates(request.app[store_key], _event_id(request))
    )

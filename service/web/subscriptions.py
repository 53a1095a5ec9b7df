"""/api/v1/subscriptions: integrators' webhook endpoints and the event types they get."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from ..core.errors import ConflictError
from ..core.models import IntegrationEvent, Subscription
from ..core.ssrf import IPNetwork, parse_networks
from ..domain import subscriptions
from ..domain.subscriptions import DESCRIPTION_MAX, SubscriptionChanges, SubscriptionInput
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import Body, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "subscriptions"
_TYPES_HELP = "Any of rsvp.changed, waitlist.promoted, event.updated"
_SECRET_HELP = "whsec_ and base64 of 24-64 random bytes"


class SubscriptionIn(Body):
    """A new subscription."""

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL to POST to")
    event_types: list[IntegrationEvent] = Field(
        min_length=1, max_length=len(IntegrationEvent), description=_TYPES_HELP
    )
    description: str = Field("", max_length=DESCRIPTION_MAX)
    signing_secret: str | None = Field(
        None, max_length=200, description=f"{_SECRET_HELP}; null: one is generated"
    )


class SubscriptionPatch(Patch):
    """Fields of a subscription to change."""

    event_types: list[IntegrationEvent] | None = Field(
        None, min_length=1, max_length=len(IntegrationEvent), description=_TYPES_HELP
    )
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    signing_secret: str | None = Field(
        None, max_length=200, description=f"A new secret: {_SECRET_HELP}"
    )
    rotate_secret: bool = Field(False, description="Generate a new secret (shown once)")
    enabled: bool | None = Field(None, description="false turns it off; true turns it on again")


def _subscription_id(request: web.Request) -> int:
    return path_id(request, "subscription_not_found", "subscription")


def _allowed(request: web.Request) -> tuple[IPNetwork, ...]:
    """The private networks webhooks may reach (the channel checked them when built)."""
    try:
        return parse_networks(request.app[settings_key].channels.webhook.allow_private)
    except ValueError:
        # Only possible while the webhook channel is off; then nothing private is allowed.
        return ()


@routes.route(
    "POST",
    "/subscriptions",
    summary="Subscribe a webhook endpoint to events",
    tag=TAG,
    roles=STAFF,
    body=SubscriptionIn,
    response=Subscription,
    status=201,
    errors=(409,),
)
async def create_subscription(request: web.Request, body: SubscriptionIn) -> web.Response:
    """The answer holds the signing secret, shown this once. A private, loopback or
    link-local destination is 400 url_not_allowed unless channels.webhook.allow_private
    lists it; with no webhook channel configured, 409 webhook_channel_off."""
    if "webhook" not in request.app[delivery_key].routes:
        raise ConflictError(
            "no webhook channel is configured (channels.webhook)", code="webhook_channel_off"
        )
    data = SubscriptionInput(
        url=body.url,
        event_types=[str(t) for t in body.event_types],
        description=body.description,
        signing_secret=body.signing_secret,
    )
    created = await subscriptions.create_subscription(
        request.app[store_key], data, allow=_allowed(request), now=request.app[clock_key]()
    )
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/subscriptions",
    summary="List subscriptions (never their secrets)",
    tag=TAG,
    roles=STAFF,
    query=PageQuery,
    response=ListOf(Subscription),
)
async def list_subscriptions(request: web.Request, query: PageQuery) -> web.Response:
    """Oldest first, disabled ones included."""
    page = await subscriptions.list_subscriptions(
        request.app[store_key], limit=query.limit, offset=query.offset
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/subscriptions/{id:\d+}",
    summary="Get a subscription (never its secret)",
    tag=TAG,
    roles=STAFF,
    response=Subscription,
)
async def get_subscription(request: web.Request) -> web.Response:
    """Its URL, types, and whether (and why) it is disabled."""
    found = await subscriptions.get_subscription(request.app[store_key], _subscription_id(request))
    return reply(request, found)


@routes.route(
    "PATCH",
    r"/subscriptions/{id:\d+}",
    summary="Change a subscription's types, description or secret, or turn it off or on",
    tag=TAG,
    roles=STAFF,
    body=SubscriptionPatch,
    response=Subscription,
)
async def update_subscription(request: web.Request, body: SubscriptionPatch) -> web.Response:
    """A new secret (rotate_secret, or signing_secret) is in this answer only and signs
    every message sent from now on, queued ones included."""
    changes = SubscriptionChanges(
        event_types=None if body.event_types is None else [str(t) for t in body.event_types],
        description=body.description,
        signing_secret=body.signing_secret,
        rotate_secret=body.rotate_secret,
        enabled=body.enabled,
    )
    updated = await subscriptions.update_subscription(
        request.app[store_key], _subscription_id(request), changes, now=request.app[clock_key]()
    )
    return reply(request, updated)


@routes.route(
    "DELETE",
    r"/subscriptions/{id:\d+}",
    summary="Delete a subscription",
    tag=TAG,
    roles=STAFF,
    status=204,
)
async def delete_subscription(request: web.Request) -> web.Response:
    """Its messages go too, those still queued included."""
    await subscriptions.delete_subscription(request.app[store_key], _subscription_id(request))
    return web.Response(status=204)

"""The application factory: settings in, a wired aiohttp application out (no I/O here)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .core.clock import Clock, system_clock
from .core.mail_settings import MailIn
from .core.metrics import Metrics
from .dispatch import Delivery
from .domain import housekeeping
from .domain.auth import TokenCache
from .domain.console_auth import SignInThrottle
from .keys import (
    clock_key,
    delivery_key,
    mail_in_key,
    metrics_key,
    openapi_key,
    sandbox_key,
    settings_key,
    sign_in_throttle_key,
    store_key,
    token_cache_key,
)
from .mailin import running as mail_in
from .messages.sandbox import TemplateSandbox
from .settings import Settings
from .store import Store
from .web import (
    booking_page,
    bookings,
    chat_groups,
    checkin,
    consultation,
    counter,
    delivery,
    events,
    group_page,
    home,
    hooks,
    households,
    mail_inbox,
    meetings,
    needs_page,
    ops,
    passbook,
    passbook_page,
    points_store,
    public,
    reconfirm,
    residents,
    rooms,
    rsvp,
    rsvp_page,
    subscriptions,
    tablet,
    telegram,
    tokens,
)
from .web.console import base as console_base
from .web.console import consultation as console_consultation
from .web.console import dashboard as console_dashboard
from .web.console import events as console_events
from .web.console import groups as console_groups
from .web.console import inbox as console_inbox
from .web.console import live as console_live
from .web.console import messages as console_messages
from .web.console import passbook as console_passbook
from .web.console import residents as console_residents
from .web.console import rooms as console_rooms
from .web.console import settings_view as console_settings
from .web.console import sign_in as console_sign_in
from .web.middlewares import body_limit, errors, observe
from .web.openapi import build_document
from .web.proxy import forwarded, secure_cookies
from .web.routing import Api

log = logging.getLogger("linli")

# Every route table the app serves; the OpenAPI document is built from the same list.
ROUTE_TABLES: tuple[Api, ...] = (
    ops.routes,
    home.routes,
    households.routes,
    residents.routes,
    rooms.routes,
    events.routes,
    tokens.routes,
    delivery.routes,
    public.routes,
    hooks.routes,
    telegram.routes,
    rsvp.routes,
    rsvp_page.routes,
    subscriptions.routes,
    mail_inbox.routes,
    reconfirm.routes,
    chat_groups.routes,
    group_page.routes,
    bookings.routes,
    booking_page.routes,
    checkin.routes,
    tablet.routes,
    passbook.routes,
    passbook_page.routes,
    points_store.routes,
    counter.routes,
    consultation.routes,
    meetings.routes,
    needs_page.routes,
    console_sign_in.routes,
    console_dashboard.routes,
    console_events.routes,
    console_live.routes,
    console_residents.routes,
    console_rooms.routes,
    console_messages.routes,
    console_passbook.routes,
    console_inbox.routes,
    console_groups.routes,
    console_settings.routes,
    console_consultation.routes,
)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> web.Application:
    """A Linli application; its store opens when the app starts and closes when it stops."""
    app = web.Application(
        middlewares=[forwarded, observe, body_limit, errors],
        client_max_size=settings.server.max_body_bytes,
    )
    app.on_response_prepare.append(secure_cookies)
    app[settings_key] = settings
    app[clock_key] = clock
    app[metrics_key] = Metrics()
    app[token_cache_key] = TokenCache()
    app[sign_in_throttle_key] = SignInThrottle()
    app[store_key] = Store(
        settings.store.path,
        synchronous=settings.store.synchronous,
        busy_timeout_ms=settings.store.busy_timeout_ms,
        batch_max=settings.store.batch_max,
        secret_file=settings.server.secret_file,
    )
    app[delivery_key] = Delivery.build(settings)
    app[sandbox_key] = TemplateSandbox()
    for table in ROUTE_TABLES:
        table.add_to(app)
    console_base.install(app)
    operations = [op for table in ROUTE_TABLES if table.documented for op in table.operations]
    app[openapi_key] = build_document(operations, f"Linli API — {settings.community.name}")
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_housekeeping_ctx)
    app.cleanup_ctx.append(_sandbox_ctx)
    app.cleanup_ctx.append(_delivery_ctx)
    app[mail_in_key] = MailIn()
    app.cleanup_ctx.append(_mail_in_ctx)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[store_key]
    await store.open()
    app[metrics_key].schema_version.set(store.schema_version)
    log.info("store %s open at schema version %d", store.path, store.schema_version)
    yield
    await store.close()


async def _housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    async with housekeeping.running(
        app[store_key],
        app[clock_key],
        retention=app[settings_key].retention,
        passbook=app[settings_key].passbook,
        composer=app[delivery_key].ready,
        tz=app[settings_key].tz,
    ):
        yield


async def _sandbox_ctx(app: web.Application) -> AsyncIterator[None]:
    # Organisers' templates are checked and rendered in this helper process, never on the
    # event loop (service/messages/sandbox.py); stopped after the worker, which renders with it.
    async with app[sandbox_key].running():
        yield


async def _delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    run_worker = app[settings_key].delivery.run_in_server
    async with app[delivery_key].started(
        app[store_key],
        app[clock_key],
        run_worker=run_worker,
        metrics=app[metrics_key],
        sandbox=app[sandbox_key],
    ):
        yield


async def _mail_in_ctx(app: web.Application) -> AsyncIterator[None]:
    # After delivery: replies are answered through its composer (the secret, the links).
    async with mail_in.running(
        app[settings_key].mail_in,
        app[store_key],
        app[clock_key],
        app[delivery_key].ready(),
        app[mail_in_key],
    ):
        yield

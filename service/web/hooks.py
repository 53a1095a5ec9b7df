"""Inbound provider webhooks: SMS delivery reports from Twilio and android-sms-gateway.
Each is verified by the provider's own signature before anything is read from it."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from aiohttp import web

from channels.sms import (
    android_report,
    parse_android_event,
    parse_twilio_status,
    public_url,
    verify_android,
    verify_twilio,
)

from .. import notifications
from ..errors import AuthenticationError, NotFoundError, ValidationError
from ..keys import clock_key, settings_key, store_key
from .jsonio import read_body
from .routing import Api, RawBody

routes = Api()
TAG = "hooks"


def _sms_settings(request: web.Request, provider: str) -> tuple[str, str]:
    sms = request.app[settings_key].channels.sms
    if not sms.enabled or sms.provider != provider:
        raise NotFoundError(f"the {provider} SMS provider is not configured", code="not_configured")
    return sms.auth_token, sms.webhook_secret


@routes.route(
    "POST",
    "/hooks/sms/twilio",
    summary="Twilio status callbacks (X-Twilio-Signature checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "Twilio's form parameters"),
    status=204,
    errors=(401, 404),
    prefixed=False,
)
async def twilio(request: web.Request) -> web.Response:
    """Signed over the URL Twilio called (scheme from X-Forwarded-Proto behind a proxy) and
    every parameter; a report moves a message forward only."""
    auth_token, _ = _sms_settings(request, "twilio")
    raw = await read_body(request)
    try:
        params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ValidationError("body is not UTF-8 form data", code="invalid_form") from None
    url = public_url(
        request.scheme, request.host, request.raw_path, request.headers.get("X-Forwarded-Proto")
    )
    if not verify_twilio(url, params, request.headers.get("X-Twilio-Signature", ""), auth_token):
        raise AuthenticationError("X-Twilio-Signature does not match", code="bad_signature")
    report = parse_twilio_status(params)
    if report is not None:
        await notifications.record_report(
            request.app[store_key],
            "sms",
            report.provider_id,
            report.status,
            error=report.error,
            now=request.app[clock_key](),
        )
    return web.Response(status=204)


@routes.route(
    "POST",
    "/hooks/sms/android",
    summary="android-sms-gateway webhooks (X-Signature and X-Timestamp checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/json", "The gateway's event"),
    status=204,
    errors=(400, 401, 404),
    prefixed=False,
)
async def android(request: web.Request) -> web.Response:
    """sms:sent, sms:delivered and sms:failed update the message the gateway names."""
    _, secret = _sms_settings(request, "android_gateway")
    raw = await read_body(request)
    ok = verify_android(
        raw,
        request.headers.get("X-Timestamp", ""),
        request.headers.get("X-Signature", ""),
        secret,
        time.time(),
    )
    if not ok:
        raise AuthenticationError(
            "X-Signature does not match, or X-Timestamp is not within 5 minutes",
            code="bad_signature",
        )
    try:
        event = parse_android_event(raw)
    except ValueError as exc:
        raise ValidationError(f"not a gateway event: {exc}", code="invalid_event") from None
    report = android_report(event)
    if report is not None:
        await notifications.record_report(
            request.app[store_key],
            "sms",
            report.provider_id,
            report.status,
            error=report.error,
            now=request.app[clock_key](),
        )
    return web.Response(status=204)

"""Inbound provider webhooks: SMS delivery reports and residents' SMS replies from Twilio
and android-sms-gateway. Each is verified by the provider's own signature before anything
is read from it; a reply is then answered 2xx whatever it said (service/domain/sms_inbound.py),
since a provider resends anything else."""

from __future__ import annotations

import logging
import time
from typing import Final
from urllib.parse import parse_qsl

from aiohttp import web

from ..core.errors import AuthenticationError, NotFoundError, ValidationError
from ..core.inbound import DeliveryReport, InboundSms
from ..delivery import reports, sms_callbacks
from ..domain.sms_inbound import receive_sms
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import read_body
from .routing import Api, RawBody

log = logging.getLogger("linli.sms")

routes = Api()
TAG = "hooks"
# TwiML with nothing to do: our replies go out through the outbox, like every message.
EMPTY_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _sms_settings(request: web.Request, provider: str) -> tuple[str, str]:
    sms = request.app[settings_key].channels.sms
    if not sms.enabled or sms.provider != provider:
        raise NotFoundError(f"the {provider} SMS provider is not configured", code="not_configured")
    return sms.auth_token, sms.webhook_secret


async def _twilio_params(request: web.Request) -> list[tuple[str, str]]:
    """The form parameters of a request signed by Twilio; 401 when the signature (over the
    URL Twilio called, its scheme from a trusted proxy's word, and every parameter) does
    not match."""
    auth_token, _ = _sms_settings(request, "twilio")
    raw = await read_body(request)
    try:
        params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ValidationError("body is not UTF-8 form data", code="invalid_form") from None
    signed = sms_callbacks.twilio_signed(
        params,
        request.headers.get("X-Twilio-Signature", ""),
        auth_token=auth_token,
        shared_key=request.app[settings_key].channels.sms.twilio_shared_key,
        signature_settings=request.headers.get("X-Twilio-Webhooks-Signature-Settings"),
        # Set by the proxy middleware: X-Forwarded-Proto counts only from trusted_proxies.
        scheme=request.scheme,
        host=request.host,
        path_qs=request.raw_path,
    )
    if not signed:
        raise AuthenticationError("X-Twilio-Signature does not match", code="bad_signature")
    return params


async def _receive(request: web.Request, sms: InboundSms) -> None:
    """Act on a resident's text (the replies it queues wake the worker by themselves)."""
    settings, delivery = request.app[settings_key], request.app[delivery_key]
    outcome = await receive_sms(
        request.app[store_key],
        sms,
        followups=delivery.followups(),
        community=settings.community.name,
        region=settings.community.phone_region,
        now=request.app[clock_key](),
    )
    log.info("sms reply via %s: %s", sms.provider, outcome)


async def _record(request: web.Request, report: DeliveryReport) -> None:
    """Move the SMS the provider's delivery report names forward (a failure falls back to
    the resident's next channel)."""
    delivery = request.app[delivery_key]
    await reports.record_report(
        request.app[store_key],
        "sms",
        report.provider_id,
        report.status,
        error=report.error,
        now=request.app[clock_key](),
        composer=delivery.ready(),
    )


async def _twilio(request: web.Request) -> web.Response:
    """Either Twilio request, told apart by its parameters: an incoming message (a Body and
    no MessageStatus) gets empty TwiML, a status callback 204. Both URLs take both, so a
    number whose "A message comes in" URL is the status one still works."""
    params = await _twilio_params(request)
    try:
        said = sms_callbacks.read_twilio(params)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_callback") from None
    if isinstance(said, InboundSms):
        await _receive(request, said)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")
    if said is not None:
        await _record(request, said)
    return web.Response(status=204)


@routes.route(
    "POST",
    "/hooks/sms/twilio",
    summary="Twilio status callbacks (X-Twilio-Signature checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "Twilio's form parameters"),
    status=204,
    errors=(400, 401, 404),
    prefixed=False,
)
async def twilio(request: web.Request) -> web.Response:
    """Signed over the URL Twilio called (scheme from a trusted proxy's X-Forwarded-Proto) and
    every parameter; a report moves a message forward only. An incoming message sent here
    is read as at /hooks/sms/twilio/inbound."""
    return await _twilio(request)


@routes.route(
    "POST",
    "/hooks/sms/twilio/inbound",
    summary="Twilio incoming messages: residents' SMS replies (X-Twilio-Signature checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/x-www-form-urlencoded", "Twilio's form parameters"),
    response=str,
    status=200,
    errors=(400, 401, 404),
    response_media="text/xml",
    prefixed=False,
)
async def twilio_inbound(request: web.Request) -> web.Response:
    """The URL for "A message comes in" on the Twilio number, its own so the two kinds of
    request are easy to tell apart in logs: the reply is read as an answer, STOP, START or
    HELP (service/domain/sms_replies.py), each MessageSid once, and answered with empty TwiML (what
    we say back goes out through the outbox). Signed like status callbacks."""
    return await _twilio(request)


@routes.route(
    "POST",
    "/hooks/sms/android",
    summary="android-sms-gateway webhooks and replies (X-Signature, X-Timestamp checked)",
    tag=TAG,
    roles=None,
    body=RawBody("application/json", "The gateway's event"),
    status=204,
    errors=(400, 401, 404),
    prefixed=False,
)
async def android(request: web.Request) -> web.Response:
    """sms:sent, sms:delivered and sms:failed update the message the gateway names;
    sms:received is a resident's reply, applied once per event id."""
    _, secret = _sms_settings(request, "android_gateway")
    raw = await read_body(request)
    ok = sms_callbacks.android_signed(
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
        sms, report = sms_callbacks.read_android(raw)
    except ValueError as exc:
        raise ValidationError(f"not a gateway event: {exc}", code="invalid_event") from None
    if sms is not None:
        await _receive(request, sms)
    if report is not None:
        await _record(request, report)
    return web.Response(status=204)

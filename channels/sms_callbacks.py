"""SMS providers' callbacks: pure functions that verify and parse their requests (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from service.core import jsontext
from service.core.secret import same_text

from .base import AndroidEvent, DeliveryReport, InboundSms
from .http import one_line

Params = Mapping[str, str] | Sequence[tuple[str, str]]


def _pairs(params: Params) -> Iterable[tuple[str, str]]:
    return params.items() if isinstance(params, Mapping) else params


# Twilio's signature algorithms by the name X-Twilio-Webhooks-Signature-Settings gives.
TWILIO_ALGORITHMS: Final = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def twilio_signature(url: str, params: Params, key: str, algorithm: str = "HMAC_SHA1") -> str:
    """X-Twilio-Signature for a request: base64 HMAC (SHA-1 keyed with the auth token by
    default; SHA-256 with a Webhooks Rule's shared key) over the URL followed by each
    parameter's name and value, sorted by name (repeated pairs once, as Twilio's SDKs do)."""
    signed = url + "".join(name + value for name, value in sorted(set(_pairs(params))))
    digest = hmac.new(key.encode(), signed.encode(), TWILIO_ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def twilio_algorithm(settings_header: str | None) -> str | None:
    """The algorithm X-Twilio-Webhooks-Signature-Settings ("key=…,algorithm=HMAC_SHA256")
    names, HMAC_SHA1 without the header; None for one Twilio's SDKs do not know."""
    if settings_header is None:
        return "HMAC_SHA1"
    fields = dict(part.strip().partition("=")[::2] for part in settings_header.split(","))
    algorithm = fields.get("algorithm", "").strip().upper()
    return algorithm if algorithm in TWILIO_ALGORITHMS else None


def _url_forms(url: str) -> list[str]:
    # The forms Twilio's own validators check (twilio-python's RequestValidator.validate,
    # twilio-node's validateRequest), its signing being inconsistent about the port: the
    # URL with its port (the scheme's default added when it names none) and the URL with
    # no port at all, so https://host:8443/… also passes when signed as https://host/….
    # Never the other scheme, and never a port other than the one requested.
    parts = urlsplit(url)
    start = url.find("://") + 3
    try:
        port = parts.port
    except ValueError:
        return [url]
    if start < 3 or url[start : start + len(parts.netloc)] != parts.netloc:
        return [url]
    head, rest = url[:start], url[start + len(parts.netloc) :]
    if port is None:
        default = 443 if parts.scheme == "https" else 80
        return [f"{head}{parts.netloc}:{default}{rest}", url]
    return [url, f"{head}{parts.netloc.rsplit(':', 1)[0]}{rest}"]


def verify_twilio(
    url: str, params: Params, signature_header: str, key: str, algorithm: str = "HMAC_SHA1"
) -> bool:
    """True if X-Twilio-Signature matches `url` (the public URL Twilio requested, query
    included, in any form Twilio's own validator accepts) and every POST parameter
    received, under `key` and `algorithm`; constant-time comparison."""
    if not key or not signature_header or algorithm not in TWILIO_ALGORITHMS:
        return False
    given = signature_header.strip().encode("utf-8", "surrogatepass")
    matched = False
    for candidate in _url_forms(url):
        expected = twilio_signature(candidate, params, key, algorithm).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


def public_url(scheme: str, host: str, path_qs: str) -> str:
    """The URL a provider requested. Pass aiohttp's `request.scheme` (which the proxy
    middleware has set from a trusted proxy's forwarding headers, never from anyone
    else's), `request.host` and `request.raw_path`."""
    return f"{scheme}://{host}{path_qs}"


_TWILIO_STATUS: Final = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


def parse_twilio_status(params: Params) -> DeliveryReport | None:
    """A report from a Twilio status callback, or None for a status that changes nothing
    (queued, sending, accepted, and any Twilio adds); ValueError without MessageSid or
    MessageStatus. A failure's error is Twilio's ErrorCode (else the status)."""
    values = dict(_pairs(params))
    sid = values.get("MessageSid") or values.get("SmsSid")
    status = values.get("MessageStatus") or values.get("SmsStatus")
    if not sid or not status:
        raise ValueError("not a Twilio status callback: MessageSid or MessageStatus missing")
    mapped = _TWILIO_STATUS.get(status.lower())
    if mapped is None:
        return None
    # one_line: the error is kept on the message, and a callback may carry any length.
    error = one_line(values.get("ErrorCode") or status) if mapped == "failed" else None
    return DeliveryReport(provider_id=sid, status=mapped, error=error)


def verify_android(
    body: bytes,
    timestamp_header: str,
    signature_header: str,
    secret: str,
    now: float,
    tolerance_s: int = 300,
) -> bool:
    """True if X-Signature is the hex HMAC-SHA256 of the raw body followed by X-Timestamp
    and that timestamp is within `tolerance_s` of `now`; constant-time comparison."""
    if not secret or not signature_header:
        return False
    stamp = timestamp_header.strip()
    # A length cap first: int() refuses over 4,300 digits, and no clock needs 16.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 15):
        return False
    if abs(now - int(stamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return same_text(signature_header.strip().lower(), expected)


def _field(payload: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise ValueError(f"payload.{name}: missing")
        return None
    if not isinstance(value, str):
        raise ValueError(f"payload.{name}: not a string")
    return value


def _timestamp(value: Any) -> datetime | None:
    # A reply is worth more than its timestamp: an odd one is dropped, not refused.
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_android_event(body: bytes) -> AndroidEvent:
    """The event in a webhook body; ValueError if it is not JSON of the gateway's shape."""
    try:
        data = jsontext.loads(body)
    except jsontext.JsonTextError as exc:
        raise ValueError(f"the body {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    event, event_id = data.get("event"), data.get("id")
    if not isinstance(event, str) or not event:
        raise ValueError("event: missing")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("id: missing")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise ValueError("payload: not an object")
    sms = event.startswith("sms:")
    device_id = data.get("deviceId")
    return AndroidEvent(
        event=event,
        event_id=event_id,
        message_id=_field(payload, "messageId", required=sms),
        phone_number=_field(payload, "phoneNumber", required=sms),
        text=_field(payload, "message", required=event == "sms:received"),
        received_at=_timestamp(payload.get("receivedAt")),
        reason=_field(payload, "reason", required=False),
        device_id=device_id if isinstance(device_id, str) else None,
    )


_ANDROID_STATUS: Final = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def android_report(event: AndroidEvent) -> DeliveryReport | None:
    """The delivery report in a gateway event, or None for events that are not one."""
    status = _ANDROID_STATUS.get(event.event)
    if status is None or event.message_id is None:
        return None
    error = one_line(event.reason or "failed") if status == "failed" else None
    return DeliveryReport(provider_id=event.message_id, status=status, error=error)


# --- Inbound messages: what a resident texted us, from either provider. ---

# Twilio's default keywords, read when they are the whole message in any case: Twilio
# answers them itself and blocks (or unblocks) the sender at its end, then still calls us.
TWILIO_OPT_OUT: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
TWILIO_OPT_IN: Final = frozenset({"START", "YES", "UNSTOP"})


def is_twilio_inbound(params: Params) -> bool:
    """True for Twilio's incoming-message webhook (a Body and no MessageStatus), as opposed
    to a status callback; its SmsStatus is "received"."""
    values = dict(_pairs(params))
    return "Body" in values and "MessageStatus" not in values


def parse_twilio_inbound(params: Params) -> InboundSms:
    """The message in Twilio's incoming-message webhook; ValueError without MessageSid or
    From. Twilio has answered it itself when it is one of its keywords alone, or when
    Advanced Opt-Out says so (OptOutType STOP or START)."""
    values = dict(_pairs(params))
    sid = values.get("MessageSid") or values.get("SmsSid")
    sender = values.get("From")
    if not sid or not sender:
        raise ValueError("not a Twilio incoming message: MessageSid or From missing")
    body = values.get("Body", "")
    keyword = body.strip().upper()
    advanced = values.get("OptOutType", "").upper() in ("STOP", "START")
    replied = advanced or keyword in TWILIO_OPT_OUT or keyword in TWILIO_OPT_IN
    return InboundSms("twilio", sid, sender, body, provider_replied=replied)


def android_inbound(event: AndroidEvent) -> InboundSms | None:
    """The message in an sms:received event, keyed by the event id (payload.messageId is
    derived from the content, so two equal texts share it); None for other events."""
    if event.event != "sms:received" or event.phone_number is None or event.text is None:
        return None
    return InboundSms("android", event.event_id, event.phone_number, event.text)

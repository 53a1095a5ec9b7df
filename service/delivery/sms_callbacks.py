"""SMS providers' callbacks as the delivery layer reads them: is a request really from the
provider, and is it a delivery report or a resident's text. The web views call these, not
the SMS channel's parsers, so only delivery and the wiring import channels/.
(Belongs in service/delivery/.)"""

from __future__ import annotations

from collections.abc import Sequence

from channels.sms_callbacks import (
    android_inbound,
    android_report,
    is_twilio_inbound,
    parse_android_event,
    parse_twilio_inbound,
    parse_twilio_status,
    public_url,
    verify_android,
    verify_twilio,
)

from ..core.inbound import DeliveryReport, InboundSms

Params = Sequence[tuple[str, str]]


def twilio_signed(
    params: Params,
    signature: str,
    auth_token: str,
    *,
    scheme: str,
    host: str,
    path_qs: str,
    forwarded_proto: str | None,
) -> bool:
    """True if X-Twilio-Signature matches the URL Twilio called (scheme from
    X-Forwarded-Proto behind a proxy) and every parameter."""
    url = public_url(scheme, host, path_qs, forwarded_proto)
    return verify_twilio(url, params, signature, auth_token)


def read_twilio(params: Params) -> InboundSms | DeliveryReport | None:
    """A resident's text (a Body and no MessageStatus), a delivery report, or None for a
    status that reports nothing; ValueError names what is missing."""
    if is_twilio_inbound(params):
        return parse_twilio_inbound(params)
    return parse_twilio_status(params)


def android_signed(body: bytes, timestamp: str, signature: str, secret: str, now: float) -> bool:
    """True if X-Signature matches the body and X-Timestamp, and that is within 5 minutes."""
    return verify_android(body, timestamp, signature, secret, now)


def read_android(body: bytes) -> tuple[InboundSms | None, DeliveryReport | None]:
    """The resident's text and the delivery report in a gateway event (either may be None);
    ValueError if the body is not a gateway event."""
    event = parse_android_event(body)
    return android_inbound(event), android_report(event)

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
    twilio_algorithm,
    verify_android,
    verify_twilio,
)

from ..core.inbound import DeliveryReport, InboundSms

Params = Sequence[tuple[str, str]]


def twilio_signed(
    params: Params,
    signature: str,
    *,
    auth_token: str,
    shared_key: str,
    signature_settings: str | None,
    scheme: str,
    host: str,
    path_qs: str,
) -> bool:
    """True if X-Twilio-Signature matches the URL Twilio called (`scheme` as the proxy
    middleware worked it out) and every parameter: HMAC-SHA1 with the auth token, or,
    when X-Twilio-Webhooks-Signature-Settings names an algorithm (a Webhooks Rule
    matched), that algorithm with the rule's shared key (channels.sms.twilio_shared_key;
    unset, such a request is refused)."""
    algorithm = twilio_algorithm(signature_settings)
    key = auth_token if signature_settings is None else shared_key
    if algorithm is None:
        return False
    return verify_twilio(public_url(scheme, host, path_qs), params, signature, key, algorithm)


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
